"""Soak: hours of Asterisk traffic through the whole service, memory measured as it runs.

A child process runs the simulator: it serves ``fixtures/load.ami.gz`` (300 calls in 86 s of
Asterisk time) ``--copies`` times in ONE session, events only, each copy moved on in time by
the capture's span with its ids rewritten (``tracker.runtime.copies``): by default enough
copies for ``--hours`` 8 of Asterisk time. Every ``--lost``-th ``Hangup`` is withheld, so
only the periodic reconciliation (``--reconcile`` s) can close those channels and calls. This
process runs the service (``tracker.runtime.service.Service``, the code of ``ami-tracker
run``) with the persister on, into a fresh SQLite file (default) or a fresh schema of
``--pg URL``, and samples its own RSS (``/proc/self/status`` VmRSS) at the start, every
``--every`` s, and at the end. It then checks, and exits 1 if any check fails:

* every frame received was stored (the server's ``next_seq`` is the frames received);
* no channel, call or bridge is left live once two reconciliations followed the stream;
* RSS at the end minus RSS after the first copy (imports, caches and the store warmed up)
  is under ``--max-growth`` MB::

    .venv/bin/python bench/soak.py                      # 8 h of traffic, SQLite (minutes)
    .venv/bin/python bench/soak.py --copies 20          # a shorter run
    .venv/bin/python bench/soak.py --pg postgresql+psycopg://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import math
import os
import secrets
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import trio
from _common import LOAD

from tracker.config import load_settings
from tracker.query import sizes
from tracker.runtime import run_simulator
from tracker.runtime.copies import CopyShift
from tracker.runtime.script import load_script
from tracker.runtime.service import Service
from tracker.runtime.tracker import Tracker
from tracker.store import migrate, open_store

USER, SECRET = "lab", "labsecret"
NAME = "soak"


def rss_mb() -> float:
    """Resident set size of this process, MB (VmRSS)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


# -- the simulated PBX (child process) -------------------------------------------------------
async def serve(copies: int, every: int, speed: float | None) -> None:
    script = load_script(LOAD)
    hangups = [i for i, f in enumerate(script.stream) if f.name == "Hangup"]
    lost = hangups[::every] if every else []
    async with run_simulator(
        script,
        username=USER,
        secret=SECRET,
        lost=lost,
        events_only=True,
        copies=copies,
        speed=speed,
    ) as sim:
        print(sim.port, len(lost) * copies, flush=True)
        await sim.connected.wait()
        session = sim.sessions[0]
        await session.stream_done.wait()
        print("done", session.streamed, session.reason or "", flush=True)
        await trio.sleep_forever()


# -- the tracker (this process) --------------------------------------------------------------
@dataclass
class Sample:
    seconds: float
    copy: float
    frames: int
    pending: int
    sizes: dict[str, int]
    rss: float


def fresh_pg(url: str) -> tuple[str, str]:
    """A fresh schema on the PostgreSQL at ``url``: (its URL, its name)."""
    from sqlalchemy import create_engine, text

    schema = f"soak_{secrets.token_hex(4)}"
    admin = create_engine(url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    admin.dispose()
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}options=-csearch_path%3D{schema}", schema


def drop_pg(url: str, schema: str) -> None:
    from sqlalchemy import create_engine, text

    admin = create_engine(url)
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    admin.dispose()


async def folded(tracker: Tracker) -> None:
    """Until everything received before a Ping round trip is folded."""
    await tracker.client.send("Ping")
    await tracker.wait_folded(tracker.client.next_seq - 1)


