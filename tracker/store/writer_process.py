"""A :class:`~tracker.store.writer.BatchWriter` in a child process, fed packed batches.

In one process the writer's Python (encoding blocks, building reporting rows, SQLAlchemy)
holds the GIL while the reader parses and folds: it adds to their time instead of overlapping
it, and a long write delays the reader. Here the batches are packed by the caller
(:func:`~tracker.store.packed.pack`, C-level passes), encoded as one msgpack message into
memory shared with the child (a short note down the pipe says it is there), and written by a
child process with its own connection. ``write`` waits for the answer; an event loop instead
sends with :meth:`~WriterProcess.request`, waits for :meth:`~WriterProcess.reply_fileno` to be
readable and takes the answer (:meth:`~WriterProcess.take_reply`): no thread, so no thread
that must win the GIL back from the fold after each system call. A write has the same meaning
as :meth:`BatchWriter.write` (one transaction, all or nothing, idempotent by offset); an error
in the child comes back as :class:`WriterFailed` saying whether it is worth retrying; a dead
child is replaced at the next ``write`` (its successor reads where the log stands from the
database).

The child is forked (the parent's modules are already imported: it starts in milliseconds, not
the ~0.6 s a fresh interpreter takes to import SQLAlchemy and the event types). Right after the
fork it frees itself from the parent's resources: it ignores SIGINT/SIGTERM (the parent decides
when writing stops, and it stops when the pipe closes), drops trio's signal wake-up fd, turns
its logging off (failures go back to the parent, which logs them), freezes
the inherited objects (the garbage collector never finalizes the parent's sockets or
connections in it) and closes every inherited descriptor but its pipe and the standard
streams, so a socket the parent closes is really closed. Then, while the parent opens the
store and folds the first frames, it connects and builds what its first write would build.
A child prestarted by a command (:mod:`tracker.prestart`) may also be asked to open for it
(:class:`~tracker.prestart.Opening`): it checks the schema, makes the server's row, takes the
lease for the command and answers after its ready note (:attr:`WriterProcess.opened`); it gives
that lease back when its pipe closes, after its last write.
Where ``fork`` is not available, or the database is SQLite in memory (one database per
connection), callers use the writer in a thread instead (:func:`process_writer_supported`).
"""

from __future__ import annotations

import contextlib
import gc
import logging
import mmap
import multiprocessing
import multiprocessing.util
import os
import signal
import sys
import traceback
from collections.abc import Sequence
from multiprocessing.connection import Connection
from typing import Any, NamedTuple, NoReturn

import msgspec
from sqlalchemy import Engine, make_url
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import configure_mappers

from .. import prestart as _prestart
from ..errors import StoreError
from ..prestart import Opening, Prestarted, fork_writer, join_child
from ..reducer.version import fold_version
from .engine import checkpoint, create, describe, is_memory, is_transient, redact, translated
from .lease import STALE_AFTER, Lease, acquire, release
from .packed import Packed, changes_decoder, needs_of, pack
from .schema import Projection
from .writer import BLOCK_FRAMES, Batch, BatchWriter, WriteResult

log = logging.getLogger(__name__)


class WriterFailed(StoreError):
    """A write in the writer process failed (nothing of it was committed)."""

    def __init__(self, message: str, *, transient: bool) -> None:
        super().__init__(message)
        self.transient = transient


class _Write(msgspec.Struct, array_like=True, tag=True):
    server_id: int
    batches: list[Packed]


class _Shared(msgspec.Struct, array_like=True, tag=True):
    """A request left in the shared memory, ``size`` bytes from its start."""

    size: int


class _Done(msgspec.Struct, array_like=True, tag=True):
    written: int
    skipped: int
    snapshots: int


class _Failed(msgspec.Struct, array_like=True, tag=True):
    message: str
    transient: bool
    traceback: str = ""


class _Opened(msgspec.Struct, array_like=True, tag=True):
    server_id: int
    next_seq: int
    token: str
    host: str
    pid: int


class Opened(NamedTuple):
    """What a prestarted child opened (:class:`~tracker.prestart.Opening`): the server's id,
    the next frame's seq in its log then, and the lease it took for the command."""

    server_id: int
    next_seq: int
    lease: Lease


_READY = b"ready"
_encoder = msgspec.msgpack.Encoder()
_write_decoder = msgspec.msgpack.Decoder(_Write)
_request_decoder = msgspec.msgpack.Decoder(_Write | _Shared)

