"""One writer per server's log: a lease row (owner host and pid, heartbeat) in the database.

A persister takes its server's lease when it opens and gives it back when it stops; meanwhile it
renews the heartbeat. A second holder is refused with :class:`LeaseHeld`, unless the lease is
stale: its heartbeat is older than ``stale_after`` seconds, or it belongs to a process that is
gone on this same host (a ``run`` killed with SIGKILL). Taking over and releasing are
compare-and-set on the holder's random token (a lease of this very process is a leftover of an
earlier holder here and is taken over too), so two processes racing for a stale lease cannot
both win, on SQLite as on PostgreSQL.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import uuid
from datetime import UTC, datetime

from sqlalchemy import Engine, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from ..errors import StoreError
from .engine import translated
from .schema import ServerLease, table_of

_LEASES = table_of(ServerLease)
_LEASE = _LEASES.c
"""Core, not the ORM class: a command that only takes a lease never configures the ORM's
mappers (~40-130 ms in a new process)."""

STALE_AFTER = 60.0
"""Seconds without a heartbeat after which a lease may be taken over."""


class LeaseHeld(StoreError):
    """Another live process writes this server's log."""


@dataclasses.dataclass(frozen=True)
class Lease:
    server_id: int
    server: str
    token: str
    host: str
    pid: int


def pid_alive(pid: int) -> bool:
    """Is process ``pid`` running on this host?"""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    return True


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def acquire(
    engine: Engine,
    server_id: int,
    server: str,
    *,
    stale_after: float = STALE_AFTER,
    host: str | None = None,
    pid: int | None = None,
) -> Lease:
    """Take the lease of ``server`` (id ``server_id``) or raise :class:`LeaseHeld`."""
    me = Lease(
        server_id,
        server,
        uuid.uuid4().hex,
        host if host is not None else socket.gethostname(),
        pid if pid is not None else os.getpid(),
    )
    with translated(engine.url):
        for _ in range(3):  # lost a race: read again
            now = datetime.now(UTC)
            mine = {"token": me.token, "host": me.host, "pid": me.pid}
            with engine.begin() as conn:
                held = conn.execute(
                    select(
                        _LEASE.token,
                        _LEASE.host,
                        _LEASE.pid,
                        _LEASE.heartbeat_at,
                    ).where(_LEASE.server_id == server_id)
                ).first()
            if held is None:
                try:
                    with engine.begin() as conn:
                        conn.execute(
                            insert(_LEASES).values(
                                server_id=server_id, acquired_at=now, heartbeat_at=now, **mine
                            )
                        )
                except IntegrityError:
                    continue
                return me
            age = (now - _aware(held.heartbeat_at)).total_seconds()
            # on this host: a dead process, or this very one (an earlier holder in this process
            # that could not release it, e.g. the database was locked at its shutdown)
            gone = held.host == me.host and (held.pid == me.pid or not pid_alive(held.pid))
            if age <= stale_after and not gone:
                raise LeaseHeld(
                    f"server {server!r} is already being tracked into this database by pid "
                    f"{held.pid} on {held.host} (last heartbeat {max(age, 0.0):.0f}s ago): stop "
                    f"that process first, or give this one another --name; a lease without "
                    f"heartbeat for {stale_after:g}s is taken over"
                )
            with engine.begin() as conn:
                took = conn.execute(
                    update(_LEASES)
                    .where(_LEASE.server_id == server_id, _LEASE.token == held.token)
                    .values(acquired_at=now, heartbeat_at=now, **mine)
                ).rowcount
            if took == 1:
                return me
    raise LeaseHeld(f"server {server!r}: another process keeps taking its lease")


def heartbeat(engine: Engine, lease: Lease) -> bool:
    """Renew ``lease``; False if it was taken over meanwhile (we were presumed dead)."""
    with translated(engine.url), engine.begin() as conn:
        renewed = conn.execute(
            update(_LEASES)
            .where(_LEASE.server_id == lease.server_id, _LEASE.token == lease.token)
            .values(heartbeat_at=datetime.now(UTC))
        ).rowcount
    return bool(renewed == 1)


def release(engine: Engine, lease: Lease) -> None:
    """Give ``lease`` back (a no-op if another process took it over)."""
    with translated(engine.url), engine.begin() as conn:
        conn.execute(
            delete(_LEASES).where(_LEASE.server_id == lease.server_id, _LEASE.token == lease.token)
        )


__all__ = ["STALE_AFTER", "Lease", "LeaseHeld", "acquire", "heartbeat", "pid_alive", "release"]