async def track(
    args: argparse.Namespace, db: str, child: trio.Process, port: int
) -> dict[str, Any]:
    flags: dict[str, Any] = {
        "ami": [f"ami://{USER}@127.0.0.1:{port}"],
        "name": [NAME],
        "db": db,
        "reconcile_interval": args.reconcile,
        "keepalive": 5.0,
    }
    service = Service(load_settings(env={"AMI_TRACKER_SECRET": SECRET}, flags=flags))
    shift = CopyShift(load_script(LOAD).stream)
    samples: list[Sample] = []
    out: dict[str, Any] = {}
    began = time.perf_counter()

    def sample(tracker: Tracker) -> Sample:
        world = tracker.world
        start = out.setdefault("clock0", world.clock)
        depth = service.metrics.registry.get_sample_value(
            "ami_tracker_persister_queue_depth", {"server": NAME}
        )
        pending = int(depth or 0)
        s = Sample(
            time.perf_counter() - began,
            (world.clock - start) / shift.period,
            tracker.stats.frames,
            pending,
            sizes(world),
            rss_mb(),
        )
        samples.append(s)
        print(_row(s), flush=True)
        return s

    done = trio.Event()
    streamed: list[str] = []

    async def watch_child() -> None:
        assert child.stdout is not None
        async for chunk in child.stdout:
            streamed.append(chunk.decode())
            if "done" in "".join(streamed):
                done.set()
                return

    async with trio.open_nursery() as nursery:
        await nursery.start(service.run)
        tracker = service.servers[0].tracker
        assert tracker is not None
        await tracker.wait_synced()
        print(_head(), flush=True)
        out["start"] = sample(tracker)
        nursery.start_soon(watch_child)
        next_at = args.every
        while not done.is_set():
            with trio.move_on_after(max(0.0, next_at - (time.perf_counter() - began))):
                await done.wait()
            if not done.is_set():
                s = sample(tracker)
                next_at += args.every
                if "warm" not in out and s.copy >= 1:
                    out["warm"] = s
        await folded(tracker)
        out["stream_seconds"] = time.perf_counter() - began
        reconciles = tracker.stats.reconciles
        while tracker.stats.reconciles < reconciles + 2:  # noqa: ASYNC110 (two lists after the stream)
            await trio.sleep(args.reconcile / 4)
        await folded(tracker)
        out["end"] = sample(tracker)
        out["samples"] = samples
        out["folded"] = tracker.stats.frames
        out["calls_ended"] = tracker.world.calls_ended
        out["reconciles"] = tracker.stats.reconciles
        out["reconcile_failures"] = tracker.stats.reconcile_failures
        out["overloads"] = tracker.client.stats.overflows
        out["sessions"] = tracker.stats.sessions
        service.stop()
    out["received"] = tracker.client.next_seq  # with the logoff's Goodbye
    out["seconds"] = time.perf_counter() - began
    out["child"] = "".join(streamed).split("done", 1)[-1].strip()
    out.setdefault("warm", out["end"])
    return out


def _head() -> str:
    return (
        f"{'seconds':>8} {'copy':>6} {'frames':>10} {'pending':>8} {'channels':>8} "
        f"{'calls':>6} {'bridges':>7} {'gone':>5} {'RSS MB':>7}"
    )


def _row(s: Sample) -> str:
    z = s.sizes
    return (
        f"{s.seconds:8.1f} {s.copy:6.1f} {s.frames:10d} {s.pending:8d} {z['channels']:8d} "
        f"{z['calls']:6d} {z['bridges']:7d} {z['gone']:5d} {s.rss:7.1f}"
    )


def stored(db: str) -> int:
    with open_store(db) as store:
        return store.server(NAME).next_seq


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hours", type=float, default=8.0, help="hours of Asterisk time")
    ap.add_argument("--copies", type=int, help="copies of the capture (default: --hours' worth)")
    ap.add_argument("--lost", type=int, default=10, help="withhold every N-th Hangup (0: none)")
    ap.add_argument("--reconcile", type=float, default=2.0, help="reconcile interval (s)")
    ap.add_argument("--speed", type=float, help="pace (x Asterisk time; default: as fast as read)")
    ap.add_argument("--every", type=float, default=15.0, help="seconds between samples")
    ap.add_argument("--max-growth", type=float, default=40.0, help="MB allowed after warm-up")
    ap.add_argument("--pg", help="PostgreSQL URL (a fresh schema is used, then dropped)")
    ap.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    shift = CopyShift(load_script(LOAD).stream)
    copies = args.copies or math.ceil(args.hours * 3600 / shift.period)
    if args.serve:
        trio.run(serve, copies, args.lost, args.speed)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        schema = None
        if args.pg:
            db, schema = fresh_pg(args.pg)
        else:
            db = f"sqlite:///{Path(tmp) / 'soak.sqlite'}"
        try:
            return run(args, copies, shift, db, tmp)
        finally:
            if schema is not None:
                drop_pg(args.pg, schema)


