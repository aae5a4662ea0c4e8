"""``ami-tracker events --db URL (--call LINKEDID | --channel UNIQUEID | --from T --until T)
[--name EVENT] [--format ami|jsonl]``: the stored frames of a call, a channel or a period.

A frame belongs to a call when one of its ``...Linkedid`` headers (``Linkedid``,
``DestLinkedid``, ``ParkeeLinkedid``...) names the call, or one of its ``...Uniqueid`` headers
names one of the call's legs: Asterisk sends some frames of a call with the Uniqueid alone
(``Cdr``, an ``OriginateResponse``), some after the call's last Hangup (``Cdr``, ``CEL``, a late
``NewCallerid`` or ``ParkedCallGiveUp``) and some before its first channel (an
``OriginateResponse``). The legs and the call's frame range come from the reporting tables;
the range is widened by ``--margin`` seconds of event time (and at least one block of frames)
on each side. A leg found in a frame of the call (the ``...Uniqueid`` next to a matching
``...Linkedid``) counts from there on. When the tables do not know the call, the whole log
is scanned. A frame belongs to a channel when one of its ``...Uniqueid`` headers names it.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from ._common import point_in_time
from ._store import TIME_HELP, add_db, guarded

if TYPE_CHECKING:
    from ..ami import Frame


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser("events", help="print stored frames of a call, channel or period")
    add_db(p)
    which = p.add_mutually_exclusive_group()
    which.add_argument("--call", metavar="LINKEDID", help="frames naming this Linkedid")
    which.add_argument("--channel", metavar="UNIQUEID", help="frames naming this Uniqueid")
    p.add_argument("--from", dest="since", type=point_in_time, metavar="TIME", help=TIME_HELP)
    p.add_argument("--until", type=point_in_time, metavar="TIME", help=TIME_HELP)
    p.add_argument(
        "--margin",
        type=float,
        default=MARGIN_SECONDS,
        metavar="SECONDS",
        help="with --call/--channel: also look this long before and after the call "
        f"(default {MARGIN_SECONDS:g}; Asterisk's CDR batch mode posts records up to its "
        "'time' later)",
    )
    p.add_argument(
        "--name", action="append", metavar="EVENT", help="only these events (repeatable)"
    )
    p.add_argument(
        "--format",
        choices=("ami", "jsonl"),
        default="ami",
        help="ami: the exact bytes; jsonl: one object per frame (default: ami)",
    )
    p.set_defaults(func=run)


MARGIN_SECONDS = 10.0
MARGIN_FRAMES = 1024


def of_call(linkedid: str, legs: Iterable[str] = ()) -> Callable[[Frame], bool]:
    """Frames naming the call (a ``*Linkedid`` header) or one of its legs (a ``*Uniqueid``
    header); the ``*Uniqueid`` next to a matching ``*Linkedid`` becomes a leg. The Linkedid is
    a leg's too: Asterisk gives a call the Uniqueid of its first channel."""
    ids = {linkedid, *legs}
    marks = [leg.encode("utf-8", "surrogateescape") for leg in ids]

    def match(frame: Frame) -> bool:
        raw = frame.raw
        if not any(mark in raw for mark in marks):  # cheap pre-filter on the bytes
            return False
        found = False
        for key, value in frame.headers:
            name = key.lower()
            if name.endswith("linkedid") and value == linkedid:
                found = True
                paired = f"{name[:-8]}uniqueid"
                for other, leg in frame.headers:
                    if other.lower() == paired and leg and leg not in ids:
                        ids.add(leg)
                        marks.append(leg.encode("utf-8", "surrogateescape"))
            elif name.endswith("uniqueid") and value in ids:
                found = True
        return found

    return match


def naming(suffix: str, value: str) -> Callable[[Frame], bool]:
    """Frames with a header ``*<suffix>`` (any case) equal to ``value``."""
    suffix = suffix.lower()
    encoded = value.encode("utf-8", "surrogateescape")

    def match(frame: Frame) -> bool:
        if encoded not in frame.raw:  # cheap pre-filter on the bytes
            return False
        return any(v == value and k.lower().endswith(suffix) for k, v in frame.headers)

    return match


def record(seq: int, clock: float, session: int, frame: Frame) -> dict[str, Any]:
    headers: dict[str, Any] = {}
    for key, value in frame.headers:
        old = headers.get(key)
        if old is None:
            headers[key] = value
        elif isinstance(old, list):
            old.append(value)
        else:
            headers[key] = [old, value]
    return {
        "seq": seq,
        "clock": clock,
        "session": session,
        "kind": frame.kind.value,
        "headers": headers,
    }


@guarded("events")
def run(args: argparse.Namespace) -> int:
    from ..store import open_store

    if args.call is None and args.channel is None and args.since is None and args.until is None:
        print("ami-tracker events: say which: --call, --channel, --from/--until", file=sys.stderr)
        return 2
    if args.margin < 0:
        print("ami-tracker events: --margin must be >= 0", file=sys.stderr)
        return 2
    wanted: Callable[[Frame], bool] | None = None
    names = set(args.name or ())
    with open_store(args.db) as store:
        info = store.server(args.server)
        first, last = 0, None
        if args.call is not None or args.channel is not None:
            span = store.call_span(info.id, linkedid=args.call, uniqueid=args.channel)
            if span is not None:
                first, last = store.widened(
                    info.id,
                    span.first_seq,
                    span.last_seq,
                    seconds=args.margin,
                    frames=MARGIN_FRAMES,
                )
            if args.call is not None:
                wanted = of_call(args.call, span.uniqueids if span is not None else ())
            else:
                wanted = naming("uniqueid", args.channel)
        out = sys.stdout.buffer
        found = 0
        frames = store.iter_frames(
            info.name, first=first, last=last, since=args.since, until=args.until
        )
        for stored in frames:
            frame = stored.frame
            if names and frame.name not in names:
                continue
            if wanted is not None and not wanted(frame):
                continue
            found += 1
            if args.format == "ami":
                out.write(frame.raw)
            else:
                line = record(stored.seq, stored.clock, stored.session_id, frame)
                out.write(json.dumps(line, ensure_ascii=False).encode() + b"\n")
        out.flush()
    if not found:
        print("ami-tracker events: no matching frame", file=sys.stderr)
        return 1
    return 0
