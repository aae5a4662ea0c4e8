"""``ami-tracker demo [CAPTURE] [--speed X|--fast]``: the live tracker against the simulator.

Serves a capture (default ``fixtures/load.ami.gz``) with the bundled AMI simulator on an
ephemeral 127.0.0.1 port, connects a live Tracker to it over TCP (login, resync, fold), prints
each call as it ends, and when the capture is exhausted logs off and prints the final state
as one JSON object (the keys of ``ami-tracker replay --json``) on the last line.
"""

from __future__ import annotations

import argparse
import json
import logging
import secrets
import sys
import time
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from ._common import (
    CAPTURE_METAVAR,
    PROG,
    CliError,
    add_reconcile_interval,
    positive_factor,
    positive_seconds,
)

if TYPE_CHECKING:
    from ..runtime.tracker import ChangeBatch, Subscription, Tracker
    from ..state import Anomaly

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
DEFAULT_CAPTURE = "load.ami.gz"
DEFAULT_SPEED = 10.0
DEFAULT_TIMEOUT = 30.0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "demo", help="run the live tracker against the bundled simulator (no Asterisk needed)"
    )
    p.add_argument(
        "capture",
        nargs="?",
        metavar=CAPTURE_METAVAR,
        help=f"capture to serve (default: {DEFAULT_CAPTURE} in the repository's fixtures/)",
    )
    pace = p.add_mutually_exclusive_group()
    pace.add_argument(
        "--speed",
        type=positive_factor,
        default=DEFAULT_SPEED,
        metavar="FACTOR",
        help=f"replay pace factor (default {DEFAULT_SPEED:g}x the recorded pace)",
    )
    pace.add_argument("--fast", action="store_true", help="serve frames as fast as possible")
    p.add_argument(
        "--timeout",
        type=positive_seconds,
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help="give up when the tracker has not logged in and resynced after SECONDS "
        f"(default {DEFAULT_TIMEOUT:g})",
    )
    add_reconcile_interval(p, "; --timeout bounds the first connection")
    p.set_defaults(func=run)


def write_calls(out: TextIO, batch: ChangeBatch, anomalies: list[Anomaly] | None = None) -> int:
    """Print the batch's ended calls as table rows; collect its anomalies."""
    from ..query import call_record
    from ..state import Anomaly
    from ..state.call import CallEnded
    from .calls import write_table

    records = []
    for change in batch.changes:
        if type(change) is CallEnded:
            records.append(call_record(change.record))
        elif anomalies is not None and type(change) is Anomaly:
            anomalies.append(change)
    if records:
        write_table(out, records, header=False)
        out.flush()
    return len(records)


async def _print_calls(changes: Subscription, anomalies: list[Anomaly]) -> None:
    async for batch in changes:
        write_calls(sys.stdout, batch, anomalies)


async def _report_sync(tracker: Tracker) -> None:
    await tracker.synced.wait()
    state = json.dumps(tracker.summary(), sort_keys=True)
    print(f"logged in and resynced: {state}", file=sys.stderr, flush=True)


async def _demo(
    path: Path,
    speed: float | None,
    give_up_after: float,
    anomalies: list[Anomaly],
    reconcile_interval: float | None = None,
) -> Tracker:
    import trio

    from ..runtime.client import AmiClient
    from ..runtime.simulator import AmiSimulator
    from ..runtime.tracker import Tracker
    from .calls import write_table

    secret = secrets.token_urlsafe(16)
    sim = AmiSimulator(path, username="demo", secret=secret, speed=speed)
    began = time.monotonic()
    async with trio.open_nursery() as nursery:
        port = await nursery.start(sim.serve, 0, "127.0.0.1")
        url = f"ami://demo:{secret}@127.0.0.1:{port}"
        pace = "as fast as possible" if speed is None else f"at {speed:g}x"
        print(f"serving {path.name} on 127.0.0.1:{port} {pace}", file=sys.stderr, flush=True)
        write_table(sys.stdout, [])
        tracker = Tracker(AmiClient(url, keepalive=None), reconcile_interval=reconcile_interval)
        changes = tracker.subscribe(buffer=100_000)  # before connecting: no call is missed
        async with trio.open_nursery() as printing:
            printing.start_soon(_print_calls, changes, anomalies)  # ends when the tracker stops
            nursery.start_soon(_report_sync, tracker)
            with trio.move_on_after(give_up_after) as waiting:
                await nursery.start(tracker.run)
            if waiting.cancelled_caught:
                failures = tracker.client.stats.connect_failures
                raise CliError(
                    f"gave up after {give_up_after:g}s: the tracker could not log in to the "
                    f"simulator serving {path.name} and resync"
                    + (f" ({failures} failed connection attempts)" if failures else ""),
                    1,
                )
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
    import trio

    from ..capture import check_capture
    from .replay import state_summary

    if args.capture is not None:
        path = Path(args.capture)
    else:
        path = FIXTURES / DEFAULT_CAPTURE
        if not FIXTURES.is_dir():
            raise CliError(
                f"no fixtures directory at {FIXTURES} "
                "(run from a repository checkout, or pass a CAPTURE file)"
            )
    if not path.exists():
        raise CliError(f"capture not found: {path}")
    check_capture(path)
    logging.basicConfig(level=logging.WARNING, format=f"{PROG} demo: %(message)s")
    anomalies: list[Anomaly] = []
    tracker = trio.run(
        _demo,
        path,
        None if args.fast else args.speed,
        args.timeout,
        anomalies,
        args.reconcile_interval or None,
    )
    summary = state_summary(
        tracker.world,
        frames=tracker.stats.frames,
        anomaly_kinds=Counter(a.kind for a in anomalies),
        durations_known=True,
    )
    print(json.dumps(summary, sort_keys=True))
    return 0
