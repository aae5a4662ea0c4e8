"""Event store benchmark: import, replay from the database, world at a random point, size.

Figures are ratios against the same work without a database, measured in one run:

* import (``ami-tracker import``'s path: parse + fold + persister) vs parse + fold alone, into
  SQLite and into PostgreSQL (targets >= 0.8x and >= 0.7x);
* replay of every frame from the database vs ``replay`` of the capture file (>= 1.0x);
* the world at random points of a large store (nearest snapshot + later frames) vs folding
  5,000 frames: the median must stay < 50 ms. ``--million`` builds the 1,000,000-frame store
  of the target (the load capture repeated with rewritten ids; minutes on a busy machine);
  the default uses ``--repeat`` copies;
* the raw log's bytes per frame on disk (table + indexes) for the load capture.

PostgreSQL: ``AMI_TRACKER_TEST_PG`` or postgresql+psycopg://postgres@127.0.0.1:5432/test (a
scratch schema is created and dropped); ``--no-pg`` skips it.
"""

from __future__ import annotations

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

from _common import arg_parser, load_stream, repeat_stream

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
    from tracker.replay import replay

    return replay(path).events


def import_file(url: str, path: Path) -> int:
    """``ami-tracker import``'s path (its GC thresholds included)."""
    import gc

    import trio

    from tracker.runtime.importing import import_captures

    saved = gc.get_threshold()
    gc.set_threshold(50_000, 20, 100)
    try:
        result = trio.run(
            lambda: import_captures(
                url, [path], server="bench", spill_path=path.with_suffix(".spill")
            )
        )
    finally:
        gc.set_threshold(*saved)
    return result.written


def fold_from_db(url: str) -> int:
    from tracker.reducer import Reducer
    from tracker.store import open_store

    with open_store(url) as store:
        reducer = Reducer()
        apply = reducer.apply
        n = 0
        for env in store.iter_envelopes("bench"):
            apply(env)
            n += 1
        return n


def log_size(url: str) -> int:
    from tracker.store import open_store
    from tracker.store.sizes import raw_log_bytes

    with open_store(url) as store, store.engine.connect() as conn:
        return raw_log_bytes(conn)


def fold_n(path: Path, n: int) -> float:
    """Seconds to fold the first ``n`` frames of ``path`` (envelopes decoded beforehand)."""
    import itertools

    from tracker.reducer import Reducer
    from tracker.replay import iter_envelopes

    envs = list(itertools.islice(iter_envelopes(path), n))

    def run() -> None:
        reducer = Reducer()
        for env in envs:
            reducer.apply(env)

    return best(run, 3)[1]


def world_points(url: str, points: int, seed: int = 7) -> list[float]:
    from tracker.store import open_store

    with open_store(url) as store:
        end = store.server("bench").next_seq
        rng = random.Random(seed)
        times = []
        for _ in range(points):
            seq = rng.randrange(end)
            t0 = time.perf_counter()
            got = store.world_at("bench", seq=seq)
            times.append(time.perf_counter() - t0)
            assert got.seq == seq
        return times


def main() -> None:
    p = arg_parser(__doc__)
    p.add_argument("--no-pg", action="store_true", help="skip PostgreSQL")
    p.add_argument("--million", action="store_true", help="world-at-point on a 1M-frame store")
    p.add_argument("--points", type=int, default=30, help="random points for world-at-point")
    args = p.parse_args()
    rounds = args.rounds
    backends = ["sqlite"] if args.no_pg else ["sqlite", "postgresql"]
    print("\n## event store (figures on a shared, busy machine: compare ratios, not rates)")
    with tempfile.TemporaryDirectory(prefix="bench-store-") as tmpdir:
        tmp = Path(tmpdir)
        data = load_stream()
        capture = tmp / "load.ami"
        capture.write_bytes(data)
        frames, t_fold = best(lambda: parse_fold(capture), rounds)
        print(f"parse+fold of the load capture: {frames} frames in {t_fold:.3f}s")
        head = ("backend", "import s", "x p+f", "db fold s", "x file", "B/frame")
        print("{:<11} {:>9} {:>6} {:>9} {:>6} {:>8}".format(*head))
        for kind in backends:
            imports = []
            for _ in range(max(1, rounds)):
                with database(kind, tmp) as url:
                    t0 = time.perf_counter()
                    written = import_file(url, capture)
                    imports.append(time.perf_counter() - t0)
                    assert written == frames, (written, frames)
            with database(kind, tmp) as url:
                import_file(url, capture)
                n, t_db = best(lambda u=url: fold_from_db(u), rounds)
                assert n == frames
                size = log_size(url)
            t_import = min(imports)
            print(
                f"{kind:<11} {t_import:>9.3f} {t_fold / t_import:>6.2f} {t_db:>9.3f} "
                f"{t_fold / t_db:>6.2f} {size / frames:>8.1f}"
            )
        copies = max(2, -(-1_000_000 // frames)) if args.million else max(2, args.repeat)
        big = tmp / "big.ami"
        big.write_bytes(repeat_stream(data, copies))
        with database("sqlite", tmp) as url:
            t0 = time.perf_counter()
            stored = import_file(url, big)
            t_big = time.perf_counter() - t0
            times = world_points(url, args.points)
        per5k = fold_n(capture, 5000)
        ms = sorted(t * 1000 for t in times)
        print(
            f"world at {len(ms)} random points of a {stored:,}-frame SQLite store "
            f"(imported in {t_big:.1f}s): median {statistics.median(ms):.1f} ms, "
            f"p90 {ms[int(len(ms) * 0.9)]:.1f} ms, max {ms[-1]:.1f} ms; "
            f"folding 5,000 frames: {per5k * 1000:.1f} ms decoded beforehand, "
            f"{t_fold / frames * 5000 * 1000:.1f} ms from bytes (parse + fold)"
        )


if __name__ == "__main__":
    main()