SHARED_BYTES = _prestart.SHARED_BYTES
"""Shared memory for requests (a mapping made before the fork; pages are only used as far as
the largest request reaches): a request of 10 000 frames (~4.6 MB) copied into it costs ~0.1
ms, sent down the pipe ~3-5 ms of this process waiting for the child to read each 64 KB. A
larger request goes down the pipe."""
_reply_decoder = msgspec.msgpack.Decoder(_Done | _Failed)
_opened_decoder = msgspec.msgpack.Decoder(_Opened | _Failed)

CHECKPOINT_FRAMES = 2000
"""After writing this many frames, the child checkpoints a SQLite database once it has answered
and no request waits (:func:`~tracker.store.engine.checkpoint`): the write-ahead log is copied
into the database while the caller folds, not when the last connection closes (measured: the
close of an import of the load capture, 4 MB of log, 11 ms; after these checkpoints, ~2 ms each
in the child, 1.5 ms)."""


def process_writer_supported(url: str) -> bool:
    """A writer process can write to ``url`` from here: ``fork`` exists and the database is not
    SQLite in memory (one database per connection)."""
    if "fork" not in multiprocessing.get_all_start_methods():
        return False
    try:
        parsed = make_url(url)
    except Exception:
        return False
    return not (parsed.get_backend_name() == "sqlite" and is_memory(parsed))


def fork_is_safe(url: str) -> bool:
    """Forking now leaves the child free to open ``url``. SQLite keeps per-file lock state in
    process-wide memory that a child inherits: a connection the child opens to a file this
    process has open (its database, ``-wal`` or ``-shm``) shares state whose locks the child
    does not hold, and fails (``locking protocol``) or worse. So for SQLite no descriptor of
    this process may refer to the file (read from ``/proc/self/fd``; without it, never)."""
    if not process_writer_supported(url):
        return False
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return True
    path = parsed.database or ""
    try:
        names = os.listdir("/proc/self/fd")
    except OSError:
        return False
    targets = {os.path.realpath(path + suffix) for suffix in ("", "-wal", "-shm", "-journal")}
    for name in names:
        try:
            if os.readlink(f"/proc/self/fd/{name}") in targets:
                return False
        except OSError:
            continue
    return True


