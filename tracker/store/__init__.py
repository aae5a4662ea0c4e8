"""The event store (SQLAlchemy, blocking; the runtime calls it from worker threads).

Every received frame is kept byte-exact in compressed blocks, with snapshots of the World, so
the state at any point can be rebuilt and every capture exported again. See
:mod:`tracker.store.schema` for the numbering of frames.
"""

from __future__ import annotations

from .engine import SchemaError, describe, redact
from .follow import Follower, Update, WriterState
from .gaps_query import gap_records, load_gaps
from .packed import Packed, SessionInfo
from .reporting_query import call_records, load_call_records
from .schema import AnomalyRow, FrameBlock, Projection, Server, Session, Snapshot
from .store import (
    NoSuchServer,
    PrunedError,
    ServerInfo,
    SessionRow,
    Store,
    StoredFrame,
    WorldAt,
    open_store,
)
from .writer import Batch, BatchWriter, SnapshotPolicy, WriteResult

__all__ = [
    "AnomalyRow",
    "Batch",
    "BatchWriter",
    "Follower",
    "FrameBlock",
    "NoSuchServer",
    "Packed",
    "Projection",
    "PrunedError",
    "SchemaError",
    "Server",
    "ServerInfo",
    "Session",
    "SessionInfo",
    "SessionRow",
    "Snapshot",
    "SnapshotPolicy",
    "Store",
    "StoredFrame",
    "Update",
    "WorldAt",
    "WriteResult",
    "WriterState",
    "call_records",
    "describe",
    "gap_records",
    "load_call_records",
    "load_gaps",
    "open_store",
    "redact",
]
