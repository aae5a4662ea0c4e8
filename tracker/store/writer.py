"""The batch writer shared by the live persister and ``import``: frames, snapshots and reporting
rows of one or more batches in one transaction (blocking SQLAlchemy; run it in a worker thread).

Idempotent by ``(server, session, offset)``: a session is looked up by its key, frames at
offsets already stored are skipped (with their change records), so writing the same batch twice,
after a crash or a lost commit acknowledgement, stores it once.

Blocks hold up to ``block_frames`` frames. The last block of a session may be short (the live
persister writes at least once a second); while this writer owns it, later batches extend it
(rewriting that one row) until it is full, so a slow live stream still ends up in large, well
compressed blocks.
"""

from __future__ import annotations

import array
import bisect
import dataclasses
import itertools
import operator
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple

from sqlalchemy import Connection, Engine, func, insert, select, update

from ..ami import Frame
from ..errors import StoreError
from ..events.envelope import Envelope
from ..reducer.version import fold_version
from ..state import Anomaly, Change
from .blocks import ZSTD, FrameRebuilder, _le, compress, encode_payload
from .bulk import marks
from .packed import (
    Needs,
    Packed,
    SessionInfo,
    envelope_columns,
    frame_envelopes,
    needs_of,
    offsets,
    pack,
)
from .schema import AnomalyRow, Projection, Server, Session, Snapshot

BLOCK_FRAMES = 1024
"""Frames per block: ~25 B/frame with zstd-3 on load.ami.gz; a block decodes in about 1 ms."""


class Batch(NamedTuple):
    """Consecutive frames of one session as the fold consumed them, and what they caused."""

    session: SessionInfo
    frames: Sequence[Frame]
    envelopes: Sequence[Envelope]
    """One per frame, ``seq`` in the server's numbering (``session.first_seq + offset``)."""
    changes: Sequence[Change]
    clocks: Sequence[float]
    """The fold's clock (``World.clock``) right after each frame."""
    snapshot: bytes | None = None
    """``encode_world(world)`` right after the last frame (to be stored), or None."""
    notes: Mapping[str, Any] = {}
    """Session columns to set (e.g. ``disconnected_at``, ``disconnect_reason``)."""


class WriteResult(NamedTuple):
    written: int
    skipped: int
    snapshots: int


@dataclasses.dataclass(frozen=True)
class _Piece:
    """Consecutive frames of a packed batch, as columns (indexes in ``problems`` are the
    piece's own)."""

    raw: bytes
    lengths: array.array[int]
    kinds: bytes
    clocks: array.array[float]
    problems: dict[int, str]
    received: list[float | None] | None

    @classmethod
    def of(cls, packed: Packed, skip: int) -> _Piece:
        lengths = packed.length_array()
        clocks = packed.clock_array()
        received = packed.received
        if not skip:
            return cls(packed.raw, lengths, packed.kinds, clocks, packed.problems, received)
        start = sum(lengths[:skip])
        return cls(
            packed.raw[start:],
            lengths[skip:],
            packed.kinds[skip:],
            clocks[skip:],
            {i - skip: p for i, p in packed.problems.items() if i >= skip},
            received[skip:] if received is not None else None,
        )

    @classmethod
    def join(cls, pieces: Sequence[_Piece]) -> _Piece:
        if len(pieces) == 1:
            return pieces[0]
        problems: dict[int, str] = {}
        at = 0
        received: list[float | None] = []
        for piece in pieces:
            problems.update({at + i: p for i, p in piece.problems.items()})
            received += piece.received if piece.received is not None else [None] * len(piece)
            at += len(piece)
        return cls(
            b"".join(p.raw for p in pieces),
            array.array("I", itertools.chain.from_iterable(p.lengths for p in pieces)),
            b"".join(p.kinds for p in pieces),
            array.array("d", itertools.chain.from_iterable(p.clocks for p in pieces)),
            problems,
            received if received.count(None) < len(received) else None,
        )

    def __len__(self) -> int:
        return len(self.kinds)


@dataclasses.dataclass(frozen=True)
class _Tail:
    """The session's frames from its last, short block on: the block is rewritten when later
    frames extend it (``stored`` of them are in the database already)."""

    first_offset: int
    pieces: tuple[_Piece, ...]
    stored: int


