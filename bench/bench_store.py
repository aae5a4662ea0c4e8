"""Event store benchmark: import, replay from the database, world at a random point, size.

Figures are ratios against the same work without a database, measured in one run:

* import (``ami-tracker import``'s path: parse + fold + persister) vs parse + fold alone, into
  SQLite and into PostgreSQL (targets >= 0.8x and >= 0.7x);
* replay of every frame from the database vs replay of the capture file (>= 1.0x), in
  interleaved rounds (file, database, file, ...: both see the same load), three ways:
  ``cli``: what ``replay --db`` does when it folds the whole log (envelopes + ``apply``) vs
  what ``replay CAPTURE`` does (``tracker.replay.replay``: the fold that also collects call
  records and change counts); ``same fold``: ``tracker.replay.fold`` over each source;
  ``envelopes``: the envelopes alone. Each with the database read ahead in a worker thread
  (the default for long ranges) and without (``1 thread``);
* the world at random points of a large store (nearest snapshot + later frames) vs folding
  5,000 consecutive frames from random points of the load capture, decoded beforehand and
  from bytes (median and max of each): the median must stay < 50 ms, and no point slower
  than the 5,000-frame fold. ``--million`` builds the 1,000,000-frame store of the target (the
  load capture repeated with rewritten ids; minutes on a busy machine); the default uses
  ``--repeat`` copies;
* the raw log's bytes per frame on disk (table + indexes) for the load capture, and the
  snapshots' (the world every 2,000 frames).

PostgreSQL: ``AMI_TRACKER_TEST_PG`` or postgresql+psycopg://postgres@127.0.0.1:5432/test (a
scratch schema is created and dropped); ``--no-pg`` skips it.
"""

from __future__ import annotations

import math
import os
import random
import secrets
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from _common import arg_parser, import_gc, load_stream, repeat_stream

