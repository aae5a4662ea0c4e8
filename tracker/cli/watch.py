"""``ami-tracker watch --ami URL [--json] [--calls] [--changes TYPES]``: follow a live Asterisk.

One line per change record (``--calls``/``--changes`` keep only some types); an ended call is
printed with its call record. Resyncs on every (re)connect. While it cannot connect it says
on stderr what it retries (the target without its secret, the attempt, the next delay).
Ctrl-C/SIGTERM logs off cleanly, also while retrying. The secret may come from
``$AMI_SECRET`` and is never printed.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
from collections.abc import Collection
from typing import TYPE_CHECKING, Any, TextIO

from ._common import PROG, CliError, add_reconcile_interval, local_time, positive_seconds, warn

if TYPE_CHECKING:
    import trio

    from ..errors import TrackerError
    from ..runtime.client import AmiClient
    from ..runtime.tracker import ChangeBatch, Tracker
    from ..runtime.url import AmiTarget
    from ..state import Change

SECRET_ENV = "AMI_SECRET"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser("watch", help="follow a live AMI server and print state changes")
    p.add_argument(
        "--ami",
        required=True,
        metavar="URL",
        help=f"ami[s]://user:secret@host:port (or user@host with the secret in ${SECRET_ENV})",
    )
    p.add_argument("--json", action="store_true", help="print JSON lines (default: text)")
    p.add_argument(
        "--calls", action="store_true", help="print only ended calls (CallEnded with its record)"
    )
    p.add_argument(
        "--changes",
        metavar="TYPE[,TYPE]",
        help="print only change records of these types, e.g. CallStarted,CallEnded "
        "(default: every type)",
    )
    p.add_argument(
        "--events",
        metavar="EVENTS",
        help="Login Events: value: on, off, or a class list such as call,agent "
        "(default: the URL's ?events=, else on)",
    )
    p.add_argument("--no-resync", action="store_true", help="do not query state on (re)connect")
    add_reconcile_interval(p)
    p.add_argument(
        "--first-connect-timeout",
        type=positive_seconds,
        metavar="SECONDS",
        help="give up (exit 1) when no session has logged in after SECONDS "
        "(default: retry until stopped); a lost session is always retried",
    )
    p.set_defaults(func=run)


def change_types() -> dict[str, type[Change]]:
    """Every change record class, by name."""
    from .. import reducer  # noqa: F401  (defines every change class)
    from ..state import Change

    found: dict[str, type[Change]] = {}
    todo = [Change]
    while todo:
        for sub in todo.pop().__subclasses__():
            if not sub.__name__.startswith("_"):
                found[sub.__name__] = sub
            todo.append(sub)
    return found


def selected_types(args: argparse.Namespace) -> frozenset[str] | None:
    """Names of the change types to print (None: all)."""
    wanted: set[str] = set()
    if args.calls:
        wanted.add("CallEnded")
    if args.changes:
        known = change_types()
        for name in (n.strip() for n in args.changes.split(",")):
            if name not in known:
                raise CliError(f"unknown change type {name!r} (known: {', '.join(sorted(known))})")
            wanted.add(name)
    return frozenset(wanted) if wanted else None


def change_dict(change: Change) -> dict[str, Any]:
    """A change record as plain JSON-able data; an ended call carries its call record."""
    import msgspec

    from ..query import call_record
    from ..state.call import CallEnded

    if type(change) is CallEnded:
        return {
            "type": "CallEnded",
            "seq": change.seq,
            "at": change.at,
            "record": call_record(change.record),
        }
    data: dict[str, Any] = msgspec.to_builtins(change)
    data.setdefault("type", type(change).__name__)
    return data


def _text(data: dict[str, Any]) -> str:
    head = f"{data['seq']:>7} {local_time(data['at'], millis=True)} {data['type']}"
    if data["type"] == "CallEnded":
        r = data["record"]
        caller = r["caller"]["num"] or r["caller"]["channel"] or "?"
        callee = r["callee"]["num"] or r["callee"]["channel"] or "?"
        return (
            f"{head} {r['linkedid']} {caller} -> {callee} {r['disposition']} "
            f"duration={r['duration']:.1f}s billsec={r['billsec']:.1f}s"
        )
    rest = " ".join(
        f"{k}={json.dumps(v, ensure_ascii=False)}"
        for k, v in data.items()
        if k not in ("type", "seq", "at")
    )
    return f"{head} {rest}".rstrip()


def write_batch(
    out: TextIO, batch: ChangeBatch, as_json: bool, only: Collection[str] | None = None
) -> None:
    if batch.dropped:
        gap = {"type": "Gap", "dropped_batches": batch.dropped, "seq": batch.first_seq}
        out.write((json.dumps(gap) if as_json else f"# {batch.dropped} batches lost") + "\n")
    for change in batch.changes:
        if only is not None and type(change).__name__ not in only:
            continue
        data = change_dict(change)
        out.write(json.dumps(data, ensure_ascii=False, default=str) if as_json else _text(data))
        out.write("\n")
    out.flush()


def _client(target: AmiTarget, events: str | None) -> AmiClient:
    """The tracker's client, saying on stderr each time it is about to retry."""
    from ..runtime.client import AmiClient

    def say_retry(attempt: int, delay: float, reason: TrackerError) -> None:
        warn(
            "watch",
            f"retrying {target.redacted} in {delay:.1f}s (attempt {attempt + 1}; Ctrl-C stops)",
        )

    return AmiClient(target, events=events, on_retry=say_retry)


