"""The persister: folded batches into the store, from a worker thread, never losing one.

``put`` (called by the fold task, through :class:`LiveFeed`) only appends to memory: the reader
and the fold never wait on SQL (DESIGN.md decision 4). A flush task writes what accumulated,
by count (``batch_frames``) and by time (at least every ``flush_interval`` s): sent to a
writer process and its answer awaited in the event loop, or, where there is none, with a
:class:`~tracker.store.BatchWriter` in ``trio.to_thread`` (one thread: ``CapacityLimiter(1)``).

When the database is slow or down, a failed write is retried with backoff and frames pile up
in memory; past ``memory_frames`` the oldest batches go to a spill file (in order), which is
written to the database first once it is back. On shutdown everything is flushed; what the
database still refuses after ``shutdown_timeout`` stays in the spill file and is written when
a persister for the same server opens again. Order is kept throughout: the batch being written
is older than the spill file, which is older than memory.

``import`` uses the same class minus the socket: ``await send(batch)`` waits for room instead
of spilling.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import math
import os
import re
import threading
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import trio

from ..ami import Frame, FrameKind
from ..errors import StoreError, TrackerError
from ..events.envelope import Envelope
from ..prestart import Prestarted
from ..state import Change, World, encode_world
from ..state.world import ListReconciled
from ..store import (
    Batch,
    BatchWriter,
    Packed,
    Projection,
    SessionInfo,
    SnapshotPolicy,
    Store,
    WriteResult,
    describe,
    open_store,
)
from ..store.engine import is_transient
from ..store.lease import STALE_AFTER, Lease, acquire, heartbeat, release
from ..store.models import default_projections
from ..store.writer_process import WriterProcess, process_writer_supported
from .spill import SpillFile, frames_of

if TYPE_CHECKING:
    from .client import AmiClient

log = logging.getLogger(__name__)

BATCH_FRAMES = 2000
FLUSH_INTERVAL = 1.0
MEMORY_FRAMES = 50_000
"""Frames kept in memory while the database lags, then spilled to a file (about 3 KB each with
their typed events and changes: ~150 MB; at 200 000 the bench/soak.py run on PostgreSQL
plateaued at 720 MB RSS, too much for a process tracking several servers)."""


def default_spill_path(server: str, url: str = "") -> Path:
    """Spill file of one server into one database: frames spilled for database A must never be
    written into database B at the next start, so the name carries a digest of the database
    (its URL without the password; a SQLite file by its absolute path)."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", server)
    return Path(base) / "ami-tracker" / f"spill-{safe}-{database_digest(url)}.bin"


def database_digest(url: str) -> str:
    """Short digest naming a database: the password is left out, a SQLite path made absolute."""
    where = re.sub(r"://([^:/@]*):[^@]*@", r"://\1@", url)
    if where.startswith("sqlite:///") and not where.startswith("sqlite:///:memory:"):
        path, _, query = where[len("sqlite:///") :].partition("?")
        where = "sqlite:///" + str(Path(path).resolve()) + ("?" + query if query else "")
    return hashlib.sha256(where.encode()).hexdigest()[:12]


@dataclasses.dataclass
class PersisterStats:
    frames_written: int = 0
    batches_written: int = 0
    writes: int = 0
    """Transactions committed."""
    write_failures: int = 0
    frames_spilled: int = 0
    """Frames that went through the spill file."""
    snapshots: int = 0
    last_error: str | None = None


class Start(NamedTuple):
    """Where the server's log stands when the persister opens."""

    server_id: int
    next_seq: int
    world: World
    last_snapshot_seq: int


def _weight(batch: Batch | Packed) -> int:
    """Frames of a batch (a notes-only batch counts one, so it is waited for too)."""
    return frames_of(batch) or 1


