"""A writer process forked at the start of a command, before its heavy imports.

A fork copies no memory at first: parent and child share every page of the parent's heap until
one of them writes to it, and each first write to a shared page is a page fault and a copy.
Forked once the importing process has loaded SQLAlchemy, the event types and the reducer, the
writer shares that whole heap with it, and the import's open and fold take ~5 000 more faults
(~3.6 us each on a 2-core VM: ~20 ms of a 0.25 s import; bench/README.md, "Import, round 7").
Forked first, the child shares only the interpreter's first pages and loads its modules
itself, on the other core, while the command loads its own.

The command loads its modules for ~0.3-0.5 s; the child is connected well before that ends,
and meanwhile also opens what the import needs first (:class:`Opening`: the server's row and its
lease): the import starts folding at once instead of after its own open (measured: 8-10 ms on
SQLite, 22-25 ms on PostgreSQL: a connection, the dialect's set-up, eight statements).

This module imports nothing of ``tracker`` (a command calls it before anything heavy); the
child runs ``target(conn, parent_end, shared, url, opening)``, which imports the writer. A
writer made with it (:class:`~tracker.store.writer_process.WriterProcess`, ``prestarted=``)
takes the child over; :meth:`Prestarted.discard` stops one nothing took.
"""

from __future__ import annotations

import dataclasses
import mmap
import multiprocessing
import multiprocessing.util
import os
import signal
import warnings
from collections.abc import Callable
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess

SHARED_BYTES = 64 << 20
"""Shared memory for a writer's requests (see :mod:`tracker.store.writer_process`)."""

PROCESS_FROM_BYTES = 8 << 20
"""Captures this large (uncompressed: :func:`~tracker.capture.expanded_size`) are imported with
a writer process forked when the store opens, where none was prestarted (the Python API's
``import_captures``); smaller ones with a thread. A writer process costs a fixed ~30-50 ms (the
fork, its first write with cold caches) that only a longer import wins back. Measured, each
import in a fresh process as the command runs (bench/README.md, import round 5, before the
prestart), SQLite / PostgreSQL: 0.4 MB thread faster by ~35 / 45 ms; 4 MB and 7 MB even; 14 MB
(the load capture) process faster by ~40 ms each."""

PRESTART_FROM_BYTES = 1 << 20
"""Captures this large are imported with a prestarted writer process (``ami-tracker import``).
Measured against the thread writer, each import in a fresh process as the command runs, best of
10 interleaved (2026-11-30), SQLite / PostgreSQL: 0.4 MB 62 vs 76 / 95 vs 104 ms; 2 MB 90 vs
119 / 122 vs 137 ms; 4 MB 121 vs 145 / 189 vs 202 ms. Below ~1 MB (a few thousand frames)
the gain no longer pays for the ~0.55 s of CPU the child spends loading its modules."""


@dataclasses.dataclass(frozen=True)
class Opening:
    """What a prestarted child opens for the command while the command loads its modules: the
    server's row (made if new) and its lease, held for process ``pid`` (the command: the
    lease names the process that lives as long as the import), with ``stale_after``."""

    server: str
    pid: int
    stale_after: float | None = None
    """None: the lease's default (:data:`~tracker.store.lease.STALE_AFTER`)."""


DISCARD_WAIT = 10.0
"""Seconds a discarded child asked to open may take to give its lease back (it may still be
loading its modules, ~0.5 s, or connecting) before it is killed."""

Target = Callable[[Connection, Connection, mmap.mmap, str, "Opening | None"], None]


@dataclasses.dataclass(eq=False)
class Prestarted:
    """A writer child waiting for its writer: its process, our end of its pipe, the shared
    memory, and the database it connects to."""

    url: str
    process: BaseProcess
    conn: Connection
    shared: mmap.mmap
    opening: Opening | None = None
    """What the child opens before its first write (its answer follows its ready note)."""
    taken: bool = False

    def discard(self) -> None:
        """Stop the child unless a writer took it; one a writer took and stopped without
        waiting for it, wait for. A child nothing took has written nothing: killed, unless
        it was asked to open (it may hold the lease by now: it gives it back and exits at the
        end of its pipe, once connected)."""
        if self.taken:
            self.conn.close()  # stopped already, unless the command is failing: stop it now
            join_child(self.process)
            return
        self.taken = True
        self.conn.close()
        self.shared.close()
        if self.opening is not None:
            join_child(self.process, DISCARD_WAIT)
        else:
            self.process.kill()
            self.process.join()


def prestart(url: str, target: Target, opening: Opening | None = None) -> Prestarted | None:
    """Fork a writer child for ``url`` now, which opens ``opening`` once it is connected;
    None where ``fork`` is not available, or on one core, where the child loading its modules
    would delay this process loading its own (the writer forked later shares them). Call it
    before this process opens the database: a SQLite file open here would share its lock
    state with the child."""
    if "fork" not in multiprocessing.get_all_start_methods() or _cores() < 2:
        return None
    process, ours, shared = fork_writer(_child, (target, url, opening))
    prestarted = Prestarted(url, process, ours, shared, opening)
    # at interpreter exit, close our end before multiprocessing joins its children: the child
    # sees the end of its pipe and exits
    multiprocessing.util.Finalize(prestarted, ours.close, exitpriority=10)
    return prestarted


def fork_writer(
    target: Callable[..., None], args: tuple[object, ...], shared_bytes: int = SHARED_BYTES
) -> tuple[BaseProcess, Connection, mmap.mmap]:
    """Fork a writer child running ``target(its_end, our_end, shared, *args)``: the process,
    our end of its pipe, and the memory it shares with us (``shared_bytes``, anonymous)."""
    ctx = multiprocessing.get_context("fork")
    ours, theirs = ctx.Pipe()
    shared = mmap.mmap(-1, shared_bytes)
    process = ctx.Process(
        target=target, args=(theirs, ours, shared, *args), name="ami-tracker writer", daemon=True
    )
    with warnings.catch_warnings():
        # Python 3.12+ warns that a forked child of a threaded process may deadlock on a lock
        # another thread held: the child takes no lock of the parent's (it builds its own
        # engine and never returns into the parent's code)
        warnings.filterwarnings("ignore", ".*fork.*", DeprecationWarning)
        process.start()
    theirs.close()
    return process, ours, shared


def join_child(process: BaseProcess, timeout: float = 30.0) -> None:
    """Wait for a writer child told to stop (its pipe closed); one still running after
    ``timeout`` seconds (a write stuck in the database) is killed."""
    if process.pid is None:  # never started
        return
    process.join(timeout)
    if process.is_alive():  # pragma: no cover (a write stuck for 30 s)
        process.kill()
        process.join()


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _child(
    conn: Connection,
    parent_end: Connection,
    shared: mmap.mmap,
    target: Target,
    url: str,
    opening: Opening | None,
) -> None:
    # an interrupt is for the command, which decides when writing stops (the child stops at
    # the end of its pipe): not a traceback from a child still loading its modules
    for name in ("SIGINT", "SIGTERM"):
        signal.signal(getattr(signal, name), signal.SIG_IGN)
    target(conn, parent_end, shared, url, opening)


__all__ = [
    "PRESTART_FROM_BYTES",
    "PROCESS_FROM_BYTES",
    "SHARED_BYTES",
    "Opening",
    "Prestarted",
    "Target",
    "fork_writer",
    "join_child",
    "prestart",
]
