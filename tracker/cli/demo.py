"""``ami-tracker demo [CAPTURE] [--speed X|--fast] [--db URL]``: the whole product in one command.

The bundled AMI simulator serves a capture (default ``fixtures/load.ami.gz``) on an ephemeral
127.0.0.1 port; the tracker service (``ami-tracker run``'s code path: client with resync, fold,
persister) follows it over TCP into a fresh SQLite file (or ``--db``) with a progress bar. When
the capture is exhausted the service stops gracefully (log off, flush, final snapshot), then the
calls and queues reports are printed from the database, with where it is and what to try next.
"""

from __future__ import annotations

import argparse
import logging
import os
import secrets
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from ._common import (
    CAPTURE_METAVAR,
    PROG,
    CliError,
    add_reconcile_interval,
    positive_factor,
    positive_seconds,
)

if TYPE_CHECKING:
    from ..runtime.service import Service
    from ..runtime.simulator import AmiSimulator

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
DEFAULT_CAPTURE = "load.ami.gz"
DEFAULT_SPEED = 10.0
DEFAULT_TIMEOUT = 30.0
SERVER_NAME = "demo"
REPORTS = ("calls", "queues")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "demo",
        help="simulator + tracker service into SQLite + reports, in one command "
        "(no Asterisk needed)",
        description="Serve a capture with the bundled AMI simulator over TCP, follow it with "
        "the tracker service into a fresh database, then print the calls and queues reports.",
        epilog="example: ami-tracker demo --fast --db sqlite:///demo.sqlite",
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
        "--db",
        metavar="URL",
        help="database to create or upgrade and fill (default: a new SQLite file "
        "ami-tracker-demo-TIME.sqlite in the current directory, else in a temporary one)",
    )
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


def fresh_sqlite_path(directory: Path | None = None) -> Path:
    """A SQLite file name that does not exist yet: in ``directory`` (default: the current
    one) when it is writable, else in a new temporary directory."""
    where = directory if directory is not None else Path.cwd()
    if not os.access(where, os.W_OK | os.X_OK):
        where = Path(tempfile.mkdtemp(prefix="ami-tracker-demo-"))
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    path = where / f"ami-tracker-demo-{stamp}.sqlite"
    n = 1
    while path.exists():
        path = where / f"ami-tracker-demo-{stamp}-{n}.sqlite"
        n += 1
    return path


async def _follow(sim: AmiSimulator, service: Service, give_up_after: float, name: str) -> None:
    """Wait for the login and resync, then show the capture's progress until it is served."""
    import trio
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    tracker = service.servers[0].tracker
    assert tracker is not None
    with trio.move_on_after(give_up_after):
        await tracker.synced.wait()
    if not tracker.synced.is_set():
        failures = tracker.client.stats.connect_failures
        refused = service.servers[0].error
        raise CliError(
            f"gave up after {give_up_after:g}s: the tracker could not log in to the "
            f"simulator serving {name} and resync"
            + (f" ({failures} failed connection attempts)" if failures else "")
            + (f": {refused}" if refused is not None else ""),
            1,
        )
    print("logged in and resynced", file=sys.stderr, flush=True)
    total = len(sim.script.stream)
    with Progress(
        "{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as progress:
        task = progress.add_task("frames served", total=total)
        while True:  # the capture is exhausted once the latest session was sent everything
            session = sim.sessions[-1]
            with trio.move_on_after(0.1):
                await session.stream_done.wait()
            progress.update(task, completed=session.position)
            if session.stream_done.is_set() and session is sim.sessions[-1]:
                break


async def _demo(
    path: Path, speed: float | None, give_up_after: float, db: str, reconcile_interval: float
) -> Service:
    import trio

    from ..config import Secret, ServerSettings, Settings
    from ..runtime.service import Service
    from ..runtime.simulator import AmiSimulator

    secret = secrets.token_urlsafe(16)
    sim = AmiSimulator(path, username=SERVER_NAME, secret=secret, speed=speed)
    async with trio.open_nursery() as nursery:
        port = await nursery.start(sim.serve, 0, "127.0.0.1")
        pace = "as fast as possible" if speed is None else f"at {speed:g}x"
        print(f"serving {path.name} on 127.0.0.1:{port} {pace}", file=sys.stderr, flush=True)
        server = ServerSettings(
            url=f"ami://{SERVER_NAME}@127.0.0.1:{port}", name=SERVER_NAME, secret=Secret(secret)
        )
        service = Service(
            Settings(
                servers=(server,),
                db=Secret(db),
                keepalive=0,
                reconcile_interval=reconcile_interval,
            )
        )
        await nursery.start(service.run)
        try:
            await _follow(sim, service, give_up_after, path.name)
        finally:
            service.stop()  # log off, fold what was received, flush, final snapshot
        nursery.cancel_scope.cancel()
    return service


def _reports(db: str) -> float | None:
    """Print the reports; return a moment worth replaying (the median call start)."""
    from ..store import load_call_records, open_store
    from ..store.engine import translated
    from ..store.reports import REPORTS as QUERIES
    from ..store.reports import Params, run_report
    from .reports import write

    with open_store(db) as store, translated(store.url), store.engine.connect() as conn:
        for n, name in enumerate(REPORTS):
            columns, rows = run_report(conn, name, Params())
            if n:
                print()
            write(sys.stdout, "table", QUERIES[name].TITLE, columns, rows)
    with open_store(db) as store:
        starts = sorted(c.start for c in load_call_records(store, server=SERVER_NAME))
    return starts[len(starts) // 2] if starts else None


def _next_steps(db: str, fresh: Path | None, capture: Path, at: float | None) -> str:
    quoted = f"'{db}'" if any(c in db for c in " ?&") else db
    moment = "TIME" if at is None else datetime.fromtimestamp(at, UTC).isoformat(timespec="seconds")
    return "\n".join(
        [
            f"database: {fresh if fresh is not None else db}",
            "try next:",
            f"  {PROG} report calls --db {quoted} --by hour",
            f"  {PROG} calls --db {quoted} --format table",
            f"  {PROG} replay --db {quoted} --at {moment}",
            f"  {PROG} simulate {capture} --port 5038 &  "
            f"{PROG} top --ami ami://demo:any@127.0.0.1:5038",
        ]
    )


def run(args: argparse.Namespace) -> int:
    import trio

    from ..capture import check_capture
    from ..store import migrate

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
    fresh = None if args.db else fresh_sqlite_path()
    db = args.db or f"sqlite:///{fresh}"
    began = time.monotonic()
    try:
        migrate.upgrade(db)
        service = trio.run(
            _demo,
            path,
            None if args.fast else args.speed,
            args.timeout,
            db,
            args.reconcile_interval,
        )
    except BaseException:
        if fresh is not None:  # nothing worth keeping: leave no half-filled file behind
            fresh.unlink(missing_ok=True)
        raise
    tracker = service.servers[0].tracker
    assert tracker is not None
    s = tracker.stats
    print(
        f"done in {time.monotonic() - began:.1f}s: {s.frames} frames folded and stored, "
        f"{s.calls_ended} calls ended, {s.sessions} session(s), {s.resyncs} resync(s), "
        f"{s.anomalies} anomalies",
        file=sys.stderr,
    )
    at = _reports(db)
    print()
    print(_next_steps(db, fresh, path, at))
    return 0
