"""Tables of the event store's core: servers, sessions, the raw log, snapshots.

Frame numbering (every other table, the reporting ones included, follows it):

* ``seq``: the position of a frame in its **server's** log, 0-based, counting every received
  frame (banner, responses, list items, events, protocol anomalies), increasing across sessions
  and processes. It is ``Envelope.seq`` and ``World.seq`` when the log is replayed, so
  ``replay --at SEQ``, call records' frame ranges and snapshots all speak in ``seq``. A capture
  imported into a fresh server has the seqs ``replay CAPTURE`` gives its frames.
* ``offset``: the position of a frame in its **session** (0 = the banner). A session owns the
  contiguous range ``seq = sessions.first_seq + offset``; a new session of a server starts right
  after the last frame stored for that server (one recorder per server at a time).
* Idempotency: ``(server, session, offset)`` identifies a frame. A session is found again by its
  ``key`` (live: a random id per AMI connection; import: a digest of the capture's first bytes),
  and the writer skips offsets already stored, so a batch retried after a crash, or a capture
  imported twice, is never stored twice, and a grown capture imported again adds only its tail.

Times: ``*_time``/``clock`` columns are the fold's clock in epoch seconds (Asterisk's
``Timestamp`` headers, non-decreasing along ``seq``), compared directly with ``World.clock``;
wall-clock columns (``*_at``) are timezone-aware.

A frame block's ``data`` is a compressed (``codec``) payload of consecutive frames of one session:
see :mod:`tracker.store.blocks`.

Reporting rows are written through :class:`Projection` hooks in the same transaction as the
frames they come from.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from sqlalchemy import (
    JSON,
    BigInteger,
    Connection,
    DateTime,
    Double,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from ..events.envelope import Envelope
from ..state import Change
from .base import Base

BigId = BigInteger().with_variant(Integer(), "sqlite")
"""64-bit ids; INTEGER on SQLite so the column is the rowid (auto-increment, no extra index)."""


class Server(Base):
    """One tracked Asterisk (several may share a database)."""

    __tablename__ = "servers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    ami_url: Mapped[str | None] = mapped_column(String(500))
    """AMI URL without the secret."""
    versions: Mapped[list[str]] = mapped_column(JSON, default=list)
    """Banners and Asterisk versions seen, in first-seen order."""
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Session(Base):
    """One AMI session (live connection) or one imported capture: a contiguous seq range."""

    __tablename__ = "sessions"
    __table_args__ = (
        UniqueConstraint("server_id", "key"),
        UniqueConstraint("server_id", "first_seq"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    server_id: Mapped[int] = mapped_column(ForeignKey("servers.id"))
    key: Mapped[str] = mapped_column(String(100))
    """Identity for idempotent writes (see the module docstring)."""
    source: Mapped[str] = mapped_column(String(20))
    """``live`` or ``import``."""
    origin: Mapped[str | None] = mapped_column(String(1000))
    """Redacted AMI URL or capture file name."""
    first_seq: Mapped[int] = mapped_column(BigInteger)
    frames: Mapped[int] = mapped_column(BigInteger, default=0)
    """Frames stored so far (offsets ``0..frames-1``)."""
    first_time: Mapped[float | None] = mapped_column(Double)
    last_time: Mapped[float | None] = mapped_column(Double)
    connected_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    logged_in_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resync_started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resync_ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    disconnected_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    disconnect_reason: Mapped[str | None] = mapped_column(Text)
    live_events: Mapped[int] = mapped_column(BigInteger, default=0)
    """Live (not list-answer) events stored."""
    stamped_events: Mapped[int] = mapped_column(BigInteger, default=0)
    """Of those, the ones with a time: a ``Timestamp`` header, or the receive time the fold
    used (none in a capture of an Asterisk with ``timestampevents = no``)."""


class FrameBlock(Base):
    """Consecutive frames of one session, compressed: the raw log, byte-exact."""

    __tablename__ = "frame_blocks"
    __table_args__ = (
        UniqueConstraint("server_id", "first_seq"),
        UniqueConstraint("session_id", "first_offset"),
        Index("ix_frame_blocks_server_id_last_time", "server_id", "last_time"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    server_id: Mapped[int] = mapped_column(ForeignKey("servers.id"))
    session_id: Mapped[int] = mapped_column(ForeignKey("sessions.id"))
    first_seq: Mapped[int] = mapped_column(BigInteger)
    last_seq: Mapped[int] = mapped_column(BigInteger)
    first_offset: Mapped[int] = mapped_column(BigInteger)
    frame_count: Mapped[int] = mapped_column(Integer)
    first_time: Mapped[float] = mapped_column(Double)
    """Fold clock after the block's first frame."""
    last_time: Mapped[float] = mapped_column(Double)
    """Fold clock after the block's last frame."""
    codec: Mapped[int] = mapped_column(SmallInteger)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class Snapshot(Base):
    """The encoded World right after frame ``seq`` (ignored when ``fold_version`` differs)."""

    __tablename__ = "snapshots"
    __table_args__ = (UniqueConstraint("server_id", "fold_version", "seq"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    server_id: Mapped[int] = mapped_column(ForeignKey("servers.id"))
    session_id: Mapped[int] = mapped_column(ForeignKey("sessions.id"))
    seq: Mapped[int] = mapped_column(BigInteger)
    clock: Mapped[float] = mapped_column(Double)
    fold_version: Mapped[str] = mapped_column(String(40))
    codec: Mapped[int] = mapped_column(SmallInteger)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class ServerLease(Base):
    """Who writes a server's log now: one process at a time (``tracker.store.lease``)."""

    __tablename__ = "server_leases"

    server_id: Mapped[int] = mapped_column(ForeignKey("servers.id"), primary_key=True)
    token: Mapped[str] = mapped_column(String(64))
    """Random per holder: a takeover or release only touches the row it read."""
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    acquired_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    heartbeat_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class AnomalyRow(Base):
    """Every ``Anomaly`` change the fold recorded (kept by ``db prune``, like the reports)."""

    __tablename__ = "anomalies"
    __table_args__ = (Index("ix_anomalies_server_id_seq", "server_id", "seq"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    server_id: Mapped[int] = mapped_column(ForeignKey("servers.id"))
    session_id: Mapped[int] = mapped_column(ForeignKey("sessions.id"))
    seq: Mapped[int] = mapped_column(BigInteger)
    at: Mapped[float] = mapped_column(Double)
    kind: Mapped[str] = mapped_column(String(100))
    detail: Mapped[str] = mapped_column(Text)
    event: Mapped[str] = mapped_column(String(200))


class Projection(Protocol):
    """Writes reporting rows for one batch (or consecutive batches of one session, merged),
    inside the transaction that stores their frames.

    ``envelopes`` are the batch's frames as the fold consumed them (``seq`` in the server's
    numbering, only frames not stored before); ``changes`` are the change records they caused.
    """

    def __call__(
        self,
        conn: Connection,
        *,
        server_id: int,
        session_id: int,
        envelopes: Sequence[Envelope],
        changes: Sequence[Change],
    ) -> None: ...


def table_of(model: type[Base]) -> Table:
    """A model's ``Table`` (typed: ``__table__`` is a ``FromClause`` to type checkers).
    Statements on its columns are Core: running them never configures the ORM's mappers,
    which costs a new process ~40-130 ms (the persister's open path uses only these)."""
    table = model.__table__
    assert isinstance(table, Table)
    return table


__all__ = [
    "AnomalyRow",
    "FrameBlock",
    "Projection",
    "Server",
    "ServerLease",
    "Session",
    "Snapshot",
    "table_of",
]
