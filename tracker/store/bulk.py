"""Many rows into one table with the driver's own bulk path (the import's hot inserts).

SQLAlchemy's ``execute(insert(t), rows)`` runs Python code per row and value (bind processors,
parameter dicts); here the rows become tuples once, values are converted only where the column
type needs it, and the driver takes them whole: ``executemany`` on SQLite (a C loop), ``COPY``
on PostgreSQL (one stream instead of a statement per row). Stored values are the same as
SQLAlchemy's: aware datetimes as naive UTC text on SQLite (its ``DATETIME`` format), JSON as
``json.dumps`` text.
"""

from __future__ import annotations

import functools
import json
import operator
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Connection, Table, func, select, text

from .reporting_types import UtcDateTime


def _sqlite_time(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is UTC:  # the usual case: cut the offset off
        return value.isoformat(" ", "microseconds")[:26]
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value.isoformat()} (give a time zone)")
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise ValueError(f"naive datetime {value.isoformat()} (give a time zone)")
    return value


@functools.cache
def _converters(
    table: Table, columns: tuple[str, ...], sqlite: bool
) -> tuple[tuple[int, Callable[[Any], Any]], ...]:
    """(index, converter) for the columns whose values the driver cannot take as they are."""
    out: list[tuple[int, Callable[[Any], Any]]] = []
    for i, name in enumerate(columns):
        kind = table.c[name].type
        if isinstance(kind, UtcDateTime):
            out.append((i, _sqlite_time if sqlite else _aware))
        elif isinstance(kind, JSON):
            out.append((i, json.dumps))  # as SQLAlchemy's JSON: None is 'null'
    return tuple(out)


def insert_rows(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert ``rows`` (dicts with the same keys) into ``table`` in one driver call."""
    if not rows:
        return
    columns = tuple(rows[0])
    sqlite = conn.dialect.name == "sqlite"
    get = operator.itemgetter(*columns)
    values: list[Any]
    if len(columns) == 1:
        values = [[get(r)] for r in rows]
    else:
        values = list(map(list, map(get, rows)))
    for i, convert in _converters(table, columns, sqlite):
        for v in values:
            v[i] = convert(v[i])
    names = ", ".join(f'"{c}"' for c in columns)
    if sqlite:
        marks = ", ".join("?" * len(columns))
        sql = f'INSERT INTO "{table.name}" ({names}) VALUES ({marks})'
        conn.exec_driver_sql(sql, list(map(tuple, values)))
        return
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    with cursor.copy(f'COPY "{table.name}" ({names}) FROM STDIN') as copy:
        for v in values:
            copy.write_row(v)


def new_ids(conn: Connection, table: Table, n: int) -> list[int]:
    """``n`` ids for new rows of ``table``, ascending, as its own inserts would give them:
    from its sequence on PostgreSQL; on SQLite the rowids after the largest (the transaction
    holds the database's write lock once it has written, so nobody takes them meanwhile)."""
    if n <= 0:
        return []
    if conn.dialect.name == "sqlite":
        top = conn.execute(select(func.max(table.c.id))).scalar_one()
        start = (top or 0) + 1
        return list(range(start, start + n))
    seq = conn.execute(select(func.pg_get_serial_sequence(table.name, "id"))).scalar_one()
    got = conn.execute(
        text("SELECT nextval(:seq) FROM generate_series(1, :n)"), {"seq": seq, "n": n}
    ).scalars()
    return sorted(got)
