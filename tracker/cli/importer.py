"""``ami-tracker import CAPTURE... --db URL [--server NAME]``: captures into the event store.

Runs the live persister's path minus the socket; importing a capture again adds nothing (and
a capture that grew since adds only its new frames).
"""

from __future__ import annotations

import argparse
import gc
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ._store import add_db, guarded

if TYPE_CHECKING:
    import mmap
    from multiprocessing.connection import Connection

    from ..prestart import Opening, Prestarted

IMPORT_GC_THRESHOLDS = (50_000, 20, 100)
"""Batches in flight keep many objects alive: the import collects less often (the benchmarks
measure both sides with these)."""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser("import", help="import captures into the event store")
    p.add_argument("captures", nargs="+", type=Path, metavar="CAPTURE", help=".ami or .ami.gz")
    add_db(p, server=False)
    p.add_argument(
        "--server",
        metavar="NAME",
        default="asterisk",
        help="server whose log the captures continue (default: asterisk)",
    )
    p.add_argument(
        "--snapshot-frames",
        type=int,
        default=2000,
        metavar="N",
        help="snapshot the state every N frames (default: 2000)",
    )
    p.add_argument(
        "--snapshot-seconds",
        type=float,
        default=300.0,
        metavar="S",
        help="and every S seconds of stream time (default: 300)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def writer_child(
    conn: Connection,
    parent_end: Connection,
    shared: mmap.mmap,
    url: str,
    opening: Opening | None,
) -> None:
    """The prestarted writer's life: it loads the writer's modules itself (see
    :mod:`tracker.prestart`)."""
    from ..store.writer_process import serve_prestarted

    serve_prestarted(conn, parent_end, shared, url, opening)


@guarded("import")
def run(args: argparse.Namespace) -> int:
    import os

    from ..capture import expanded_total
    from ..prestart import PRESTART_FROM_BYTES, Opening, prestart

    # the writer process, forked before this process loads anything heavy: it loads its own
    # modules meanwhile, and shares none of this process's later heap; once connected, it
    # opens the server's log and takes its lease for this process
    prestarted = (
        prestart(args.db, writer_child, Opening(args.server, os.getpid()))
        if expanded_total(args.captures) >= PRESTART_FROM_BYTES
        else None
    )
    try:
        return _run(args, prestarted)
    finally:
        if prestarted is not None:
            prestarted.discard()  # unless the import took it


def _run(args: argparse.Namespace, prestarted: Prestarted | None) -> int:
    import trio
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

    from ..capture import expanded_size, iter_chunks
    from ..runtime.importing import import_captures
    from ..store import open_store

    for path in args.captures:
        next(iter_chunks(path, 1), None)  # unreadable or not gzip: one clear error now
    if prestarted is None:
        # unreachable or not upgraded: say so before any work (a prestarted writer found out
        # while this process loaded its modules; if it could not open, the import's own
        # open says why)
        open_store(args.db).close()
    console = Console(stderr=True)
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
    )
    gc.set_threshold(*IMPORT_GC_THRESHOLDS)
    with Progress(*columns, console=console, disable=args.quiet, transient=True) as bar:
        tasks = {p: bar.add_task(p.name, total=expanded_size(p)) for p in args.captures}

        def advance(path: Path, _frames: int, size: int) -> None:
            bar.advance(tasks[path], size)

        result = trio.run(
            lambda: import_captures(
                args.db,
                args.captures,
                server=args.server,
                snapshot_frames=args.snapshot_frames,
                snapshot_seconds=args.snapshot_seconds,
                progress=advance,
                prestarted=prestarted,
            )
        )
    print(
        f"{result.captures} capture(s), {result.frames} frames: {result.written} written "
        f"({result.frames - result.written} already stored), {result.snapshots} snapshots",
        file=sys.stderr,
    )
    return 0
