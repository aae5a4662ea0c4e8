"""Following a server's log while another process (``ami-tracker run``) writes it.

    follower = Follower(store, "pbx1")
    follower.start()                      # the World at the end of the log
    while True:
        follower.apply(follower.fetch())  # fold the frames written since, with the same Reducer

``fetch`` only reads the database (run it in a worker thread); ``apply`` only folds (run it
where the World is read), so a view never sees a World half-way through a fold. The World
after ``apply`` is the one :meth:`Store.world_at` gives at the same seq, which is the writer's
live World once it has written that frame.
"""

from __future__ import annotations

import socket
from collections.abc import Sequence
from datetime import UTC, datetime
from itertools import islice
from typing import NamedTuple

from sqlalchemy import func, select

from ..events.envelope import Envelope
from ..reducer import Reducer
from ..state import World
from .engine import translated
from .lease import pid_alive
from .schema import ServerLease, Session
from .store import PrunedError, ServerInfo, Store, WorldAt

FETCH_FRAMES = 20_000
"""Frames read per fetch at most (a follower far behind catches up over several fetches)."""


class WriterState(NamedTuple):
    """What the database says about the process writing a server's log."""

    next_seq: int
    """Seq of the next frame to be written (the frames stored so far)."""
    sessions: int
    """Sessions in the server's log (connections of every run, and imports)."""
    source: str | None
    """Of the newest session: ``live`` (``run``) or ``import``; None before any session."""
    connected_at: datetime | None
    resyncing: bool
    """Logged in, resync not finished yet."""
    disconnected_at: datetime | None
    disconnect_reason: str | None
    holder: str | None
    """``pid N on HOST`` holding the server's write lease (None: no writer running)."""
    heartbeat_age: float | None
    """Wall-clock seconds since the lease holder's last heartbeat."""
    holder_gone: bool
    """The lease holder is a process of this host that no longer runs."""


class Update(NamedTuple):
    """What one :meth:`Follower.fetch` found."""

    server: ServerInfo
    writer: WriterState
    envelopes: Sequence[Envelope]
    """The frames after the last one folded, in seq order."""
    restart: WorldAt | None = None
    """Set when the frames after the last one folded are gone (pruned, or the log was
    replaced): the World to start over from, at the end of the log."""
    reason: str = ""
    """Why it restarted."""


def _aware(moment: datetime | None) -> datetime | None:
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)  # SQLite returns naive datetimes (stored as UTC)


def writer_state(store: Store, server: ServerInfo) -> WriterState:
    """The newest session of ``server`` and the lease of its writer (two small reads)."""
    with translated(store.url), store.engine.connect() as conn:
        session = conn.execute(
            select(
                Session.source,
                Session.first_seq + Session.frames,
                Session.connected_at,
                Session.logged_in_at,
                Session.resync_ended_at,
                Session.disconnected_at,
                Session.disconnect_reason,
            )
            .where(Session.server_id == server.id)
            .order_by(Session.first_seq.desc(), Session.id.desc())
            .limit(1)
        ).first()
        sessions = conn.execute(
            select(func.count()).select_from(Session).where(Session.server_id == server.id)
        ).scalar_one()
        lease = conn.execute(
            select(ServerLease.host, ServerLease.pid, ServerLease.heartbeat_at).where(
                ServerLease.server_id == server.id
            )
        ).first()
    holder = age = None
    gone = False
    if lease is not None:
        holder = f"pid {lease.pid} on {lease.host}"
        beat = _aware(lease.heartbeat_at)
        age = None if beat is None else (datetime.now(UTC) - beat).total_seconds()
        gone = lease.host == socket.gethostname() and not pid_alive(lease.pid)
    if session is None:
        return WriterState(server.next_seq, 0, None, None, False, None, None, holder, age, gone)
    return WriterState(
        next_seq=max(server.next_seq, int(session[1])),
        sessions=int(sessions),
        source=session.source,
        connected_at=_aware(session.connected_at),
        resyncing=session.logged_in_at is not None and session.resync_ended_at is None,
        disconnected_at=_aware(session.disconnected_at),
        disconnect_reason=session.disconnect_reason,
        holder=holder,
        heartbeat_age=age,
        holder_gone=gone,
    )


class Follower:
    """The World of one server's log, kept up to date by folding what the writer adds."""

    def __init__(self, store: Store, server: str | None = None) -> None:
        self.store = store
        self.server = server
        """The name asked for (None: the only server in the database)."""
        self.info: ServerInfo | None = None
        """The server followed, once :meth:`start` found it."""
        self.reducer = Reducer()
        self.seq = -1
        """Seq of the last frame folded (-1: none)."""
        self.folded = 0
        """Frames folded by :meth:`apply` so far (the start's fold not counted)."""
        self.restarts = 0
        """Times it started over at the end of the log (pruned or replaced under it)."""

    @property
    def world(self) -> World:
        """The working World (changed in place by :meth:`apply`; copy it to keep it)."""
        return self.reducer.world

    def start(self) -> WorldAt:
        """Start at the end of the log (raises ``StoreError``: no such server, several)."""
        update = self._restart("")
        assert update.restart is not None
        self.apply(update)
        return update.restart

    def fetch(self, limit: int = FETCH_FRAMES) -> Update:
        """The frames written after the last one folded, up to ``limit``; before the first
        fetch (or :meth:`start`), the World at the end of the log. Blocking: reads the database
        only, so it may run in another thread than :meth:`apply`. Raises ``StoreError`` (the
        database is unreachable, the server is not there or not named when several are)."""
        if self.info is None:
            return self._restart("")
        info = self.store.server(self.server)
        if info.id != self.info.id:
            return self._restart(f"server {info.name!r} was recreated in the database")
        writer = writer_state(self.store, info)
        end = writer.next_seq - 1
        if end < self.seq:
            return self._restart(f"the log now ends at seq {end}, before seq {self.seq}")
        if end == self.seq:
            return Update(info, writer, [])
        last = min(end, self.seq + limit)
        try:
            found = self.store.iter_envelopes(info.name, first=self.seq + 1, last=last, strict=True)
            envelopes = list(islice(found, limit))
        except PrunedError as exc:
            return self._restart(str(exc))
        return Update(info, writer, envelopes)

    def _restart(self, reason: str) -> Update:
        info = self.store.server(self.server)
        writer = writer_state(self.store, info)
        return Update(info, writer, [], self.store.world_at(info.name), reason)

    def apply(self, update: Update) -> int:
        """Fold what :meth:`fetch` found (pure: no I/O); returns the frames folded."""
        if update.restart is not None:
            self.reducer = Reducer(update.restart.world)
            self.seq = update.restart.seq
            self.restarts += bool(update.reason)
            self.info = update.server
        reducer = self.reducer
        n = 0
        for env in update.envelopes:
            if env.seq <= self.seq:
                continue  # fetched again after a restart
            reducer.apply(env)
            self.seq = env.seq
            n += 1
        self.folded += n
        return n


__all__ = ["FETCH_FRAMES", "Follower", "Update", "WriterState", "writer_state"]