class Persister:
    """Writes one server's batches to the store at ``url``. Use ``open`` (blocking, in a
    thread), then run ``run`` in a nursery, ``put``/``send`` batches, and ``aclose``."""

    def __init__(
        self,
        url: str,
        server: str,
        *,
        ami_url: str | None = None,
        projections: Sequence[Projection] | None = None,
        batch_frames: int = BATCH_FRAMES,
        flush_interval: float = FLUSH_INTERVAL,
        memory_frames: int = MEMORY_FRAMES,
        spill_path: Path | None = None,
        retry_initial: float = 0.5,
        retry_max: float = 30.0,
        shutdown_timeout: float = 10.0,
        snapshot_frames: int = 2000,
        snapshot_seconds: float = 300.0,
        retry_all: bool = True,
        lease_timeout: float = STALE_AFTER,
        writer_process: bool | None = None,
        write_frames: int | None = None,
        prestarted: Prestarted | None = None,
    ) -> None:
        self.url = url
        self.server = server
        self.ami_url = ami_url
        self.projections = tuple(projections if projections is not None else default_projections())
        """Reporting rows written with the frames (default: the reporting tables', if any)."""
        self.batch_frames = batch_frames
        self.write_frames = write_frames if write_frames is not None else 4 * batch_frames
        """At most this many frames per transaction (at least one batch); a backlog after an
        outage is written in transactions this large."""
        self.flush_interval = flush_interval
        self.memory_frames = memory_frames
        self.spill_path = spill_path if spill_path is not None else default_spill_path(server, url)
        self.retry_initial = retry_initial
        self.retry_max = retry_max
        self.shutdown_timeout = shutdown_timeout
        self.snapshot_frames = snapshot_frames
        self.snapshot_seconds = snapshot_seconds
        self.retry_all = retry_all
        """Retry every failed write (live: nothing may be lost); False: only a database that
        is unreachable, locked, full or read-only, and raise the rest (import)."""
        self.lease_timeout = lease_timeout
        """Seconds without heartbeat after which another process may take the server's lease
        (renewed every quarter of it)."""
        self.writer_process = (
            process_writer_supported(url) if writer_process is None else writer_process
        )
        """Write from a child process (default where it can: see
        :mod:`tracker.store.writer_process`), else from a worker thread of this one."""
        self.prestarted = prestarted
        """A writer child forked earlier (:mod:`tracker.prestart`) for the writer process to
        take; stopped when there is none."""
        self.lease: Lease | None = None
        self.stats = PersisterStats()
        self.on_write: Callable[[float], None] | None = None
        """Called with the seconds each successful database write took (metrics)."""
        self.on_failure: Callable[[], None] | None = None
        """Called on each failed database write (it will be retried)."""
        self.on_spill: Callable[[int], None] | None = None
        """Called with the frames moved to the spill file each time (the database lags)."""
        self.store: Store | None = None
        """The database, opened by ``open`` (or later by ``ensure_store``, when the writer's
        process opened what ``open`` needed)."""
        self._store_lock = threading.Lock()
        self._writer: BatchWriter | WriterProcess | None = None
        self._spill: SpillFile | None = None
        self._memory: deque[Batch | Packed] = deque()
        self._memory_count = 0
        self._inflight: list[Batch | Packed] = []
        self._inflight_spill_offset: int | None = None
        self._limiter = trio.CapacityLimiter(1)
        self._order = trio.Lock()
        self._wake = trio.Event()
        self._room = trio.Event()
        self._idle = trio.Event()
        self._idle.set()
        self._oldest: float | None = None
        self._closing = False
        self._flush_now = False
        self._done = trio.Event()

    # -- setup (blocking) --------------------------------------------------------------------
    def open(self) -> Start:
        """Open the store, write a spill file left by an earlier run, and say where the log
        stands (blocking: call it with ``trio.to_thread.run_sync``). With a prestarted writer
        that opened for this server (:class:`~tracker.prestart.Opening`), its lease is this
        persister's, and a log with nothing stored (nor spilled) needs no store here: ``store``
        stays None until :meth:`ensure_store`."""
        # the writer process is forked before this process opens the database (see
        # tracker.store.writer_process.fork_is_safe)
        pre, self.prestarted = self.prestarted, None
        if self.writer_process:
            early = WriterProcess(self.url, projections=self.projections, prestarted=pre)
        else:
            early = None
            if pre is not None:
                pre.discard()
        try:
            # a prestarted child asked to open (tracker.prestart.Opening) did it while this
            # process loaded its modules: a server with nothing stored needs nothing more
            opened = early.wait_opened() if early is not None else None
            failure = early.open_failure if early is not None else None
            if failure is not None and failure.transient:  # unreachable: here it would wait again
                raise failure
            if opened is not None and opened.lease.server != self.server:
                # opened for another server: it gives that lease back; a writer of our own
                assert early is not None
                early.close()
                early = WriterProcess(self.url, projections=self.projections)
                opened = None
            if opened is not None:
                assert early is not None
                self.lease = opened.lease
                early.server_id = opened.server_id
                self._writer = early
                self._spill = SpillFile(self.spill_path)
                if not opened.next_seq and not self._spill.batches and self.ami_url is None:
                    log.debug("%s: opened by writer process %s", self.server, early.pid)
                    return Start(opened.server_id, 0, World(), -1)
            store = self.store = open_store(self.url)
        except BaseException:
            self.lease = None
            self._writer = None
            if early is not None:
                early.close()  # the child gives back the lease it took
            raise
        try:
            info = store.ensure_server(self.server, self.ami_url)
            if self.lease is None:
                self.lease = acquire(
                    store.engine, info.id, self.server, stale_after=self.lease_timeout
                )
            if early is not None:
                early.server_id = info.id
                self._writer = early
                if early.in_child:
                    log.debug("%s: writing from process %s", self.server, early.pid)
                else:
                    log.info(
                        "%s: writing from this process (the database is open here already)",
                        self.server,
                    )
            else:
                self._writer = BatchWriter(store.engine, info.id, projections=self.projections)
            if self._spill is None:
                self._spill = SpillFile(self.spill_path)
            spill = self._spill
            while spill.batches:
                batches, offset = spill.read(self.write_frames)
                self._writer.write(batches)
                spill.advance(offset, batches)
            info = store.server(self.server)
            at = store.world_at(self.server) if info.next_seq else None
            # a server with no frame has no snapshot (and needs no fold version to say so)
            last_snap = store.latest_snapshot_seq(info.id) if info.next_seq else -1
            if early is not None:
                early.wait_ready()  # forked (or taken) above: ready while the store opened
        except BaseException:
            if self.lease is not None:
                release(store.engine, self.lease)
                self.lease = None
            if early is not None:
                early.close()
            self._writer = None
            store.close()
            self.store = None
            raise
        world = at.world if at is not None else World()
        return Start(info.id, info.next_seq, world, last_snap)

    def ensure_store(self) -> Store:
        """The open store (blocking): opened now if ``open`` needed none (its writer process
        opened what it needed)."""
        with self._store_lock:
            if self.store is None:
                self.store = open_store(self.url)
            return self.store

    def policy(self, start: Start) -> SnapshotPolicy:
        return SnapshotPolicy(
            self.snapshot_frames, self.snapshot_seconds, last_seq=start.last_snapshot_seq
        )

    def live_feed(self, start: Start, origin: str | None = None) -> LiveFeed:
        """The fold sink feeding this persister from a live tracker."""
        return LiveFeed(self, self.policy(start), origin if origin is not None else self.ami_url)

    # -- feeding -----------------------------------------------------------------------------
    def put(self, batch: Batch | Packed) -> None:
        """Queue ``batch`` (never blocks; the flush task writes it)."""
        if not frames_of(batch) and not batch.notes:
            return
        if self._done.is_set():
            raise StoreError("the persister is closed")
        self._memory.append(batch)
        self._memory_count += _weight(batch)
        if self._idle.is_set():
            self._idle = trio.Event()
        if self._oldest is None:
            self._oldest = trio.current_time()
            self._wake.set()
        elif self.pending >= self.batch_frames or self._memory_count > self.memory_frames:
            self._wake.set()

    def put_notes(self, session: SessionInfo, notes: dict[str, Any]) -> None:
        """Set columns of ``session``'s row (in order with its frames)."""
        if notes:
            self.put(Batch(session, [], [], [], [], None, notes))

    async def send(self, batch: Batch | Packed) -> None:
        """``put``, first waiting while memory is full (for producers that may wait)."""
        while self._memory_count and self._memory_count + _weight(batch) > self.memory_frames:
            self._room = trio.Event()
            self._wake.set()
            await self._room.wait()
        self.put(batch)

    @property
    def pending(self) -> int:
        """Frames not written yet (memory, spill file, being written)."""
        spilled = self._spill.frames if self._spill is not None else 0
        return self._memory_count + spilled + sum(map(_weight, self._inflight))

    async def wait_idle(self) -> None:
        """Write everything put so far now (not at the next interval) and return when done."""
        while self.pending:
            self._flush_now = True
            self._wake.set()
            await self._idle.wait()
        self._flush_now = False

    # -- the flush task ----------------------------------------------------------------------
    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        if self._writer is None:
            await trio.to_thread.run_sync(self.open)
        task_status.started()
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._heartbeat)
                await self._loop()
                nursery.cancel_scope.cancel()
        finally:
            with trio.CancelScope(shield=True):
                await self._shutdown()

    async def _heartbeat(self) -> None:
        """Renew the lease (a failed renewal is retried at the next beat; said once per
        distinct error, not at every beat of an outage)."""
        lost = False
        failing: str | None = None
        while True:
            await trio.sleep(self.lease_timeout / 4)
            lease = self.lease
            if lease is None:  # none taken, or given back
                return
            try:
                store = await trio.to_thread.run_sync(self.ensure_store)
                renewed = await trio.to_thread.run_sync(
                    heartbeat, store.engine, lease, limiter=self._limiter
                )
            except StoreError as exc:
                if str(exc) != failing:
                    log.warning("cannot renew the lease of %s (will retry): %s", self.server, exc)
                failing = str(exc)
                continue
            failing = None
            if not renewed and not lost:
                lost = True
                log.error(
                    "the lease of %s was taken over by another process (no heartbeat for "
                    "%gs): two processes may now write its log",
                    self.server,
                    self.lease_timeout,
                )

    async def _loop(self) -> None:
        backoff = self.retry_initial
        while True:
            await self._wait_work()
            if self._closing:
                return  # _shutdown flushes the rest
            if self._memory_count > self.memory_frames:
                await self._spill_memory()
            ok = await self._write_some()
            if ok:
                backoff = self.retry_initial
                continue
            with trio.move_on_after(backoff):
                while not self._closing:
                    await self._wake_wait()
                    if self._memory_count > self.memory_frames:
                        await self._spill_memory()
            backoff = min(backoff * 2, self.retry_max)

    async def _wake_wait(self) -> None:
        self._wake = trio.Event()
        await self._wake.wait()

    async def _wait_work(self) -> None:
        """Until a batch is due: enough frames, the oldest waited ``flush_interval``, closing."""
        while not self._closing:
            if self.pending >= self.batch_frames or self._memory_count > self.memory_frames:
                return
            if self._flush_now and self.pending:
                return
            if self._inflight or (self._spill is not None and self._spill.frames):
                return
            if self._oldest is not None:
                due = self._oldest + self.flush_interval - trio.current_time()
                if due <= 0:
                    return
            else:
                due = math.inf
            with trio.move_on_after(due):
                await self._wake_wait()

    async def _spill_memory(self) -> None:
        """Move memory beyond half the bound to the spill file (the database lags)."""
        async with self._order:
            assert self._spill is not None
            moved: list[Batch | Packed] = []
            while self._memory and self._memory_count > self.memory_frames // 2:
                batch = self._memory.popleft()
                self._memory_count -= _weight(batch)
                moved.append(batch)
            if not moved:
                return
            try:
                await trio.to_thread.run_sync(self._spill.append, moved)
            except OSError as exc:
                # no disk either: keep them in memory (in order) and say so
                for batch in reversed(moved):
                    self._memory.appendleft(batch)
                    self._memory_count += _weight(batch)
                log.error("cannot spill to %s: %s (keeping frames in memory)", self.spill_path, exc)
                return
            spilled = sum(map(frames_of, moved))
            self.stats.frames_spilled += spilled
            if self.on_spill is not None:
                self.on_spill(spilled)
            log.warning(
                "database lagging: %d frames spilled to %s", self._spill.frames, self.spill_path
            )
        self._room.set()

    async def _take(self) -> None:
        """Fill the in-flight list with the oldest batches (spill file first, then memory)."""
        try:
            # not ``async with``: taking a free trio lock is a checkpoint, and during an import
            # every checkpoint here lets the fold run one more batch while the writer waits
            self._order.acquire_nowait()
        except trio.WouldBlock:
            await self._order.acquire()
        try:
            await self._take_ordered()
        finally:
            self._order.release()
        self._room.set()

    async def _take_ordered(self) -> None:
        if self._inflight:
            return
        spill = self._spill
        if spill is not None and spill.frames:
            batches, offset = await trio.to_thread.run_sync(spill.read, self.write_frames)
            self._inflight = batches
            self._inflight_spill_offset = offset
            return
        taken: list[Batch | Packed] = []
        frames = 0
        limit = self.write_frames
        while self._memory and frames < limit:
            batch = self._memory.popleft()
            frames += _weight(batch)
            taken.append(batch)
        self._memory_count -= frames
        self._inflight = taken
        self._inflight_spill_offset = None
        self._oldest = trio.current_time() if self._memory else None

    async def _write_some(self) -> bool:
        await self._take()
        batches = self._inflight
        if not batches:
            self._finish_idle()
            return True
        writer = self._writer
        assert writer is not None
        began = trio.current_time()
        try:
            result = await self._write(writer, batches)
        except Exception as exc:  # the database is down, full, read-only...: retry later
            if not self.retry_all and not is_transient(exc):
                raise
            self.stats.write_failures += 1
            if self.on_failure is not None:
                self.on_failure()
            why = describe(exc, self.url)
            if why != self.stats.last_error:
                log.warning("store write failed (will retry): %s", why)
            self.stats.last_error = why
            return False
        if self._inflight_spill_offset is not None:
            assert self._spill is not None
            await trio.to_thread.run_sync(self._spill.advance, self._inflight_spill_offset, batches)
        self._inflight = []
        self._inflight_spill_offset = None
        stats = self.stats
        if stats.last_error is not None:
            log.warning("store writes resumed")
            stats.last_error = None
        stats.writes += 1
        if self.on_write is not None:
            self.on_write(trio.current_time() - began)
        stats.batches_written += len(batches)
        stats.frames_written += result.written
        stats.snapshots += result.snapshots
        self._finish_idle()
        return True

    async def _write(
        self, writer: BatchWriter | WriterProcess, batches: list[Batch | Packed]
    ) -> WriteResult:
        """One transaction. A running writer process is sent the batches from this thread and
        its answer awaited here: a worker thread would have to win the GIL back from the fold
        after every system call (up to the 5 ms switch interval each time), which measured
        delayed writes by ~0.1 s. Otherwise (a thread writer, or no child running: ``write``
        starts one, a fork) in a worker thread. An answer still awaited (a cancelled wait) is
        the answer for these same batches: in flight only changes once it is taken."""
        if isinstance(writer, WriterProcess) and (writer.awaiting or writer.request(batches)):
            await trio.lowlevel.wait_readable(writer.reply_fileno())
            return writer.take_reply()
        return await trio.to_thread.run_sync(writer.write, batches, limiter=self._limiter)

    def _finish_idle(self) -> None:
        if not self.pending:
            self._idle.set()

    async def aclose(self) -> None:
        """Flush everything (bounded by ``shutdown_timeout``, then spilled) and stop."""
        self._closing = True
        self._wake.set()
        with trio.CancelScope(shield=True):
            await self._done.wait()

    async def _shutdown(self) -> None:
        self._closing = True
        try:
            with trio.move_on_after(self.shutdown_timeout):
                backoff = min(self.retry_initial, 0.5)
                while self.pending:
                    if not await self._write_some():
                        await trio.sleep(backoff)
                        backoff = min(backoff * 2, 2.0)
            if self.pending:
                await self._keep_leftovers()
        finally:
            try:
                if self.store is not None or self._writer is not None:
                    await trio.to_thread.run_sync(self._release_and_close)
            finally:
                # even if closing failed: ``aclose`` waits for this and would wait forever
                self._idle.set()
                self._done.set()

    def _release_and_close(self) -> None:
        child_releases = False
        if isinstance(self._writer, WriterProcess):
            # it exits while the lease is released and the store closed; a child that took
            # the lease (tracker.prestart.Opening) gives it back itself, after its last write
            child_releases = self._writer.stop()
        try:
            if self.lease is not None and not child_releases:
                release(self.ensure_store().engine, self.lease)
            self.lease = None
        except StoreError as exc:  # the database is down: the lease goes stale
            log.warning("cannot release the lease of %s: %s", self.server, exc)
        finally:
            try:
                if self.store is not None:
                    self.store.close()
            finally:
                self._close_writer()

    def _close_writer(self) -> None:
        writer, self._writer = self._writer, None
        if isinstance(writer, WriterProcess):
            # every answer is in: the child only has its connection to close and exits in
            # the background (the close of an import, ~8 ms less)
            writer.close(wait=False)

    async def _keep_leftovers(self) -> None:
        spill = self._spill
        assert spill is not None
        head = self._inflight if self._inflight_spill_offset is None else []
        tail = list(self._memory)
        await trio.to_thread.run_sync(spill.rewrite, head, tail)
        frames = spill.frames
        self._inflight = []
        self._memory.clear()
        self._memory_count = 0
        log.error(
            "database unavailable at shutdown (%s): %d frames kept in %s, written at next start",
            self.stats.last_error,
            frames,
            self.spill_path,
        )


