"""Batch writer benchmark: ``BatchWriter.write`` alone, the batches made outside the timing.

The load capture's batches (``tracker.replay.capture_batches`` as ``ami-tracker import`` cuts
them: at most 4,096 frames (``--batch-frames``), cut where a snapshot is due, every 2,000
frames) are written into a fresh database, two per ``write`` (``--per-write``), with the reporting
projection and without. By default each pair is made (parse + fold) just before its write, as
in the import: the objects written are fresh in the CPU caches; ``--prebuilt`` writes batches
built once beforehand instead (all of them cold: slower, memory-bound). Printed per backend:
wall and CPU seconds of this process in the writes alone (best of ``--rounds``, each into its
own fresh database), and parse + fold of the same capture for scale. On PostgreSQL the wall
time also holds the server's work; the CPU time is the writer's own, and ``server s`` the CPU
time of the server process serving it (a local server: read from ``/proc``: its
``schedstat``, in nanoseconds, where the kernel has it, else 10 ms ticks).

By default the writes are what the writer process does: each pair is packed and encoded
outside the timing (the producer's part), then decoded and written (``--unpacked``: the
batches handed to ``write`` as they are, packed inside it, as the in-thread writer does).

``--profile`` instead runs the writes once per backend under cProfile and prints the top
entries (``--top``), sorted by ``--sort`` (cumulative or tottime).

PostgreSQL: ``AMI_TRACKER_TEST_PG`` or postgresql+psycopg://postgres@127.0.0.1:5432/test;
``--no-pg`` skips it.
"""

from __future__ import annotations

import cProfile
import gc
import itertools
import os
import pstats
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from _common import arg_parser, load_stream
from bench_store import best, database, parse_fold

from tracker.cli.importer import IMPORT_GC_THRESHOLDS

BATCH_FRAMES = 4096
PER_WRITE = 2
"""The defaults (``--batch-frames``, ``--per-write``): the import's batches before it handed
over packed batches of 1 024 frames, up to 8 in a transaction (``--batch-frames 1024
--per-write 8`` for that shape)."""


def build_batches(capture: Path) -> list[Any]:
    """The capture's batches, cut as the import cuts them (a snapshot policy from scratch)."""
    from tracker.store import open_store

    with (
        tempfile.TemporaryDirectory(prefix="bench-writer-plan-") as scratch,
        database("sqlite", Path(scratch)) as url,
        open_store(url) as store,
    ):
        return list(stream_batches(store, store.ensure_server("bench").id, capture))


def stream_batches(store: Any, server_id: int, capture: Path) -> Iterator[Any]:
    from tracker.replay import capture_batches, plan_import
    from tracker.store import SnapshotPolicy

    plan = plan_import(store, server_id, capture)
    policy = SnapshotPolicy(last_seq=-1)
    return capture_batches(capture, plan, policy, batch_frames=BATCH_FRAMES)


def shape(batch_frames: int, per_write: int) -> None:
    """Use batches of ``batch_frames`` frames, ``per_write`` to a transaction."""
    global BATCH_FRAMES, PER_WRITE
    BATCH_FRAMES, PER_WRITE = batch_frames, per_write


def server_cpu(engine: Any) -> Callable[[], float]:
    """A clock of the CPU seconds of the PostgreSQL backend serving ``engine``'s pooled
    connection (the writer's, as the pool hands the same one back; read from ``/proc``, so only
    for a local server: nanoseconds from ``schedstat``, else 10 ms ticks), or of nothing
    (SQLite: 0.0)."""
    if engine.dialect.name != "postgresql":
        return lambda: 0.0
    with engine.connect() as conn:
        pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
    sched = Path(f"/proc/{pid}/schedstat")
    if sched.exists():  # nanoseconds on the CPU

        def precise() -> float:
            return int(sched.read_text().split()[0]) / 1e9

        return precise
    stat = Path(f"/proc/{pid}/stat")
    tick = os.sysconf("SC_CLK_TCK")

    def clock() -> float:
        fields = stat.read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / tick  # utime + stime

    return clock


