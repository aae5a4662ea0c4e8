"""What every report shares: the period bucket, the range and server filters, ratios.

Buckets are UTC: ``2026-11-26 03:00`` (``--by hour``) or ``2026-11-26`` (``--by day``), the same
text on SQLite (``strftime``) and PostgreSQL (``to_char``), so a report reads the same on both.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy import (
    ColumnElement,
    Double,
    Select,
    String,
    case,
    cast,
    func,
    literal,
    null,
    select,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql import FromClause
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from ..reporting_query import SERVERS

BUCKETS = ("hour", "day")
_SQLITE = {"hour": "%Y-%m-%d %H:00", "day": "%Y-%m-%d"}
_POSTGRESQL = {"hour": "YYYY-MM-DD HH24:00", "day": "YYYY-MM-DD"}


class bucket(FunctionElement[str]):
    """The UTC hour or day of a timestamp column, as text."""

    type = String()
    inherit_cache = True
    name = "bucket"

    def __init__(self, column: ColumnElement[Any], by: str) -> None:
        if by not in BUCKETS:
            raise ValueError(f"unknown bucket {by!r} (hour or day)")
        self.by = by
        super().__init__(column)


@compiles(bucket, "sqlite")
def _bucket_sqlite(element: bucket, compiler: SQLCompiler, **kw: Any) -> str:
    column = compiler.process(element.clauses, **kw)
    return f"strftime('{_SQLITE[element.by]}', {column})"


@compiles(bucket, "postgresql")
def _bucket_postgresql(element: bucket, compiler: SQLCompiler, **kw: Any) -> str:
    column = compiler.process(element.clauses, **kw)
    return f"to_char({column} AT TIME ZONE 'UTC', '{_POSTGRESQL[element.by]}')"


class Params(msgspec.Struct, kw_only=True, frozen=True):
    """What every report takes: the server (by name), the range of its main time, the bucket."""

    server: str | None = None
    start: datetime | None = None
    until: datetime | None = None
    by: str | None = None
    service_level: float = 20.0
    """Seconds within which an answer counts towards the service level (``queues``)."""


def grouped(
    table: FromClause,
    time: ColumnElement[Any],
    p: Params,
    *columns: ColumnElement[Any],
    server_id: ColumnElement[Any] | None = None,
) -> Select[Any]:
    """``SELECT server, period, columns... FROM table JOIN servers`` filtered by ``p``, grouped
    by server and period, plus ``columns`` with a ``.group`` key. ``server_id``: the column
    naming the server when ``table`` is a join (default ``table.c.server_id``)."""
    keys: list[ColumnElement[Any]] = [SERVERS.c.name]
    if p.by:
        keys.append(bucket(time, p.by))
    where = [*in_range(time, p.start, p.until)]
    if p.server is not None:
        where.append(SERVERS.c.name == p.server)
    label = keys[1].label("period") if p.by else cast(null(), String).label("period")
    return (
        select(SERVERS.c.name.label("server"), label, *columns)
        .select_from(
            table.join(
                SERVERS, SERVERS.c.id == (table.c.server_id if server_id is None else server_id)
            )
        )
        .where(*where)
        .group_by(*keys)
        .order_by(*keys)
    )


def in_range(
    column: ColumnElement[Any], start: datetime | None, until: datetime | None
) -> list[ColumnElement[bool]]:
    where = []
    if start is not None:
        where.append(column >= start)
    if until is not None:
        where.append(column < until)
    return where


def count_if(condition: ColumnElement[bool]) -> ColumnElement[Any]:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def percent(part: ColumnElement[Any], whole: ColumnElement[Any]) -> ColumnElement[Any]:
    """``100 * part / whole`` as a double (NULL when ``whole`` is 0)."""
    return literal(100.0, Double) * cast(part, Double) / func.nullif(cast(whole, Double), 0)
