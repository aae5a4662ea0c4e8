"""Batch writer benchmark: ``BatchWriter.write`` alone, over batches built beforehand.

The batches of the load capture are built once (``tracker.replay.capture_batches``, as
``ami-tracker import`` cuts them: 4,096 frames each) and written into a fresh database, two per
``write`` as the import's persister hands them over, with the reporting projection and without.
Printed per backend: wall and CPU seconds of this process (best of ``--rounds``, each into its
own fresh database), and parse + fold of the same capture for scale. On PostgreSQL the wall time
also holds the server's work; the CPU time is the writer's own.

``--profile`` instead runs the write once per backend under cProfile and prints the top entries
(``--top``), sorted by ``--sort`` (cumulative or tottime).

PostgreSQL: ``AMI_TRACKER_TEST_PG`` or postgresql+psycopg://postgres@127.0.0.1:5432/test;
``--no-pg`` skips it.
"""

from __future__ import annotations

import cProfile
import gc
import pstats
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import arg_parser, load_stream
from bench_store import best, database, parse_fold

BATCH_FRAMES = 4096
PER_WRITE = 2


def build_batches(capture: Path) -> list[Any]:
    """The capture's batches, cut as the import cuts them (a snapshot policy from scratch)."""
    from tracker.replay import capture_batches, plan_import
    from tracker.store import SnapshotPolicy, open_store

    with (
        tempfile.TemporaryDirectory(prefix="bench-writer-plan-") as scratch,
        database("sqlite", Path(scratch)) as url,
        open_store(url) as store,
    ):
        info = store.ensure_server("bench")
        plan = plan_import(store, info.id, capture)
        policy = SnapshotPolicy(last_seq=-1)
        return list(capture_batches(capture, plan, policy, batch_frames=BATCH_FRAMES))


def write_all(
    url: str, batches: list[Any], projections: bool, profile: Any = None
) -> tuple[float, float]:
    """Wall and CPU seconds of writing ``batches`` into the database at ``url``."""
    from tracker.store import BatchWriter, open_store
    from tracker.store.models import default_projections

    with open_store(url) as store:
        info = store.ensure_server("bench")
        writer = BatchWriter(
            store.engine, info.id, projections=default_projections() if projections else ()
        )
        gc.collect()
        t0, c0 = time.perf_counter(), time.process_time()
        if profile is not None:
            profile.enable()
        for i in range(0, len(batches), PER_WRITE):
            writer.write(batches[i : i + PER_WRITE])
        if profile is not None:
            profile.disable()
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        assert writer.frames_written == sum(len(b.frames) for b in batches)
        return wall, cpu


def main() -> None:
    p = arg_parser(__doc__)
    p.add_argument("--no-pg", action="store_true", help="skip PostgreSQL")
    p.add_argument("--profile", action="store_true", help="cProfile one write per backend")
    p.add_argument("--no-projections", action="store_true", help="profile without projections")
    p.add_argument("--top", type=int, default=40, help="profile entries printed")
    p.add_argument("--sort", default="cumulative", help="profile order (cumulative, tottime)")
    args = p.parse_args()
    backends = ["sqlite"] if args.no_pg else ["sqlite", "postgresql"]
    saved = gc.get_threshold()
    gc.set_threshold(50_000, 20, 100)  # as the import runs
    with tempfile.TemporaryDirectory(prefix="bench-writer-") as tmpdir:
        tmp = Path(tmpdir)
        capture = tmp / "load.ami"
        capture.write_bytes(load_stream())
        batches = build_batches(capture)
        frames = sum(len(b.frames) for b in batches)
        if args.profile:
            for kind in backends:
                prof = cProfile.Profile()
                with database(kind, tmp) as url:
                    write_all(url, batches, not args.no_projections, prof)  # warm
                with database(kind, tmp) as url:
                    wall, cpu = write_all(
                        url, batches, not args.no_projections, prof := cProfile.Profile()
                    )
                print(f"\n## {kind}: write {wall:.3f}s wall, {cpu:.3f}s CPU (profiled)")
                pstats.Stats(prof).sort_stats(args.sort).print_stats(args.top)
            return
        _, t_fold = best(lambda: parse_fold(capture), args.rounds)
        print(
            f"\n## batch writer: {frames} frames in {len(batches)} batches, {PER_WRITE} per "
            f"write; best of {args.rounds} (parse+fold {t_fold:.3f}s)"
        )
        print(
            "{:<11} {:<8} {:>8} {:>8} {:>8}".format(
                "backend", "proj", "wall s", "cpu s", "us/frame"
            )
        )
        for kind in backends:
            for projections in (True, False):
                walls, cpus = [], []
                for _ in range(max(1, args.rounds) + 1):  # the first round warms up
                    with database(kind, tmp) as url:
                        wall, cpu = write_all(url, batches, projections)
                    walls.append(wall)
                    cpus.append(cpu)
                wall, cpu = min(walls[1:]), min(cpus[1:])
                label = "yes" if projections else "no"
                print(f"{kind:<11} {label:<8} {wall:>8.3f} {cpu:>8.3f} {cpu / frames * 1e6:>8.2f}")
    gc.set_threshold(*saved)


if __name__ == "__main__":
    main()