class WriterProcess:
    """Writes packed batches from a child process (not thread-safe: one caller at a time, like
    :class:`BatchWriter`). The child is forked when this is made, so make it before this
    process opens the database (see :func:`fork_is_safe`); when it cannot be forked safely, or
    dies and cannot be forked again safely, the batches are written from this process."""

    def __init__(
        self,
        url: str,
        server_id: int | None = None,
        *,
        projections: Sequence[Projection] = (),
        block_frames: int = BLOCK_FRAMES,
        prestarted: Prestarted | None = None,
    ) -> None:
        self.url = url
        self.server_id = server_id
        """The server written to (set it before the first write)."""
        self._prestarted = prestarted
        """A child forked earlier (:mod:`tracker.prestart`), taken instead of a fork when it
        writes what this writer would (the same database, the default projections and block
        size); otherwise stopped."""
        self.projections = tuple(projections)
        self.needs = needs_of(self.projections)
        self.block_frames = block_frames
        self.frames_written = 0
        self._process: Any = None
        self._conn: Connection | None = None
        self._local: BatchWriter | None = None
        self._awaiting = False
        self._shared: mmap.mmap | None = None
        self._buffer = bytearray()
        self._stopped = False
        self._ready = False
        self._opening: Opening | None = None
        self.opened: Opened | None = None
        """What the prestarted child taken opened (after :meth:`wait_ready`; None: it was
        asked nothing, or it failed, and the caller opens as usual)."""
        self.open_failure: WriterFailed | None = None
        """Why the prestarted child could not open (``transient``: the database could not be
        reached; the caller need not try again at once)."""
        self._child_lease = False
        self._start()

    @property
    def in_child(self) -> bool:
        """Batches go to a child process (False: written from this one)."""
        return self._conn is not None

    def pack(self, batch: Batch) -> Packed:
        return pack(batch, self.needs)

    def write(self, batches: Sequence[Batch | Packed]) -> WriteResult:
        """Store ``batches`` in one transaction; all or nothing."""
        if self.server_id is None:
            raise ValueError("WriterProcess.server_id is not set")
        if self._stopped:
            raise WriterFailed("the writer process was stopped", transient=False)
        if self._awaiting:
            self.take_reply()  # an earlier request's answer (its frames are counted)
        if self._conn is None:
            self._start()
        if self.request(batches):
            return self.take_reply()
        return self._write_here([self._packed(b) for b in batches])

    @property
    def awaiting(self) -> bool:
        """A request was sent and its answer not taken yet."""
        return self._awaiting

    def request(self, batches: Sequence[Batch | Packed]) -> bool:
        """Send ``batches`` to the child, to be stored in one transaction, without waiting:
        the answer is read by :meth:`take_reply` once :meth:`reply_fileno` is readable (an
        event loop waits for it instead of a thread). False, and nothing sent, when no child is
        running (write them with :meth:`write`, which starts one or writes here)."""
        if self.server_id is None:
            raise ValueError("WriterProcess.server_id is not set")
        if self._awaiting:
            raise RuntimeError("take the answer to the last request first")
        if self._conn is None:
            return False
        self.wait_ready()
        conn = self._conn
        assert conn is not None
        # encoded into a buffer kept from one request to the next: a new one of a few MB
        # would be fresh pages, faulted in at each request (~2 ms for 10 000 frames)
        data = self._buffer
        _encoder.encode_into(_Write(self.server_id, [self._packed(b) for b in batches]), data)
        size = len(data)
        shared = self._shared
        try:
            if shared is not None and size <= len(shared):
                # the child is not reading it: it answered the last request, and copies a
                # request out before decoding it
                shared[:size] = data
                conn.send_bytes(_encoder.encode(_Shared(size)))
            else:
                conn.send_bytes(data)
        except OSError as exc:
            self._died(exc)
        self._awaiting = True
        return True

    def reply_fileno(self) -> int:
        """The descriptor that becomes readable when the child answers."""
        if self._conn is None:
            raise WriterFailed("the writer process is not running", transient=True)
        return self._conn.fileno()

    def take_reply(self) -> WriteResult:
        """The answer to the last :meth:`request` (blocks until it comes)."""
        conn = self._conn
        if not self._awaiting or conn is None:
            raise RuntimeError("no request is waiting for an answer")
        self._awaiting = False
        try:
            reply = _reply_decoder.decode(conn.recv_bytes())
        except (EOFError, OSError) as exc:
            self._died(exc)
        if isinstance(reply, _Failed):
            if reply.traceback:
                log.error("writer process: %s", reply.traceback)
            raise WriterFailed(reply.message, transient=reply.transient)
        self.frames_written += reply.written
        return WriteResult(reply.written, reply.skipped, reply.snapshots)

    def _packed(self, batch: Batch | Packed) -> Packed:
        return batch if isinstance(batch, Packed) else self.pack(batch)

    def _died(self, exc: BaseException) -> NoReturn:
        self._awaiting = False
        code = self._reap()
        raise WriterFailed(
            f"the writer process died ({_exit_reason(code)}): {type(exc).__name__}",
            transient=True,
        ) from None

    @property
    def holds_lease(self) -> bool:
        """The running child took the caller's lease (:attr:`opened`): it gives it back when
        it stops, after its last write."""
        return self._child_lease and self._conn is not None

    def stop(self) -> bool:
        """Let the child exit (after the write in progress, if any) without waiting for it:
        its exit then overlaps what the caller does next (:meth:`close` waits for it). No more
        writes after this. True if the child gives back the lease it took (:attr:`opened`);
        the caller releases it otherwise."""
        releases = self.holds_lease
        conn, self._conn = self._conn, None
        self._awaiting = False
        self._child_lease = False
        self._drop_shared()
        if conn is not None:
            conn.close()  # the child sees the end of its pipe and exits
        self._stopped = True
        return releases

    def close(self, *, wait: bool = True) -> None:
        """Stop the child (after the write in progress, if any) and wait for it; ``wait``
        False: let it exit in the background, when every answer is in (nothing is left for it
        to write: it only closes its connection, ~3 ms, and exits, ~5 ms, measured on an import
        of the load capture). It is joined then by :func:`~tracker.prestart.join_child` (the
        import command does it once its result is printed), or at the latest when this process
        exits."""
        self.stop()
        process, self._process = self._process, None
        if process is not None:
            if wait:
                join_child(process)
            else:
                multiprocessing.util.Finalize(process, join_child, (process,), exitpriority=5)
        local, self._local = self._local, None
        if local is not None:
            local.engine.dispose()

    def __enter__(self) -> WriterProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def _write_here(self, packed: list[Packed]) -> WriteResult:
        local = self._local
        if local is None or local.server_id != self.server_id:
            assert self.server_id is not None
            engine = create(self.url) if local is None else local.engine
            local = self._local = BatchWriter(
                engine, self.server_id, projections=self.projections, block_frames=self.block_frames
            )
        result = local.write(packed)
        self.frames_written += result.written
        return result

    def _start(self) -> None:
        """Fork the child, or take the prestarted one (its ready handshake is awaited by
        :meth:`wait_ready`: the caller opens the store meanwhile)."""
        if self._take_prestarted():
            return
        if self._local is not None or not fork_is_safe(self.url):
            return
        process, ours, shared = fork_writer(
            _serve, (self.url, self.projections, self.block_frames), SHARED_BYTES
        )
        self._conn, self._process, self._shared = ours, process, shared
        self._ready = False
        # at interpreter exit, multiprocessing joins its children after running finalizers:
        # closing our end first lets the child see the end of its pipe (it ignores SIGTERM)
        multiprocessing.util.Finalize(self, ours.close, exitpriority=10)

    def _take_prestarted(self) -> bool:
        pre, self._prestarted = self._prestarted, None
        if pre is None or pre.taken:
            return False
        from .models import default_projections  # here: models loads the reporting tables

        if (
            pre.url != self.url
            or self.block_frames != BLOCK_FRAMES
            or self.projections != default_projections()
        ):
            pre.discard()
            return False
        pre.taken = True
        self._conn, self._process, self._shared = pre.conn, pre.process, pre.shared
        self._ready = False
        self._opening = pre.opening
        multiprocessing.util.Finalize(self, pre.conn.close, exitpriority=10)
        return True

    def wait_opened(self, timeout: float = 30.0) -> Opened | None:
        """What the prestarted child taken opened (it was asked to: :attr:`opened`), once it
        is ready; None at once when it was asked nothing."""
        if self._opening is not None:
            self.wait_ready(timeout)
        return self.opened

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Wait for the child to say it has let go of what it inherited (descriptors,
        signals); :meth:`request` waits for it too. Not awaited by the fork itself: a
        database this process opens after the fork is nothing the child inherited, so the
        caller opens the store meanwhile (measured: the handshake took ~5-10 ms)."""
        conn = self._conn
        if conn is None or self._ready:
            return
        opening, self._opening = self._opening, None
        try:
            ready = conn.poll(timeout) and conn.recv_bytes() == _READY
            if ready and opening is not None:  # its answer: what it opened, or why not
                answer = _opened_decoder.decode(conn.recv_bytes()) if conn.poll(timeout) else None
                ready = answer is not None
                if isinstance(answer, _Opened):
                    lease = Lease(
                        answer.server_id, opening.server, answer.token, answer.host, answer.pid
                    )
                    self.opened = Opened(answer.server_id, answer.next_seq, lease)
                    self._child_lease = True
                elif isinstance(answer, _Failed):
                    log.debug("the writer process could not open %s: %s", opening, answer.message)
                    self.open_failure = WriterFailed(answer.message, transient=answer.transient)
        except (EOFError, OSError, msgspec.DecodeError):
            ready = False
        if not ready:
            process = self._process
            if process is not None:
                process.kill()
            self._reap()
            raise WriterFailed("the writer process did not start", transient=True)
        self._ready = True

    def _drop_shared(self) -> None:
        shared, self._shared = self._shared, None
        if shared is not None:
            shared.close()  # unmapped here; the child's mapping stays until it exits

    def _reap(self) -> int | None:
        process, conn = self._process, self._conn
        self._process = self._conn = None
        self._child_lease = False  # the lease stays the caller's to give back
        self._drop_shared()
        if conn is not None:
            conn.close()
        if process is None:
            return None
        process.join(5)
        return process.exitcode  # type: ignore[no-any-return]


def _exit_reason(code: int | None) -> str:
    if code is None:
        return "still running"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


# -- the child -------------------------------------------------------------------------------
def _serve(
    conn: Connection,
    parent_end: Connection,
    shared: mmap.mmap,
    url: str,
    projections: tuple[Projection, ...],
    block_frames: int,
    opening: Opening | None = None,
) -> None:
    parent_end.close()
    _detach(conn.fileno())
    try:
        conn.send_bytes(_READY)
    except OSError:
        return  # the parent is gone already
    engine, unready = _warm_up(url)
    writer: BatchWriter | None = None
    unchecked = 0  # frames written since the last checkpoint
    lease: Lease | None = None
    try:
        if opening is not None:
            answer, lease = _open(engine, unready, url, opening)
            try:
                conn.send_bytes(_encoder.encode(answer))
            except OSError:
                return
        while True:
            try:
                data = conn.recv_bytes()
            except (EOFError, OSError):
                return  # the parent closed the pipe (or died): nothing is in progress
            try:
                request = _request_decoder.decode(data)
                if isinstance(request, _Shared):  # copied out first: see WriterProcess.request
                    request = _write_decoder.decode(shared[: request.size])
                if writer is None or writer.server_id != request.server_id:
                    engine = engine if engine is not None else create(url)
                    writer = BatchWriter(
                        engine,
                        request.server_id,
                        projections=projections,
                        block_frames=block_frames,
                    )
                result = writer.write(request.batches)
                reply: _Done | _Failed = _Done(*result)
            except Exception as exc:
                reply = _failure(exc, url)
            try:
                conn.send_bytes(_encoder.encode(reply))
            except OSError:
                return
            if isinstance(reply, _Done) and writer is not None:
                unchecked += reply.written
                try:
                    waiting = conn.poll(0)
                except OSError:
                    return
                if unchecked >= CHECKPOINT_FRAMES and not waiting:
                    unchecked = 0
                    checkpoint(writer.engine)
    finally:
        if engine is not None:
            if lease is not None:  # after the last write: the caller's import is over
                with contextlib.suppress(Exception):
                    release(engine, lease)
            engine.dispose()


def serve_prestarted(
    conn: Connection,
    parent_end: Connection,
    shared: mmap.mmap,
    url: str,
    opening: Opening | None = None,
) -> None:
    """A prestarted child's life (:mod:`tracker.prestart`): a writer with the default
    projections and block size, which first opens ``opening``."""
    from .models import default_projections

    _serve(conn, parent_end, shared, url, default_projections(), BLOCK_FRAMES, opening)


def _open(
    engine: Engine | None, unready: Exception | None, url: str, opening: Opening
) -> tuple[_Opened | _Failed, Lease | None]:
    """The server's row (made if new) and its lease for the caller, on a database whose schema
    is up to date (``unready``: why there is no ``engine``). A database that cannot be reached
    is said as such (transient); any other failure is the caller's to meet again when it opens
    itself (it then says what is wrong: a schema to upgrade, a lease held elsewhere...)."""
    from . import migrate
    from .store import Store

    try:
        if engine is None:
            raise unready if unready is not None else StoreError(f"cannot open {redact(url)}")
        with translated(url), engine.connect() as conn:
            migrate.check(conn)
        info = Store(engine, url).ensure_server(opening.server)
        stale_after = STALE_AFTER if opening.stale_after is None else opening.stale_after
        lease = acquire(engine, info.id, opening.server, stale_after=stale_after, pid=opening.pid)
    except Exception as exc:
        return _failure(exc, url), None
    return _Opened(info.id, info.next_seq, lease.token, lease.host, lease.pid), lease


def _warm_up(url: str) -> tuple[Engine | None, Exception | None]:
    """Do now what the first write would do first (measured ~30 ms of a new child's first
    write, while the parent is still opening the store and folding the first frames): build the
    change records' decoder, compute the fold version, configure the ORM's mappers, connect. A
    failure here is the first write's to report (or the opening's: returned)."""
    try:
        changes_decoder()
        fold_version()
        configure_mappers()
        engine = create(url)
        with engine.connect():
            pass
    except Exception as exc:
        return None, exc
    return engine, None


def _failure(exc: Exception, url: str) -> _Failed:
    if isinstance(exc, StoreError):
        return _Failed(str(exc), getattr(exc, "transient", False))
    if is_transient(exc):
        return _Failed(describe(exc, url), True)
    if isinstance(exc, sa_exc.SQLAlchemyError):
        return _Failed(describe(exc, url), False)
    # our own bug: the parent logs where (the child's logging is off, see _detach)
    where = "".join(traceback.format_exception(exc)).rstrip()
    return _Failed(f"{type(exc).__name__}: {exc}", False, where)


def _detach(keep: int) -> None:
    """Let go of what the child inherited from the parent (see the module docstring)."""
    for name in ("SIGINT", "SIGTERM"):
        signal.signal(getattr(signal, name), signal.SIG_IGN)
    signal.set_wakeup_fd(-1)
    logging.disable(logging.CRITICAL)  # the parent's handlers may write to closed descriptors
    gc.freeze()
    streams = {f.fileno() for f in (sys.stdin, sys.stdout, sys.stderr) if _has_fd(f)}
    for fd in _open_fds():
        if fd > 2 and fd != keep and fd not in streams:
            with contextlib.suppress(OSError):
                os.close(fd)


def _has_fd(stream: Any) -> bool:
    try:
        stream.fileno()
    except (AttributeError, OSError, ValueError):
        return False
    return True


def _open_fds() -> list[int]:
    try:
        return sorted(int(name) for name in os.listdir("/proc/self/fd"))
    except OSError:  # no /proc: every possible descriptor
        return list(range(3, os.sysconf("SC_OPEN_MAX") if hasattr(os, "sysconf") else 1024))


__all__ = [
    "Opened",
    "WriterFailed",
    "WriterProcess",
    "process_writer_supported",
    "serve_prestarted",
]
