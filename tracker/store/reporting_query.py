"""Reading call history back from the reporting tables (blocking, plain SQLAlchemy).

``call_records`` yields the same :class:`tracker.state.call.Call` records the fold emitted, in
start order (ties in the order the calls ended), so ``calls --db`` prints exactly what
``calls CAPTURE`` prints. Ranges are half-open on the call's start: ``start <= start_at < until``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Select, Table, select

from ..state.call import Call
from .engine import translated
from .reporting import CALL_LEGS as LEGS
from .reporting import CALLS, TRANSFERS
from .reporting_rows import call_from_rows
from .schema import Server
from .store import Store

SERVERS = Server.__table__
"""Reports and filters name servers (``servers.name``)."""
assert isinstance(SERVERS, Table)

PAGE = 500


def server_filter(tbl: Table, server: str | None) -> list[Any]:
    """WHERE clauses restricting ``tbl.server_id`` to the server called ``server``."""
    if server is None:
        return []
    return [tbl.c.server_id.in_(select(SERVERS.c.id).where(SERVERS.c.name == server))]


def calls_query(
    *, server: str | None = None, start: datetime | None = None, until: datetime | None = None
) -> Select[Any]:
    c = CALLS.c
    where = server_filter(CALLS, server)
    if start is not None:
        where.append(c.start_at >= start)
    if until is not None:
        where.append(c.start_at < until)
    return select(CALLS).where(*where).order_by(c.start_at, c.id)


def _children(conn: Connection, tbl: Table, ids: Sequence[int]) -> dict[int, list[Any]]:
    out: dict[int, list[Any]] = {i: [] for i in ids}
    rows = conn.execute(
        select(tbl).where(tbl.c.call_id.in_(ids)).order_by(tbl.c.call_id, tbl.c.ordinal)
    )
    for row in rows.mappings():
        out[row["call_id"]].append(row)
    return out


Moment = datetime | float
"""An aware datetime, or epoch seconds."""


def aware(value: Moment | None) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromtimestamp(value, UTC)


def call_records(
    conn: Connection,
    *,
    server: str | None = None,
    start: Moment | None = None,
    until: Moment | None = None,
) -> Iterator[Call]:
    """Ended calls that started in ``[start, until)`` (on ``server``, by name, if given)."""
    query = calls_query(server=server, start=aware(start), until=aware(until))
    result = conn.execute(query).mappings()
    while page := result.fetchmany(PAGE):
        ids = [row["id"] for row in page]
        legs = _children(conn, LEGS, ids)
        transfers = _children(conn, TRANSFERS, ids)
        for row in page:
            yield call_from_rows(dict(row), legs[row["id"]], transfers[row["id"]])


def load_call_records(
    store: Store,
    *,
    server: str | None = None,
    start: Moment | None = None,
    until: Moment | None = None,
) -> list[Call]:
    """:func:`call_records` from an open store, as a list (database errors: ``StoreError``)."""
    with translated(store.url), store.engine.connect() as conn:
        return list(call_records(conn, server=server, start=start, until=until))


__all__ = ["Moment", "aware", "call_records", "calls_query", "load_call_records", "server_filter"]
