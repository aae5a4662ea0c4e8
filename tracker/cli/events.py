"""``ami-tracker events --db URL (--call LINKEDID | --channel UNIQUEID | --from T --until T)
[--name EVENT] [--format ami|jsonl]``: the stored frames of a call, a channel or a period.

A frame belongs to a call (channel) when any of its ``...Linkedid`` (``...Uniqueid``) headers
names it: ``Linkedid``, ``DestLinkedid``, ``TransfererLinkedid``... The call's frame range comes
from the reporting tables when they know it; otherwise the whole log is scanned.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
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
        "--name", action="append", metavar="EVENT", help="only these events (repeatable)"
    )
    p.add_argument(
        "--format",
        choices=("ami", "jsonl"),
        default="ami",
        help="ami: the exact bytes; jsonl: one object per frame (default: ami)",
    )
    p.set_defaults(func=run)


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
    wanted: Callable[[Frame], bool] | None = None
    if args.call is not None:
        wanted = naming("linkedid", args.call)
    elif args.channel is not None:
        wanted = naming("uniqueid", args.channel)
    names = set(args.name or ())
    with open_store(args.db) as store:
        info = store.server(args.server)
        first, last = 0, None
        if args.call is not None or args.channel is not None:
            span = store.call_range(info.id, linkedid=args.call, uniqueid=args.channel)
            if span is not None:
                first, last = span
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