def write_all(
    url: str,
    source: list[Any] | Path,
    projections: bool,
    profile: Any = None,
    *,
    packed: bool = True,
) -> tuple[float, float, float]:
    """Wall and CPU seconds of writing the batches of ``source`` (built beforehand, or made
    from a capture file while writing: only the writes are timed) into the database at
    ``url``, ``PER_WRITE`` batches per write, and the PostgreSQL server's CPU seconds. With
    ``packed``, what the writer process does: the batches are packed and encoded outside the
    timing (the producer's work), decoded and written inside it."""
    import msgspec

    from tracker.store import BatchWriter, open_store
    from tracker.store.models import default_projections
    from tracker.store.packed import Packed

    encode = msgspec.msgpack.Encoder().encode
    decode = msgspec.msgpack.Decoder(list[Packed]).decode

    with open_store(url) as store:
        info = store.ensure_server("bench")
        writer = BatchWriter(
            store.engine, info.id, projections=default_projections() if projections else ()
        )
        if isinstance(source, Path):
            batches = stream_batches(store, info.id, source)
        else:
            batches = iter(source)
        server = server_cpu(store.engine)
        gc.collect()
        wall = cpu = 0.0
        s0 = server()
        frames = 0
        while chunk := list(itertools.islice(batches, PER_WRITE)):
            frames += sum(len(b.frames) for b in chunk)
            data = encode([writer.pack(b) for b in chunk]) if packed else None
            t0, c0 = time.perf_counter(), time.process_time()
            if profile is not None:
                profile.enable()
            writer.write(chunk if data is None else decode(data))
            if profile is not None:
                profile.disable()
            wall += time.perf_counter() - t0
            cpu += time.process_time() - c0
        assert writer.frames_written == frames
        return wall, cpu, server() - s0


def main() -> None:
    p = arg_parser(__doc__)
    p.add_argument("--no-pg", action="store_true", help="skip PostgreSQL")
    p.add_argument("--profile", action="store_true", help="cProfile one write per backend")
    p.add_argument("--no-projections", action="store_true", help="profile without projections")
    p.add_argument(
        "--prebuilt",
        action="store_true",
        help="write batches built once beforehand (cold in the CPU caches) instead of each "
        "pair made just before its write, as the import makes them",
    )
    p.add_argument(
        "--unpacked",
        action="store_true",
        help="write the batches as they are (packed inside write: the in-thread writer's work) "
        "instead of decoding packed ones (the writer process's)",
    )
    p.add_argument("--batch-frames", type=int, default=BATCH_FRAMES, help="frames per batch")
    p.add_argument("--per-write", type=int, default=PER_WRITE, help="batches per transaction")
    p.add_argument("--top", type=int, default=40, help="profile entries printed")
    p.add_argument("--sort", default="cumulative", help="profile order (cumulative, tottime)")
    args = p.parse_args()
    shape(args.batch_frames, args.per_write)
    backends = ["sqlite"] if args.no_pg else ["sqlite", "postgresql"]
    saved = gc.get_threshold()
    gc.set_threshold(*IMPORT_GC_THRESHOLDS)  # as the import runs
    with tempfile.TemporaryDirectory(prefix="bench-writer-") as tmpdir:
        tmp = Path(tmpdir)
        capture = tmp / "load.ami"
        capture.write_bytes(load_stream())
        batches = build_batches(capture)
        frames = sum(len(b.frames) for b in batches)
        source: list[Any] | Path = batches if args.prebuilt else capture
        if args.profile:
            for kind in backends:
                with database(kind, tmp) as url:
                    write_all(url, source, not args.no_projections, packed=not args.unpacked)
                with database(kind, tmp) as url:
                    wall, cpu, _ = write_all(
                        url,
                        source,
                        not args.no_projections,
                        prof := cProfile.Profile(),
                        packed=not args.unpacked,
                    )
                print(f"\n## {kind}: write {wall:.3f}s wall, {cpu:.3f}s CPU (profiled)")
                pstats.Stats(prof).sort_stats(args.sort).print_stats(args.top)
            return
        _, t_fold = best(lambda: parse_fold(capture), args.rounds)
        print(
            f"\n## batch writer: {frames} frames in {len(batches)} batches, {PER_WRITE} per "
            f"write ({'built beforehand' if args.prebuilt else 'each pair made just before'}, "
            f"{'as they are' if args.unpacked else 'packed: decode + write'}); "
            f"best of {args.rounds} (parse+fold {t_fold:.3f}s)"
        )
        head = ("backend", "proj", "wall s", "cpu s", "us/frame", "server s")
        print("{:<11} {:<5} {:>7} {:>7} {:>8} {:>8}".format(*head))
        for kind in backends:
            for projections in (True, False):
                walls, cpus, servers = [], [], []
                for _ in range(max(1, args.rounds) + 1):  # the first round warms up
                    with database(kind, tmp) as url:
                        wall, cpu, server = write_all(
                            url, source, projections, packed=not args.unpacked
                        )
                    walls.append(wall)
                    cpus.append(cpu)
                    servers.append(server)
                wall, cpu, server = min(walls[1:]), min(cpus[1:]), min(servers[1:])
                label = "yes" if projections else "no"
                print(
                    f"{kind:<11} {label:<5} {wall:>7.3f} {cpu:>7.3f} {cpu / frames * 1e6:>8.2f} "
                    f"{server:>8.3f}"
                )
    gc.set_threshold(*saved)


if __name__ == "__main__":
    main()