@dataclasses.dataclass
class _Grown:
    """What this transaction's batches (without notes) change in their session's row so far:
    written once, by :meth:`BatchWriter._flush_sessions`, not once per batch."""

    last_time: float
    live: int
    stamped: int
    first_time: float | None
    """The first event time of these batches (the row keeps its own if it has one)."""


@dataclasses.dataclass
class _SessionState:
    id: int
    first_seq: int
    stored: int
    limit: int | None
    """First seq of the server's next session, if any: this one cannot grow past it."""
    tail: _Tail | None = None
    grown: _Grown | None = None
    """The row's update not written yet (always None between transactions)."""


class SnapshotPolicy:
    """When to snapshot: every ``every_frames`` frames and every ``every_seconds`` of stream time
    (whichever comes first), checked at batch ends."""

    def __init__(
        self,
        every_frames: int = 2000,
        every_seconds: float = 300.0,
        *,
        last_seq: int = -1,
        last_clock: float | None = None,
    ) -> None:
        self.every_frames = every_frames
        self.every_seconds = every_seconds
        self.last_seq = last_seq
        self.last_clock = last_clock

    def next_due(self) -> tuple[int, float]:
        """``(seq, clock)`` from which :meth:`due` may say yes (a cheap pre-check per frame)."""
        last = self.last_clock
        at = last + self.every_seconds if last is not None and last > 0.0 else 0.0
        return self.last_seq + self.every_frames, at

    def due(self, seq: int, clock: float) -> bool:
        """True (and remembered) when a snapshot after frame ``seq`` is due."""
        if seq <= self.last_seq:
            return False
        if self.last_clock is None or self.last_clock <= 0.0:
            self.last_clock = clock  # the first event time seen starts the time interval
        if (
            seq - self.last_seq >= self.every_frames
            or clock - self.last_clock >= self.every_seconds
        ):
            self.last_seq = seq
            self.last_clock = clock
            return True
        return False


