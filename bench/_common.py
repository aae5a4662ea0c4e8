"""Shared helpers for the benchmarks: input streams, optional parts, timing and the result table.

The benchmarks run from a checkout (``tracker`` is imported from the tree, see ``bench/run``).
Optional third-party comparisons (panoramisk, cacofonisk) and parts of the tracker that may not
exist yet are looked up with :func:`optional`, which returns None and records why.
"""

from __future__ import annotations

import argparse
import gc
import gzip
import importlib
import re
import resource
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

LOAD = ROOT / "fixtures" / "load.ami.gz"
CHUNK = 1 << 16
"""Bytes handed to a parser per call (a typical socket read)."""

_UUID = re.compile(rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
NOTES: list[str] = []
"""Messages about parts that could not run (printed under the table)."""


def optional(
    module: str, attr: str | None = None, *, why: str = "", fallback: str | None = None
) -> Any:
    """Import ``module`` (and ``attr`` from it) or return None, noting what is missing.

    Any exception counts as missing: a part being written may not import yet. ``fallback`` is
    a second module to look ``attr`` up in (e.g. where it is defined before being exported).
    """
    if fallback is not None:
        found = optional(module, attr, why=why)
        if found is not None:
            return found
        NOTES.pop()
        return optional(fallback, attr, why=why)
    try:
        mod: ModuleType = importlib.import_module(module)
        return mod if attr is None else getattr(mod, attr)
    except Exception as exc:
        what = f"{module}.{attr}" if attr else module
        NOTES.append(f"SKIPPED {why or what}: {what} unavailable ({exc.__class__.__name__}: {exc})")
        return None


def load_stream() -> bytes:
    """The raw load capture (decompressed once, before any timing)."""
    return gzip.decompress(LOAD.read_bytes())


def repeat_stream(data: bytes, n: int) -> bytes:
    """``data`` repeated ``n`` times as ONE session, each copy with its own ids.

    The banner is kept once. In copy ``k`` (k >= 1) the epoch prefix ``1795`` (Uniqueid,
    Linkedid, DestUniqueid, ... and Timestamp) becomes ``1795 + k``, bridge UUIDs start with
    ``k`` in hex and ActionIDs ``lab-N`` become ``labk-N``, so no id repeats across copies.
    """
    nl = data.index(b"\n") + 1
    banner, body = data[:nl], data[nl:]
    parts = [banner, body]
    for k in range(1, n):
        prefix = b"%08x" % k
        chunk = body.replace(b"1795", str(1795 + k).encode())
        chunk = chunk.replace(b"ActionID: lab-", b"ActionID: lab%d-" % k)
        chunk = _UUID.sub(lambda m, p=prefix: p + m.group(0)[8:], chunk)  # type: ignore[misc]
        parts.append(chunk)
    return b"".join(parts)


def chunks(data: bytes, size: int = CHUNK) -> Iterator[bytes]:
    mv = memoryview(data)
    for i in range(0, len(data), size):
        yield bytes(mv[i : i + size])


def streams(repeat: int) -> list[tuple[str, bytes]]:
    """The inputs of a run: the load capture, and the repeated stream when ``repeat > 1``."""
    data = load_stream()
    out = [("load", data)]
    if repeat > 1:
        out.append((f"load x{repeat}", repeat_stream(data, repeat)))
    return out


def arg_parser(doc: str | None) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=doc)
    p.add_argument(
        "--repeat",
        type=int,
        default=2,
        help="also run on the load capture repeated N times with rewritten ids (1: off)",
    )
    p.add_argument("--rounds", type=int, default=3, help="timed rounds per figure (best kept)")
    p.add_argument("--calls", type=int, default=10_000, help="live calls (bench_memory)")
    return p


@dataclass
class Row:
    name: str
    events: int
    seconds: float
    mb: float | None = None
    """Peak traced memory during the run, in MB (separate, untimed run)."""
    note: str = ""

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0


def timed(fn: Callable[[], int], rounds: int) -> tuple[int, float]:
    """Best wall time of ``rounds`` calls of ``fn`` (which returns its item count)."""
    best = float("inf")
    count = 0
    for _ in range(max(1, rounds)):
        gc.collect()
        t0 = time.perf_counter()
        count = fn()
        best = min(best, time.perf_counter() - t0)
    return count, best


def peak_mb(fn: Callable[[], object]) -> float:
    """Peak memory traced by tracemalloc while ``fn`` runs (slow: never timed)."""
    gc.collect()
    tracemalloc.start()
    try:
        fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak / 1e6


def retained_bytes(build: Callable[[], object]) -> tuple[object, int]:
    """Bytes still allocated after ``build()`` returns, held by its result."""
    gc.collect()
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        result = build()
        gc.collect()
        after, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return result, after - before


def maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def print_table(title: str, rows: list[Row]) -> None:
    print(f"\n## {title}")
    head = f"{'name':<52} {'events':>9} {'seconds':>8} {'events/s':>10} {'peak MB':>8}  note"
    print(head)
    print("-" * len(head))
    for r in rows:
        mb = f"{r.mb:8.1f}" if r.mb is not None else f"{'-':>8}"
        print(f"{r.name:<52} {r.events:>9} {r.seconds:>8.3f} {r.rate:>10,.0f} {mb}  {r.note}")


def print_notes() -> None:
    for note in dict.fromkeys(NOTES):
        print(f"  * {note}")
    print(f"  process ru_maxrss: {maxrss_mb():.0f} MB; python {sys.version.split()[0]}")


@contextmanager
def import_gc() -> Iterator[None]:
    """The garbage collector's thresholds as ``ami-tracker import`` sets them, then restored."""
    from tracker.cli.importer import IMPORT_GC_THRESHOLDS

    saved = gc.get_threshold()
    gc.set_threshold(*IMPORT_GC_THRESHOLDS)
    try:
        yield
    finally:
        gc.set_threshold(*saved)