async def _stop_on_signal(scope: trio.CancelScope) -> None:
    import trio

    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for _ in signals:
            scope.cancel()
            return


async def _report_sync(tracker: Tracker) -> None:
    await tracker.synced.wait()
    state = json.dumps(tracker.summary(), sort_keys=True)
    print(f"synced: {state}", file=sys.stderr, flush=True)


async def _watch(
    args: argparse.Namespace, target: AmiTarget, only: frozenset[str] | None
) -> Tracker:
    """Subscribe before connecting, so the first resync's changes are printed too."""
    import trio

    from ..runtime.tracker import Tracker

    print(f"watching {target.redacted}", file=sys.stderr, flush=True)
    tracker = Tracker(
        _client(target, args.events),
        resync=not args.no_resync,
        reconcile_interval=args.reconcile_interval or None,
        first_connect_timeout=args.first_connect_timeout,
    )
    ran = trio.Event()

    async def run_tracker() -> None:
        try:
            await tracker.run()
        finally:
            ran.set()

    async with trio.open_nursery() as nursery:
        stop = trio.CancelScope()
        nursery.start_soon(_stop_on_signal, stop)
        with tracker.subscribe(buffer=4096) as changes:
            nursery.start_soon(run_tracker)
            nursery.start_soon(_report_sync, tracker)
            with stop:
                async for batch in changes:
                    write_batch(sys.stdout, batch, args.json, only)
        if tracker.client.session_started.is_set():
            await tracker.aclose()  # log off; the fold consumes what was received
        elif not stop.cancel_called:
            await ran.wait()  # it stopped by itself (--first-connect-timeout): let it say why
        nursery.cancel_scope.cancel()  # never connected: stop retrying
    return tracker


def run(args: argparse.Namespace) -> int:
    import trio

    from ..runtime.url import parse_url

    try:
        target = parse_url(args.ami, secret=os.environ.get(SECRET_ENV))
    except ValueError as exc:
        raise CliError(str(exc)) from None
    only = selected_types(args)
    logging.basicConfig(level=logging.WARNING, format=f"{PROG} watch: %(message)s")
    tracker = trio.run(_watch, args, target, only)
    s = tracker.stats
    if not tracker.client.session_started.is_set():
        failures = tracker.client.stats.connect_failures
        raise CliError(
            f"stopped before connecting to {target.redacted} ({failures} failed attempts)", 1
        )
    print(
        f"stopped: {s.frames} frames, {s.changes} changes, {s.sessions} sessions, "
        f"{s.resyncs} resyncs, {s.calls_ended} calls ended",
        file=sys.stderr,
    )
    return 0