class LiveFeed:
    """The tracker's fold sink: cuts folded batches into sessions (a banner starts one) and
    decides snapshots; hands each piece to the persister without waiting."""

    def __init__(self, persister: Persister, policy: SnapshotPolicy, origin: str | None) -> None:
        self.persister = persister
        self.policy = policy
        self.origin = origin
        self.session: SessionInfo | None = None
        self._notes: dict[str, Any] = {}
        self._last_frame: Frame | None = None
        self._resynced = False
        self._tail: tuple[Frame, Envelope, float] | None = None
        """The last frame fed (with its envelope and clock): where a final snapshot goes."""
        self._snapshot_seq = -1
        self._lost = False
        """The current session's end was already noted (by :meth:`connection_lost`)."""

    def follow_client(self, client: AmiClient) -> None:
        """Have ``client`` report lost sessions here (chained before its own ``on_retry``)."""
        chained = client.on_retry

        def on_retry(attempt: int, delay: float, reason: TrackerError) -> None:
            self.connection_lost(str(reason))
            if chained is not None:
                chained(attempt, delay, reason)

        client.on_retry = on_retry

    def connection_lost(self, reason: str) -> None:
        """The AMI session ended and the client is about to reconnect: note it on the session's
        row now rather than at the next banner, so that readers of the database (``top --db``)
        see the outage while it lasts. Failed connection attempts after it change nothing."""
        if self.session is None or self._lost:
            return
        self._lost = True
        notes = {**self._notes, **self._ended(reason)}
        self._notes = {}
        self.persister.put_notes(self.session, notes)

    def __call__(
        self,
        frames: Sequence[Frame],
        envelopes: Sequence[Envelope],
        clocks: Sequence[float],
        changes: Sequence[Change],
        world: World,
    ) -> None:
        start = 0
        for i, frame in enumerate(frames):
            if frame.kind is FrameKind.BANNER or self.session is None:
                if i > start:
                    self._emit(frames, envelopes, clocks, changes, start, i, None)
                self._new_session(envelopes[i].seq, frame)
                start = i
            self._watch(frame)
        snapshot = encode_world(world) if self.policy.due(envelopes[-1].seq, clocks[-1]) else None
        self._tail = (frames[-1], envelopes[-1], clocks[-1])
        if snapshot is not None:
            self._snapshot_seq = envelopes[-1].seq
        self._emit(frames, envelopes, clocks, changes, start, len(frames), snapshot)

    def _emit(
        self,
        frames: Sequence[Frame],
        envelopes: Sequence[Envelope],
        clocks: Sequence[float],
        changes: Sequence[Change],
        lo: int,
        hi: int,
        snapshot: bytes | None,
    ) -> None:
        assert self.session is not None
        first, last = envelopes[lo].seq, envelopes[hi - 1].seq
        mine = [c for c in changes if first <= c.seq <= last]
        if not self._resynced and any(type(c) is ListReconciled for c in mine):
            self._resynced = True
            self._notes["resync_ended_at"] = datetime.now(UTC)
        notes, self._notes = self._notes, {}
        self.persister.put(
            Batch(
                self.session,
                frames[lo:hi],
                envelopes[lo:hi],
                mine,
                clocks[lo:hi],
                snapshot,
                notes,
            )
        )

    def _new_session(self, seq: int, frame: Frame) -> None:
        if self.session is not None:
            if not self._lost:  # not heard from the client (e.g. no client, as in import)
                self._notes.update(self._ended("connection lost"))
            # the previous session's notes go with its last batch: flush them now
            self.persister.put_notes(self.session, self._notes)
            self._notes = {}
        self._lost = False
        self.session = SessionInfo(f"live:{uuid.uuid4().hex}", "live", seq, self.origin)
        self._notes = {"connected_at": datetime.now(UTC)}
        self._resynced = False
        self._last_frame = frame

    def _watch(self, frame: Frame) -> None:
        if frame.kind is FrameKind.RESPONSE and b"Authentication accepted" in frame.raw:
            now = datetime.now(UTC)
            self._notes["logged_in_at"] = now
            self._notes["resync_started_at"] = now
        self._last_frame = frame

    def _ended(self, otherwise: str) -> dict[str, Any]:
        last = self._last_frame
        logoff = last is not None and last.kind is FrameKind.RESPONSE and last.name == "Goodbye"
        return {
            "disconnected_at": datetime.now(UTC),
            "disconnect_reason": "logoff" if logoff else otherwise,
        }

    def close(self, reason: str = "tracker stopped", world: World | None = None) -> None:
        """The tracker stopped: note the end of the current session; with ``world`` (the
        state after the last frame fed), store it as the final snapshot.

        The snapshot rides on the last frame sent again: the writer skips a frame it already
        stored (never twice in the log) and adds the snapshot at that frame's seq."""
        if self.session is None:
            return
        notes = dict(self._notes) if self._lost else {**self._notes, **self._ended(reason)}
        self._notes = {}
        tail = self._tail
        if world is None or tail is None or self._snapshot_seq == tail[1].seq:
            self.persister.put_notes(self.session, notes)
            return
        frame, envelope, clock = tail
        self._snapshot_seq = envelope.seq
        self.persister.put(
            Batch(self.session, [frame], [envelope], [], [clock], encode_world(world), notes)
        )
