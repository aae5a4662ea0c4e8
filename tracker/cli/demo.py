"""``ami-tracker demo [CAPTURE] [--speed X|--fast]``: the live tracker against the simulator.

Serves a capture (default ``fixtures/load.ami.gz``) with the bundled AMI simulator on an
ephemeral 127.0.0.1 port, connects a live Tracker to it over TCP (login, resync, fold), prints
each call as it ends, and when the capture is exhausted logs off and prints the final state
as one JSON object (the keys of ``ami-tracker replay --json``) on the last line.
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
import time
from pathlib import Path
from typing import Any, TextIO

import trio

from ..errors import TrackerError
from ..query import call_record, summary
from ..runtime._groups import single
from ..runtime.client import AmiClient
from ..runtime.simulator import AmiSimulator
from ..runtime.tracker import ChangeBatch, Subscription, Tracker
from ..state.call import CallEnded
from .calls import flat

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
DEFAULT_CAPTURE = "load.ami.gz"
DEFAULT_SPEED = 10.0
COLUMNS = (
    ("linkedid", 20),
    ("start", 17),
    ("duration", 8),
    ("billsec", 8),
    ("disposition", 11),
    ("caller_num", 10),
    ("callee_num", 10),
    ("queue", 6),
)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "demo", help="run the live tracker against the bundled simulator (no Asterisk needed)"
    )
    p.add_argument(
        "capture",
        nargs="?",
        metavar="CAPTURE",
        help=f"capture to serve (default: {DEFAULT_CAPTURE} in the repository's fixtures/)",
    )
    pace = p.add_mutually_exclusive_group()
    pace.add_argument(
        "--speed",
        type=float,
        default=DEFAULT_SPEED,
        help=f"replay pace factor (default {DEFAULT_SPEED:g}x the recorded pace)",
    )
    pace.add_argument("--fast", action="store_true", help="serve frames as fast as possible")
    p.set_defaults(func=run)


def _row(values: dict[str, Any]) -> str:
    return "  ".join(str(values[c]).ljust(w) for c, w in COLUMNS).rstrip()


def write_calls(out: TextIO, batch: ChangeBatch) -> int:
    n = 0
    for change in batch.changes:
        if type(change) is CallEnded:
            out.write(_row(flat(call_record(change.record))) + "\n")
            n += 1
    if n:
        out.flush()
    return n


async def _print_calls(changes: Subscription) -> None:
    async for batch in changes:
        write_calls(sys.stdout, batch)


def state_summary(tracker: Tracker) -> dict[str, Any]:
    out: dict[str, Any] = summary(tracker.world)
    out["events"] = tracker.stats.frames
    out["clock"] = tracker.world.clock
    return out


async def _report_sync(tracker: Tracker) -> None:
    await tracker.synced.wait()
    state = json.dumps(tracker.summary(), sort_keys=True)
    print(f"logged in and resynced: {state}", file=sys.stderr, flush=True)


async def _demo(path: Path, speed: float | None) -> Tracker:
    secret = secrets.token_urlsafe(16)
    sim = AmiSimulator(path, username="demo", secret=secret, speed=speed)
    began = time.monotonic()
    async with trio.open_nursery() as nursery:
        port = await nursery.start(sim.serve, 0, "127.0.0.1")
        url = f"ami://demo:{secret}@127.0.0.1:{port}"
        pace = "as fast as possible" if speed is None else f"at {speed:g}x"
        print(f"serving {path.name} on 127.0.0.1:{port} {pace}", file=sys.stderr, flush=True)
        sys.stdout.write(_row({c: c.upper() for c, _ in COLUMNS}) + "\n")
        tracker = Tracker(AmiClient(url, keepalive=None))
        changes = tracker.subscribe(buffer=100_000)  # before connecting: no call is missed
        async with trio.open_nursery() as printing:
            printing.start_soon(_print_calls, changes)  # ends when the tracker has stopped
            nursery.start_soon(_report_sync, tracker)
            await nursery.start(tracker.run)
            # the capture is exhausted once the latest session has been sent everything
            while True:
                session = sim.sessions[-1]
                await session.stream_done.wait()
                if session is sim.sessions[-1]:
                    break
            await tracker.aclose()  # log off; the fold consumes every frame received
        nursery.cancel_scope.cancel()
    s = tracker.stats
    print(
        f"done in {time.monotonic() - began:.1f}s: {s.frames} frames folded, {s.changes} changes, "
        f"{s.sessions} session(s), {s.resyncs} resync(s) ({s.resync_errors} error answers), "
        f"{s.subscriber_overflows} dropped batches",
        file=sys.stderr,
    )
    return tracker


def run(args: argparse.Namespace) -> int:
    if args.capture is not None:
        path = Path(args.capture)
    else:
        path = FIXTURES / DEFAULT_CAPTURE
        if not FIXTURES.is_dir():
            print(
                f"ami-tracker demo: no fixtures directory at {FIXTURES} "
                "(run from a repository checkout, or pass a CAPTURE file)",
                file=sys.stderr,
            )
            return 2
    if not path.is_file():
        print(f"ami-tracker demo: capture not found: {path}", file=sys.stderr)
        return 2
    if not args.fast and args.speed <= 0:
        print("ami-tracker demo: --speed must be positive", file=sys.stderr)
        return 2
    try:
        tracker = trio.run(_demo, path, None if args.fast else args.speed)
    except BaseExceptionGroup as group:
        error = single(group)
        if not isinstance(error, TrackerError):
            raise
        print(f"ami-tracker demo: {error}", file=sys.stderr)
        return 1
    except TrackerError as exc:
        print(f"ami-tracker demo: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(state_summary(tracker), sort_keys=True))
    return 0
