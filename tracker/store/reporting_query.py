"""Reading call history back from the reporting tables (blocking, plain SQLAlchemy).

``call_records`` yields the same :class:`tracker.state.call.Call` records the fold emitted, in
start order (ties in the order the calls ended), so ``calls --db`` prints exactly what
``calls CAPTURE`` prints. Ranges are half-open on the call's start: ``start <= start_at < until``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Integer, Select, Table, Text, column, select, table

from ..state.call import Call
from .reporting import CALL_LEGS as LEGS
from .reporting import CALLS, TRANSFERS
from .reporting_rows import call_from_rows

SERVERS = table("servers", column("id", Integer), column("name", Text))
"""The servers table, by name only (its model belongs to the store's core schema)."""

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


def call_records(
    conn: Connection,
    *,
    server: str | None = None,
    start: datetime | None = None,
    until: datetime | None = None,
) -> Iterator[Call]:
    """Ended calls that started in ``[start, until)`` (on ``server``, by name, if given)."""
    result = conn.execute(calls_query(server=server, start=start, until=until)).mappings()
    while page := result.fetchmany(PAGE):
        ids = [row["id"] for row in page]
        legs = _children(conn, LEGS, ids)
        transfers = _children(conn, TRANSFERS, ids)
        for row in page:
            yield call_from_rows(dict(row), legs[row["id"]], transfers[row["id"]])


__all__ = ["call_records", "calls_query", "server_filter"]