def run(args: argparse.Namespace, copies: int, shift: CopyShift, db: str, tmp: str) -> int:
    migrate.upgrade(db)
    hours = copies * shift.period / 3600
    print(
        f"soak: {copies} copies of {LOAD.name} = {hours:.1f} h of Asterisk time, every "
        f"{args.lost}th Hangup lost, reconcile every {args.reconcile:g}s, "
        f"{'PostgreSQL' if args.pg else 'SQLite'}",
        flush=True,
    )
    command = [sys.executable, __file__, "--serve", "--copies", str(copies)]
    command += ["--lost", str(args.lost)] + (["--speed", str(args.speed)] if args.speed else [])

    os.environ["XDG_STATE_HOME"] = tmp  # a spill file (if the database lags) goes there

    async def both() -> dict[str, Any]:
        async with trio.open_nursery() as nursery:
            child: trio.Process = await nursery.start(
                partial(trio.run_process, command, stdout=subprocess.PIPE, check=False)
            )
            assert child.stdout is not None
            first = b""
            while b"\n" not in first:
                first += await child.stdout.receive_some(100)
            port = int(first.split()[0])
            out = await track(args, db, child, port)
            nursery.cancel_scope.cancel()
        return out

    out = trio.run(both)
    frames_stored = stored(db)
    start, warm, end = out["start"], out["warm"], out["end"]
    growth = end.rss - warm.rss
    samples: list[Sample] = out["samples"]
    middle = samples[-1].seconds / 2
    first_half = max(s.rss for s in samples if s.seconds <= middle)
    second_half = max(s.rss for s in samples if s.seconds > middle)
    left = {k: end.sizes[k] for k in ("channels", "calls", "bridges")}
    rate = out["folded"] / out["stream_seconds"]
    print(
        f"\nframes received {out['received']:,}, folded {out['folded']:,}, stored "
        f"{frames_stored:,}; calls ended {out['calls_ended']:,}; {out['reconciles']} "
        f"reconciles ({out['reconcile_failures']} unanswered); {out['sessions']} session(s), "
        f"{out['overloads']} overloads\n"
        f"stream {out['stream_seconds']:.0f} s ({rate:,.0f} frames/s), whole run "
        f"{out['seconds']:.0f} s; simulator: {out['child']}\n"
        f"RSS MB: start {start.rss:.1f}, after copy 1 {warm.rss:.1f}, end {end.rss:.1f} "
        f"(growth after warm-up {growth:+.1f}, allowed {args.max_growth:g}); highest in the "
        f"first half {first_half:.1f}, in the second half {second_half:.1f}\n"
        f"left live at the end: {left}; World at the end: {end.sizes}"
    )
    failed = []
    if frames_stored != out["received"]:
        failed.append(f"stored {frames_stored} frames of {out['received']} received")
    if any(left.values()):
        failed.append(f"left live after reconciliation: {left}")
    if growth > args.max_growth:
        failed.append(f"RSS grew {growth:.1f} MB after warm-up (> {args.max_growth:g})")
    if out["sessions"] != 1 or out["overloads"]:
        failed.append(f"{out['sessions']} sessions, {out['overloads']} overloads")
    for why in failed:
        print(f"FAILED: {why}")
    print("OK" if not failed else "FAILED")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