PG_URL = os.environ.get("AMI_TRACKER_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def best(fn: Callable[[], Any], rounds: int) -> tuple[Any, float]:
    out: Any = None
    fastest = float("inf")
    for _ in range(max(1, rounds)):
        t0 = time.perf_counter()
        out = fn()
        fastest = min(fastest, time.perf_counter() - t0)
    return out, fastest


@contextmanager
def database(kind: str, tmp: Path) -> Iterator[str]:
    """A fresh, upgraded database of ``kind`` (sqlite or postgresql)."""
    from sqlalchemy import create_engine, text

    from tracker.store import migrate

    if kind == "sqlite":
        path = tmp / f"bench-{secrets.token_hex(4)}.sqlite"
        url = f"sqlite:///{path}"
        migrate.upgrade(url)
        try:
            yield url
        finally:
            path.unlink(missing_ok=True)
        return
    schema = f"bench_{secrets.token_hex(5)}"
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in PG_URL else "?"
    url = f"{PG_URL}{sep}options=-csearch_path%3D{schema}"
    try:
        migrate.upgrade(url)
        yield url
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


def parse_fold(path: Path) -> int:
    """``replay CAPTURE``'s fold, with the import's GC thresholds (the same for both sides;
    measured: no difference to the fold)."""
    from tracker.replay import replay

    with import_gc():
        return replay(path).events


def import_file(url: str, path: Path, writer_process: bool | None = None) -> int:
    """``ami-tracker import``'s path (its GC thresholds included)."""
    import trio

    from tracker.runtime.importing import import_captures

    with import_gc():
        result = trio.run(
            lambda: import_captures(
                url,
                [path],
                server="bench",
                spill_path=path.with_suffix(".spill"),
                writer_process=writer_process,
            )
        )
    return result.written


def cpu_seconds() -> tuple[float, float]:
    """CPU seconds (user + system) of this process and of its waited-for children."""
    import resource

    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime, kids.ru_utime + kids.ru_stime


WRITERS = ("process", "thread")
"""Where an import's writer runs: a child process (the default), a worker thread; also
``forked``: the child process forked when the store opens, not at the start of the command (in
a fresh process; in this one, where the modules are long loaded, the same as ``process``)."""
Run = tuple[float, float, float]
"""Wall seconds, CPU seconds of the importing process, CPU seconds of its writer process."""


def write_inputs(stem: Path, data: bytes, copies: list[int]) -> dict[int, Path]:
    """The load capture repeated each of ``copies`` times (with rewritten ids), one file each."""
    paths = {n: stem.with_name(f"{stem.name}-x{n}.ami") for n in copies}
    for n, path in paths.items():
        path.write_bytes(data if n == 1 else repeat_stream(data, n))
    return paths


def import_rounds(
    kinds: list[str],
    copies: list[int],
    rounds: int,
    fold_once: Callable[[int], Run],
    import_once: Callable[[str, str, int], Run],
    writers: tuple[str, ...] = WRITERS,
) -> dict[tuple[int, str, str], list[Run]]:
    """Runs by (copies, backend or ``p+f``, writer), interleaved: every round runs parse +
    fold and then each import once, so a machine whose speed drifts (a shared host) weighs on
    both sides of each ratio alike."""
    runs: dict[tuple[int, str, str], list[Run]] = {}
    for n in copies:
        for _ in range(max(1, rounds)):
            runs.setdefault((n, "p+f", ""), []).append(fold_once(n))
            for kind in kinds:
                for mode in writers:
                    runs.setdefault((n, kind, mode), []).append(import_once(kind, mode, n))
    return runs


def print_import_rows(
    runs: dict[tuple[int, str, str], list[Run]],
    kinds: list[str],
    copies: list[int],
    writers: tuple[str, ...] = WRITERS,
) -> None:
    """Best wall of each, parse + fold's best over its best (and the range of the per-round
    ratios), CPU; then, from the smallest and the largest input, what an import costs once
    (opening, the writer's fork, closing: the wall time not proportional to the frames) and
    its speed on the frames (the extra frames of the larger input: the throughput ratio)."""
    print(
        "{:<11} {:<8} {:<8} {:>8} {:>6} {:>11} {:>8} {:>8}".format(
            "backend", "input", "writer", "wall s", "x p+f", "per round", "cpu s", "child s"
        )
    )
    for n in copies:
        name = "load" if n == 1 else f"load x{n}"
        folds = runs[(n, "p+f", "")]
        t_fold = min(r[0] for r in folds)
        print(f"{'':<11} {name:<8} {'p+f':<8} {t_fold:>8.3f}")
        for kind in kinds:
            for mode in writers:
                mine = runs[(n, kind, mode)]
                wall, own, kids = min(mine)
                ratios = sorted(f[0] / m[0] for f, m in zip(folds, mine, strict=True))
                spread_text = f"{ratios[0]:.2f}-{ratios[-1]:.2f}"
                print(
                    f"{kind:<11} {name:<8} {mode:<8} {wall:>8.3f} {t_fold / wall:>6.2f} "
                    f"{spread_text:>11} {own:>8.3f} {kids:>8.3f}"
                )
    small, large = min(copies), max(copies)
    if small == large or "process" not in writers:
        return
    print(
        f"per import and per frame (from load x{small} and x{large}, best walls; writer process): "
        "fixed ms = the wall time an import adds that does not grow with the frames; "
        "x p+f per frame = the speed on the frames alone"
    )
    fold_small = min(r[0] for r in runs[(small, "p+f", "")])
    fold_large = min(r[0] for r in runs[(large, "p+f", "")])
    per_frame_fold = (fold_large - fold_small) / (large - small)
    for kind in kinds:
        imp_small = min(runs[(small, kind, "process")])[0]
        imp_large = min(runs[(large, kind, "process")])[0]
        per_frame = (imp_large - imp_small) / (large - small)
        fixed = (imp_small - per_frame * small) - (fold_small - per_frame_fold * small)
        print(
            f"  {kind:<10} fixed {fixed * 1000:6.1f} ms   x p+f per frame "
            f"{per_frame_fold / per_frame:.2f}"
        )


def import_table(
    kinds: list[str],
    tmp: Path,
    data: bytes,
    copies: list[int],
    rounds: int,
    writers: tuple[str, ...] = WRITERS,
) -> None:
    """Import vs parse + fold in this process: wall and CPU of this process and of the writer
    process, with the writer in a child process (the default) and in a thread."""
    print(
        f"import vs parse+fold, best of {rounds} interleaved rounds (wall; CPU of this process "
        "/ of the writer process)"
    )
    paths = write_inputs(tmp / "import", data, copies)
    frames = {n: parse_fold(path) for n, path in paths.items()}

    def fold_once(n: int) -> Run:
        own, _ = cpu_seconds()
        t0 = time.perf_counter()
        parse_fold(paths[n])
        wall = time.perf_counter() - t0
        own2, _ = cpu_seconds()
        return wall, own2 - own, 0.0

    def import_once(kind: str, mode: str, n: int) -> Run:
        with database(kind, tmp) as url:
            own, kids = cpu_seconds()
            t0 = time.perf_counter()
            written = import_file(url, paths[n], mode != "thread")
            wall = time.perf_counter() - t0
            own2, kids2 = cpu_seconds()
        assert written == frames[n], (written, frames[n])
        return wall, own2 - own, kids2 - kids

    runs = import_rounds(kinds, copies, rounds, fold_once, import_once, writers)
    print_import_rows(runs, kinds, copies, writers)
    print("  frames: " + ", ".join(f"x{n} {frames[n]}" for n in copies))
    for path in paths.values():
        path.unlink()


def fresh_import_table(
    kinds: list[str],
    tmp: Path,
    data: bytes,
    copies: list[int],
    rounds: int,
    writers: tuple[str, ...] = WRITERS,
) -> None:
    """The same, each run in a process of its own as ``ami-tracker import`` runs (modules
    imported first, not timed): no pages shared with a large benchmark process, so forking the
    writer costs what it costs the command."""
    import subprocess
    import sys

    script = Path(__file__).with_name("_import_once.py")
    paths = write_inputs(tmp / "fresh", data, copies)

    def once(mode: str, path: Path, url: str = "") -> Run:
        out = subprocess.run(
            [sys.executable, str(script), mode, str(path), *([url] if url else [])],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        wall, own, kids = map(float, out[-3:])
        return wall, own, kids

    def import_once(kind: str, mode: str, n: int) -> Run:
        with database(kind, tmp) as url:
            return once(mode, paths[n], url)

    print(f"the same, each run in a fresh process (best of {rounds} interleaved rounds)")
    fold_once = lambda n: once("pf", paths[n])  # noqa: E731
    runs = import_rounds(kinds, copies, rounds, fold_once, import_once, writers)
    print_import_rows(runs, kinds, copies, writers)
    for path in paths.values():
        path.unlink()


def replay_ways(store: Any, path: Path) -> dict[str, Callable[[], object]]:
    """Each way of replaying, from the file and from the database."""
    from tracker.reducer import Reducer
    from tracker.replay import fold, iter_envelopes, replay

    def apply_all(envs: Iterator[Any]) -> int:
        apply = Reducer().apply
        n = 0
        for env in envs:
            apply(env)
            n += 1
        return n

    def drain(envs: Iterator[Any]) -> int:
        return sum(1 for _ in envs)

    def db(threads: bool) -> Iterator[Any]:
        from tracker.store import store as store_module

        store_module.PREFETCH_FROM = 8192 if threads else 1 << 62
        return store.iter_envelopes("bench")

    return {
        "cli file": lambda: replay(path).events,
        "cli db": lambda: apply_all(db(True)),
        "cli db 1 thread": lambda: apply_all(db(False)),
        "same fold file": lambda: fold(iter_envelopes(path)).events,
        "same fold db": lambda: fold(db(True)).events,
        "same fold db 1 thread": lambda: fold(db(False)).events,
        "envelopes file": lambda: drain(iter_envelopes(path)),
        "envelopes db": lambda: drain(db(True)),
        "envelopes db 1 thread": lambda: drain(db(False)),
    }


def interleaved(
    ways: dict[str, Callable[[], object]], rounds: int
) -> dict[str, tuple[list[float], list[float]]]:
    """Wall and CPU seconds (this process, every thread) of each way per round, the ways run
    one after another in every round."""
    import gc

    times: dict[str, tuple[list[float], list[float]]] = {name: ([], []) for name in ways}
    for _ in range(max(1, rounds)):
        for name, fn in ways.items():
            gc.collect()
            t0, c0 = time.perf_counter(), time.process_time()
            fn()
            times[name][0].append(time.perf_counter() - t0)
            times[name][1].append(time.process_time() - c0)
    return times


def spread(file: list[float], db: list[float]) -> str:
    """Best-vs-best ratio (file time / database time) and the range of per-round ratios."""
    ratios = sorted(f / d for f, d in zip(file, db, strict=True))
    return f"{min(file) / min(db):.2f}x ({ratios[0]:.2f}-{ratios[-1]:.2f})"


def log_size(url: str) -> int:
    from tracker.store import open_store
    from tracker.store.sizes import raw_log_bytes

    with open_store(url) as store, store.engine.connect() as conn:
        return raw_log_bytes(conn)


def fold_5000(path: Path, starts: list[int]) -> dict[str, list[float]]:
    """Wall and CPU seconds to fold 5,000 frames from each start (from the world there):
    envelopes decoded beforehand, and from the frames' bytes (parse + decode + fold)."""
    from tracker.ami import AmiConnection
    from tracker.capture import iter_frames
    from tracker.events import envelopes
    from tracker.reducer import Reducer
    from tracker.replay import iter_envelopes
    from tracker.state import World
    from tracker.state.world import decode_world, encode_world

    frames = list(iter_frames(path))
    envs = list(iter_envelopes(path))
    worlds: dict[int, bytes] = {}
    reducer = Reducer()
    for env in envs:
        if env.seq in starts:
            worlds[env.seq] = encode_world(reducer.world)
        reducer.apply(env)
    out: dict[str, list[float]] = {}
    for start in starts:
        chunk = envs[start : start + 5000]
        data = b"".join(f.raw for f in frames[start : start + 5000])

        def run(world: World, items: Any) -> None:
            apply = Reducer(world).apply
            for env in items:
                apply(env)

        def parsed(data: bytes = data, start: int = start) -> Iterator[Any]:
            conn = AmiConnection(expect_banner=False)
            conn.receive_data(data)
            return envelopes(conn, start)

        world = decode_world(worlds[start])
        _, wall, cpu = clocked(lambda w=world, c=chunk: run(w, c))
        out.setdefault("decoded wall", []).append(wall)
        out.setdefault("decoded cpu", []).append(cpu)
        world = decode_world(worlds[start])
        _, wall, cpu = clocked(lambda w=world, p=parsed: run(w, p()))
        out.setdefault("bytes wall", []).append(wall)
        out.setdefault("bytes cpu", []).append(cpu)
    return out


def snapshot_bytes(url: str) -> int:
    from sqlalchemy import func, select

    from tracker.store import Snapshot, open_store

    with open_store(url) as store, store.engine.connect() as conn:
        return int(conn.execute(select(func.sum(func.length(Snapshot.data)))).scalar_one() or 0)


def clocked(fn: Callable[[], Any]) -> tuple[Any, float, float]:
    """``fn()``, its wall and its CPU seconds (this thread: the machine's load aside)."""
    t0, c0 = time.perf_counter(), time.thread_time()
    out = fn()
    return out, time.perf_counter() - t0, time.thread_time() - c0


class Collections:
    """Garbage collections (generation, ms) timed with ``gc.callbacks``, kept per window."""

    def __init__(self) -> None:
        self.window: list[tuple[int, float]] = []
        self._t0 = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._t0 = time.perf_counter()
        else:
            self.window.append((info["generation"], (time.perf_counter() - self._t0) * 1000))

    def take(self) -> list[tuple[int, float]]:
        out, self.window = self.window, []
        return out


def world_points(url: str, points: int, seed: int = 7) -> dict[str, Any]:
    """Wall and CPU seconds of ``world_at`` at random points, after a first call (also
    returned: the store's first connection, its statements' compilation, a cold parser), and
    the garbage collections that ran inside the calls and between them."""
    import gc

    from tracker.store import open_store

    collections = Collections()
    gc.callbacks.append(collections)
    try:
        with open_store(url) as store:
            end = store.server("bench").next_seq
            rng = random.Random(seed)
            _, wall, cpu = clocked(lambda: store.world_at("bench", seq=rng.randrange(end)))
            first = (wall, cpu)
            walls, cpus = [], []
            inside: list[tuple[int, float]] = []
            after: list[tuple[int, float]] = []
            collections.take()
            n0 = n = 0
            for i in range(points + 1):
                window = collections.take()
                inside += window[n0:n]  # ran during the previous call
                after += window[:n0] + window[n:]  # ran by this loop
                if i == points:
                    break
                seq = rng.randrange(end)
                n0 = len(collections.window)
                t0, c0 = time.perf_counter(), time.thread_time()
                got = store.world_at("bench", seq=seq)
                c1, t1 = time.thread_time(), time.perf_counter()
                n = len(collections.window)  # floats and ints: nothing the collector counts
                walls.append(t1 - t0)
                cpus.append(c1 - c0)
                assert got.seq == seq
                del got
    finally:
        gc.callbacks.remove(collections)
    return {"walls": walls, "cpus": cpus, "first": first, "inside": inside, "after": after}


def first_call_fresh(url: str, seq: int) -> tuple[float, float]:
    """CPU ms of a fresh process's ``open_store`` and its first ``world_at`` (imports done):
    the decoder's tables, the statements' compilation and the caches are all cold."""
    import subprocess
    import sys

    code = (
        "import sys, time\n"
        "from tracker.store import open_store\n"
        "t0 = time.thread_time()\n"
        "store = open_store(sys.argv[1])\n"
        "t1 = time.thread_time()\n"
        "store.world_at('bench', seq=int(sys.argv[2]))\n"
        "print((t1 - t0) * 1000, (time.thread_time() - t1) * 1000)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, url, str(seq)],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
    ).stdout.split()
    return float(out[0]), float(out[1])


def percentile(ms: list[float], p: float) -> float:
    """The value under which a fraction ``p`` of ``ms`` lies (nearest rank)."""
    ranked = sorted(ms)
    return ranked[max(0, math.ceil(len(ranked) * p) - 1)]


def summary(seconds: list[float]) -> str:
    ms = [t * 1000 for t in seconds]
    return (
        f"median {statistics.median(ms):.1f} ms, p90 {percentile(ms, 0.9):.1f}, "
        f"p99 {percentile(ms, 0.99):.1f}, max {max(ms):.1f}"
    )


def gc_line(found: list[tuple[int, float]]) -> str:
    full = [ms for gen, ms in found if gen == 2]
    worst = max((ms for _, ms in found), default=0.0)
    return f"{len(found)} ({len(full)} full), longest {worst:.1f} ms"


def main() -> None:
    p = arg_parser(__doc__)
    p.add_argument("--no-pg", action="store_true", help="skip PostgreSQL")
    p.add_argument("--million", action="store_true", help="world-at-point on a 1M-frame store")
    p.add_argument("--points", type=int, default=30, help="random points for world-at-point")
    p.add_argument(
        "--import-copies",
        type=int,
        nargs="+",
        default=[1, 4],
        help="import figures on the load capture repeated this many times (1: as it is)",
    )
    p.add_argument(
        "--import-rounds",
        type=int,
        default=0,
        help="interleaved rounds of the import rows (default: --rounds; more on a noisy machine)",
    )
    p.add_argument(
        "--writers",
        default=",".join(WRITERS),
        help="writers of the import rows, comma-separated: process, thread, forked",
    )
    args = p.parse_args()
    rounds = args.rounds
    backends = ["sqlite"] if args.no_pg else ["sqlite", "postgresql"]
    print("\n## event store (figures on a shared, busy machine: compare ratios, not rates)")
    with tempfile.TemporaryDirectory(prefix="bench-store-") as tmpdir:
        tmp = Path(tmpdir)
        data = load_stream()
        capture = tmp / "load.ami"
        capture.write_bytes(data)
        writers = tuple(w for w in args.writers.split(",") if w)
        import_rounds_n = args.import_rounds or rounds
        import_table(backends, tmp, data, args.import_copies, import_rounds_n, writers)
        fresh_import_table(backends, tmp, data, args.import_copies, import_rounds_n, writers)
        frames = parse_fold(capture)
        replays: dict[str, dict[str, list[float]]] = {}
        head = ("backend", "B/frame", "snap B/f")
        print("{:<11} {:>8} {:>8}".format(*head))
        for kind in backends:
            with database(kind, tmp) as url:
                import_file(url, capture)
                from tracker.store import open_store
                from tracker.store import store as store_module

                with open_store(url) as store:
                    replays[kind] = interleaved(replay_ways(store, capture), rounds)
                store_module.PREFETCH_FROM = 8192
                size = log_size(url)
                snaps = snapshot_bytes(url)
            print(f"{kind:<11} {size / frames:>8.1f} {snaps / frames:>8.1f}")
        print(
            f"replay, database vs file: file s / db s, best of {rounds} interleaved rounds "
            "(range of the per-round ratios); wall, then CPU of the process (all threads)"
        )
        for kind, times in replays.items():
            for way in ("cli", "same fold", "envelopes"):
                for i, clock in enumerate(("wall", "cpu")):
                    file = times[f"{way} file"][i]
                    db = spread(file, times[f"{way} db"][i])
                    one = spread(file, times[f"{way} db 1 thread"][i])
                    print(
                        f"  {kind:<10} {way:<9} {clock:<4} file {min(file):.3f}s  db {db}  "
                        f"db 1 thread {one}"
                    )
        copies = max(2, -(-1_000_000 // frames)) if args.million else max(2, args.repeat)
        big = tmp / "big.ami"
        big.write_bytes(repeat_stream(data, copies))
        with database("sqlite", tmp) as url:
            t0 = time.perf_counter()
            stored = import_file(url, big)
            t_big = time.perf_counter() - t0
            points = world_points(url, args.points)
            fresh = first_call_fresh(url, random.Random(5).randrange(stored))
            snaps = snapshot_bytes(url)
        walls, cpus, first = points["walls"], points["cpus"], points["first"]
        rng = random.Random(11)
        starts = sorted(rng.randrange(frames - 5000) for _ in range(10))
        folds = fold_5000(capture, starts)
        print(
            f"world at {len(walls)} random points of a {stored:,}-frame SQLite store "
            f"(imported in {t_big:.1f}s; snapshots {snaps / stored:.1f} B/frame), vs folding "
            f"5,000 frames from {len(starts)} random points of the load capture (the store's "
            f"first call, not counted: {first[0] * 1000:.1f} ms wall, "
            f"{first[1] * 1000:.1f} ms CPU):"
        )
        for clock in ("wall", "cpu"):
            print(
                f"  {clock:<4} world at a point      {summary(walls if clock == 'wall' else cpus)}"
            )
            print(f"  {clock:<4} 5,000 decoded frames  {summary(folds[f'decoded {clock}'])}")
            print(f"  {clock:<4} 5,000 frames' bytes   {summary(folds[f'bytes {clock}'])}")
        print(
            f"  a fresh process (imports done): open_store {fresh[0]:.1f} ms CPU, its first "
            f"world_at {fresh[1]:.1f} ms CPU (cold decoder tables, statements, caches)"
        )
        print(f"  garbage collections inside world_at: {gc_line(points['inside'])}")
        print(
            "  garbage collections the caller ran between points (due during a world_at, "
            f"run at the caller's next allocation): {gc_line(points['after'])}"
        )
        worst = max(cpus) * 1000
        fold = statistics.median(folds["bytes cpu"]) * 1000
        verdict = "OK" if worst < fold and fresh[1] < fold else "NOT MET"
        print(
            f"max world_at vs fold 5000: {verdict} (CPU: slowest of {len(cpus)} points "
            f"{worst:.1f} ms, a fresh process's first {fresh[1]:.1f} ms; median fold of 5,000 "
            f"frames from bytes {fold:.1f} ms)"
        )


if __name__ == "__main__":
    main()
