"""``ami-tracker watch --ami URL [--json]``: follow a live Asterisk, one line per change record.

Resyncs on every (re)connect; an ended call is printed with its call record. Ctrl-C/SIGTERM
logs off cleanly. The secret may come from ``$AMI_SECRET`` and is never printed.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
from typing import Any, TextIO

import msgspec
import trio

from ..errors import TrackerError
from ..query import call_record
from ..runtime._groups import single
from ..runtime.client import AmiClient
from ..runtime.tracker import ChangeBatch, Tracker
from ..runtime.url import AmiTarget, parse_url
from ..state import Change
from ..state.call import CallEnded

SECRET_ENV = "AMI_SECRET"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser("watch", help="follow a live AMI server and print state changes")
    p.add_argument(
        "--ami",
        required=True,
        metavar="URL",
        help=f"ami[s]://user:secret@host:port (or user@host with the secret in ${SECRET_ENV})",
    )
    p.add_argument("--json", action="store_true", help="print JSON lines")
    p.add_argument("--events", help="Login Events: value (default on)")
    p.add_argument("--no-resync", action="store_true", help="do not query state on (re)connect")
    p.set_defaults(func=run)


def change_dict(change: Change) -> dict[str, Any]:
    """A change record as plain JSON-able data; an ended call carries its call record."""
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
    head = f"{data['seq']:>7} {data['at']:.6f} {data['type']}"
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


def write_batch(out: TextIO, batch: ChangeBatch, as_json: bool) -> None:
    if batch.dropped:
        gap = {"type": "Gap", "dropped_batches": batch.dropped, "seq": batch.first_seq}
        out.write((json.dumps(gap) if as_json else f"# {batch.dropped} batches lost") + "\n")
    for change in batch.changes:
        data = change_dict(change)
        out.write(json.dumps(data, ensure_ascii=False, default=str) if as_json else _text(data))
        out.write("\n")
    out.flush()


async def _stop_on_signal(scope: trio.CancelScope) -> None:
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for _ in signals:
            scope.cancel()
            return


async def _report_sync(tracker: Tracker) -> None:
    await tracker.synced.wait()
    state = json.dumps(tracker.summary(), sort_keys=True)
    print(f"synced: {state}", file=sys.stderr, flush=True)


async def _watch(args: argparse.Namespace, target: AmiTarget) -> Tracker:
    """Subscribe before connecting, so the first resync's changes are printed too."""
    print(f"watching {target.redacted}", file=sys.stderr, flush=True)
    tracker = Tracker(AmiClient(target, events=args.events), resync=not args.no_resync)
    try:
        async with trio.open_nursery() as nursery:
            stop = trio.CancelScope()
            nursery.start_soon(_stop_on_signal, stop)
            with tracker.subscribe(buffer=4096) as changes:
                nursery.start_soon(tracker.run)
                nursery.start_soon(_report_sync, tracker)
                with stop:
                    async for batch in changes:
                        write_batch(sys.stdout, batch, args.json)
            await tracker.aclose()
            nursery.cancel_scope.cancel()
    except BaseExceptionGroup as group:
        raise single(group) from None
    return tracker


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        target = parse_url(args.ami, secret=os.environ.get(SECRET_ENV))
    except ValueError as exc:
        print(f"ami-tracker watch: {exc}", file=sys.stderr)
        return 2
    try:
        tracker = trio.run(_watch, args, target)
    except TrackerError as exc:
        print(f"ami-tracker watch: {exc}", file=sys.stderr)
        return 1
    s = tracker.stats
    print(
        f"stopped: {s.frames} frames, {s.changes} changes, {s.sessions} sessions, "
        f"{s.resyncs} resyncs, {s.calls_ended} calls ended",
        file=sys.stderr,
    )
    return 0