class BatchWriter:
    """Writes batches of one server. Not thread-safe: one writer thread at a time."""

    def __init__(
        self,
        engine: Engine,
        server_id: int,
        *,
        projections: Sequence[Projection] = (),
        block_frames: int = BLOCK_FRAMES,
    ) -> None:
        self.engine = engine
        self.server_id = server_id
        self.projections = tuple(projections)
        self.needs: Needs = needs_of(self.projections)
        """What the projections read of a batch: :func:`~tracker.store.packed.pack` keeps it."""
        self.block_frames = block_frames
        self.fold_version = fold_version()
        self._sessions: dict[str, _SessionState] = {}
        self._versions: list[str] | None = None
        self._rebuilder = FrameRebuilder()
        self.frames_written = 0

    def pack(self, batch: Batch) -> Packed:
        """``batch`` as this writer stores it."""
        return pack(batch, self.needs)

    # -- one transaction ---------------------------------------------------------------------
    def write(self, batches: Sequence[Batch | Packed]) -> WriteResult:
        """Store ``batches`` (in order) in one transaction; all or nothing."""
        staged: dict[str, _SessionState] = {}
        projected: list[tuple[int, Sequence[Envelope], Sequence[Change]]] = []
        written = skipped = snaps = 0
        with self.engine.begin() as conn:
            if self._versions is None:
                self._versions = self._load_versions(conn)
            versions = list(self._versions)
            for batch in batches:
                packed = batch if isinstance(batch, Packed) else self.pack(batch)
                if not packed.count and not packed.notes:
                    continue
                state = staged.get(packed.key)
                if state is None:
                    known = self._sessions.get(packed.key)
                    if known is not None:
                        state = dataclasses.replace(known)
                    else:  # it reads the other sessions' rows: bring them up to date
                        self._flush_sessions(conn, staged.values())
                        state = self._open_session(conn, packed.session)
                    staged[packed.key] = state
                n_new, n_snap = self._write_batch(conn, state, packed, versions, projected)
                written += n_new
                skipped += packed.count - n_new
                snaps += n_snap
            self._flush_sessions(conn, staged.values())  # projections see the rows as before
            self._project(conn, projected)
            for state in staged.values():
                self._flush_blocks(conn, state)
            if versions != self._versions:
                conn.execute(
                    update(Server).where(Server.id == self.server_id).values(versions=versions)
                )
        # committed: adopt the staged state
        self._sessions.update(staged)
        self._versions = versions
        self.frames_written += written
        return WriteResult(written, skipped, snaps)

    def _write_batch(
        self,
        conn: Connection,
        state: _SessionState,
        packed: Packed,
        versions: list[str],
        projected: list[tuple[int, Sequence[Envelope], Sequence[Change]]],
    ) -> tuple[int, int]:
        n = packed.count
        if packed.notes:  # written in order: the batches before first
            self._flush_sessions(conn, (state,))
        if not n:
            conn.execute(update(Session).where(Session.id == state.id).values(**packed.notes))
            return 0, 0
        first_offset = packed.first_seq - state.first_seq
        skip = max(0, min(n, state.stored - first_offset))
        if first_offset + skip != state.stored and skip < n:
            raise StoreError(
                f"frames {state.first_seq + state.stored}..{packed.first_seq + skip - 1} of "
                f"session {packed.key!r} are missing: refusing to leave a gap in the log"
            )
        last_seq = packed.first_seq + n - 1
        clocks = packed.clock_array()
        if skip < n:
            if state.limit is not None and last_seq >= state.limit:
                raise StoreError(
                    f"session {packed.key!r} grew into the next session's range "
                    f"(seq {state.limit}): import it under another server name"
                )
            self._append(state, _Piece.of(packed, skip))
            for i, version in packed.versions:
                if i >= skip and version not in versions:
                    versions.append(version)
            changes = packed.change_records()
            if skip:
                changes = [c for c in changes if c.seq >= packed.first_seq + skip]
            records = packed.records
            if records is None:
                wanted: Sequence[int] = range(skip, n)
            else:
                wanted = records[bisect.bisect_left(records, skip) :] if skip else records
            envs = frame_envelopes(packed, wanted, self._rebuilder) if wanted else []
            projected.append((state.id, envs, changes))
            self._note_anomalies(conn, state.id, changes)
            if skip:
                again = frame_envelopes(packed, range(skip, n), self._rebuilder)
                _, live, stamped, _ = envelope_columns(again, packed.kinds[skip:], None)
            else:
                live, stamped = packed.live, packed.stamped
            timed = next((c for c in itertools.islice(clocks, skip, None) if c > 0.0), None)
            if not packed.notes:  # the usual case: one statement per transaction
                grown = state.grown
                if grown is None:
                    state.grown = _Grown(clocks[-1], live, stamped, timed)
                else:
                    grown.last_time = clocks[-1]
                    grown.live += live
                    grown.stamped += stamped
                    if grown.first_time is None:
                        grown.first_time = timed
            else:
                values: dict[str, Any] = {
                    "frames": state.stored,
                    "last_time": clocks[-1],
                    "live_events": Session.live_events + live,
                    "stamped_events": Session.stamped_events + stamped,
                }
                if timed is not None:  # the first event time seen in the session
                    values["first_time"] = func.coalesce(Session.first_time, timed)
                values.update(packed.notes)
                conn.execute(update(Session).where(Session.id == state.id).values(**values))
        elif packed.notes:
            conn.execute(update(Session).where(Session.id == state.id).values(**packed.notes))
        snaps = 0
        if packed.snapshot is not None and self._snapshot_missing(conn, last_seq, bool(skip)):
            conn.exec_driver_sql(
                _insert(conn, "snapshots", _SNAPSHOT_COLUMNS),
                (
                    self.server_id,
                    state.id,
                    last_seq,
                    clocks[-1],
                    self.fold_version,
                    ZSTD,
                    compress(packed.snapshot),
                ),
            )
            snaps = 1
        return n - skip, snaps

    def _flush_sessions(self, conn: Connection, states: Iterable[_SessionState]) -> None:
        """Write the session rows' pending updates (see :class:`_Grown`)."""
        for state in states:
            grown = state.grown
            if grown is None:
                continue
            state.grown = None
            params: list[Any] = [state.stored, grown.last_time, grown.live, grown.stamped]
            if grown.first_time is not None:
                params.append(grown.first_time)
            params.append(state.id)
            conn.exec_driver_sql(_session_grown(conn, grown.first_time is not None), tuple(params))

    def _append(self, state: _SessionState, piece: _Piece) -> None:
        """Frames at offsets ``state.stored..``: kept with the tail until :meth:`_flush_blocks`
        (once per transaction, so consecutive batches are compressed once, not once each)."""
        tail = state.tail
        if tail is None:
            state.tail = _Tail(state.stored, (piece,), 0)
        else:  # a new tail: the committed state may share the old one
            state.tail = _Tail(tail.first_offset, (*tail.pieces, piece), tail.stored)
        state.stored += len(piece)

    def _flush_blocks(self, conn: Connection, state: _SessionState) -> None:
        """Store the tail's frames not stored yet: rewrite the short last block, add blocks."""
        tail = state.tail
        if tail is None or tail.first_offset + tail.stored == state.stored:
            return
        frames = _Piece.join(tail.pieces)
        at = offsets(frames.lengths)
        raw = memoryview(frames.raw)
        start = tail.first_offset
        rows: list[tuple[Any, ...]] = []
        size = self.block_frames
        new_tail: _Tail | None = None
        for i in range(0, len(frames), size):
            j = min(i + size, len(frames))
            offset = start + i
            received = frames.received[i:j] if frames.received is not None else None
            problems = {k - i: p for k, p in frames.problems.items() if i <= k < j}
            values = (  # _BLOCK_VALUES
                self.server_id,
                state.first_seq + offset,
                state.first_seq + offset + j - i - 1,
                j - i,
                frames.clocks[i],
                frames.clocks[j - 1],
                ZSTD,
                encode_payload(
                    [raw[at[i] : at[j]]],
                    _le(frames.lengths[i:j]),
                    frames.kinds[i:j],
                    _le(frames.clocks[i:j]),
                    problems,
                    received,
                ),
            )
            if i == 0 and tail.stored:  # the short block this writer stored last
                conn.exec_driver_sql(_rewrite_block(conn), (*values, state.id, offset))
            else:
                rows.append((*values, state.id, offset))
            if j - i < size:
                part = _Piece(
                    bytes(raw[at[i] : at[j]]),
                    frames.lengths[i:j],
                    frames.kinds[i:j],
                    frames.clocks[i:j],
                    problems,
                    received,
                )
                new_tail = _Tail(offset, (part,), j - i)
        # one statement per _BLOCK_ROWS (the server runs each of an executemany's rows apart)
        for k in range(0, len(rows), _BLOCK_ROWS):
            chunk = rows[k : k + _BLOCK_ROWS]
            sql = _insert(conn, "frame_blocks", _BLOCK_COLUMNS, len(chunk))
            conn.exec_driver_sql(sql, tuple(itertools.chain.from_iterable(chunk)))
        state.tail = new_tail

    def _project(
        self, conn: Connection, parts: list[tuple[int, Sequence[Envelope], Sequence[Change]]]
    ) -> None:
        """Run the projections once per run of consecutive batches of a session in this
        transaction (the rows do not depend on where batches are cut; fewer statements)."""
        if not self.projections:
            return
        for session_id, run in itertools.groupby(parts, key=operator.itemgetter(0)):
            got = list(run)
            if len(got) == 1:
                envs, changes = got[0][1], got[0][2]
            else:
                envs = [e for part in got for e in part[1]]
                changes = [c for part in got for c in part[2]]
            for projection in self.projections:
                projection(
                    conn,
                    server_id=self.server_id,
                    session_id=session_id,
                    envelopes=envs,
                    changes=changes,
                )

    def _note_anomalies(self, conn: Connection, session_id: int, changes: Sequence[Change]) -> None:
        rows = [
            {
                "server_id": self.server_id,
                "session_id": session_id,
                "seq": c.seq,
                "at": c.at,
                "kind": c.kind,
                "detail": c.detail,
                "event": c.event,
            }
            for c in changes
            if type(c) is Anomaly
        ]
        if rows:
            conn.execute(insert(AnomalyRow), rows)

    def _snapshot_missing(self, conn: Connection, seq: int, maybe_stored: bool) -> bool:
        if not maybe_stored:
            return True
        found = conn.execute(
            select(Snapshot.id).where(
                Snapshot.server_id == self.server_id,
                Snapshot.fold_version == self.fold_version,
                Snapshot.seq == seq,
            )
        ).first()
        return found is None

    # -- session rows ------------------------------------------------------------------------
    def _open_session(self, conn: Connection, info: SessionInfo) -> _SessionState:
        row = conn.execute(
            select(Session.id, Session.first_seq, Session.frames).where(
                Session.server_id == self.server_id, Session.key == info.key
            )
        ).first()
        if row is None:
            at = conn.execute(
                select(func.max(Session.first_seq + Session.frames)).where(
                    Session.server_id == self.server_id
                )
            ).scalar_one()
            if at is not None and info.first_seq < at:
                raise StoreError(
                    f"session {info.key!r} would start at seq {info.first_seq}, inside frames "
                    f"already stored for this server (up to {at - 1}): one recorder per server"
                )
            session_id = conn.execute(
                insert(Session)
                .values(
                    server_id=self.server_id,
                    key=info.key,
                    source=info.source,
                    origin=info.origin,
                    first_seq=info.first_seq,
                    frames=0,
                    live_events=0,
                    stamped_events=0,
                )
                .returning(Session.id)
            ).scalar_one()
            return _SessionState(session_id, info.first_seq, 0, None)
        if row.first_seq != info.first_seq:
            raise StoreError(
                f"session {info.key!r} is stored from seq {row.first_seq}, not {info.first_seq}"
            )
        limit = conn.execute(
            select(func.min(Session.first_seq)).where(
                Session.server_id == self.server_id, Session.first_seq > row.first_seq
            )
        ).scalar_one()
        return _SessionState(row.id, row.first_seq, row.frames, limit)

    def _load_versions(self, conn: Connection) -> list[str]:
        versions = conn.execute(
            select(Server.versions).where(Server.id == self.server_id)
        ).scalar_one()
        return list(versions or [])


def _session_grown(conn: Connection, first_time: bool) -> str:
    """The session row after new frames: ``frames``, ``last_time``, the live and stamped
    counts to add, with ``first_time`` the event time to set if the row has none, and the id
    (SQL for the driver: SQLAlchemy's compilation of an ``update()`` costs more than running
    it, and the import's writer process compiles afresh)."""
    m = marks(conn, 1)
    start = f", first_time = coalesce(first_time, {m})" if first_time else ""
    return (
        f"UPDATE sessions SET frames = {m}, last_time = {m}, live_events = live_events + {m}, "
        f"stamped_events = stamped_events + {m}{start} WHERE id = {m}"
    )


_SNAPSHOT_COLUMNS = ("server_id", "session_id", "seq", "clock", "fold_version", "codec", "data")
_BLOCK_VALUES = (
    "server_id",
    "first_seq",
    "last_seq",
    "frame_count",
    "first_time",
    "last_time",
    "codec",
    "data",
)
"""The columns of a block's row that a rewrite sets (it is found by the other two)."""
_BLOCK_COLUMNS = (*_BLOCK_VALUES, "session_id", "first_offset")
_BLOCK_ROWS = 64
"""New blocks per ``INSERT`` (640 parameters: below even old SQLite builds' limit of 999)."""


def _insert(conn: Connection, table: str, columns: tuple[str, ...], rows: int = 1) -> str:
    """``INSERT`` of ``rows`` rows' ``columns`` (their values one after the other) as driver
    SQL (the writer's statements run in a fresh process per import: SQLAlchemy's compilation
    of each ORM statement cost more than running it, and its per-execution work ~2x the
    driver's)."""
    names = ", ".join(columns)
    row = f"({marks(conn, len(columns))})"
    return f"INSERT INTO {table} ({names}) VALUES {', '.join([row] * rows)}"


def _rewrite_block(conn: Connection) -> str:
    """``UPDATE`` of a block's ``_BLOCK_VALUES``, found by its session and first offset."""
    m = marks(conn, 1)
    sets = ", ".join(f"{c} = {m}" for c in _BLOCK_VALUES)
    return f"UPDATE frame_blocks SET {sets} WHERE session_id = {m} AND first_offset = {m}"


def utc(ts: float | None) -> datetime | None:
    """Epoch seconds as an aware UTC datetime."""
    return datetime.fromtimestamp(ts, UTC) if ts is not None else None
