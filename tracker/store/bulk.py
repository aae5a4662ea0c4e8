"""Many rows into one table with the driver's own bulk path (the import's hot inserts).

SQLAlchemy's ``execute(insert(t), rows)`` runs Python code per row and value (bind processors,
parameter dicts); here the rows become tuples once, values are converted only where the column
type needs it, and the driver takes them whole: ``executemany`` on SQLite (a C loop), ``COPY``
on PostgreSQL (one stream instead of a statement per row). Stored values are the same as
SQLAlchemy's: aware datetimes as naive UTC text on SQLite (its ``DATETIME`` format), JSON as
``json.dumps`` text. Rows made from the fold's records may hold their times as epoch seconds
(``epochs=True``): they become that text (and ``+00`` on PostgreSQL) without a datetime in
between, as ``to_datetime`` would have made it (a datetime costs ~2 us more per value).
"""

from __future__ import annotations

import functools
import json
import math
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


def _json(value: Any) -> str:
    """``json.dumps`` (SQLAlchemy's JSON serializer; None is 'null'), an empty dict (the
    ``extra`` of almost every Asterisk record) without its Python-level call chain."""
    return "{}" if type(value) is dict and not value else json.dumps(value)


_SECONDS: dict[int, str] = {}
"""Epoch second -> its SQLite text up to the seconds (``2026-11-26 03:30:54``)."""


def _second_text(second: int) -> str:
    if len(_SECONDS) >= 100_000:
        _SECONDS.clear()
    text = _SECONDS[second] = datetime.fromtimestamp(second, UTC).isoformat(" ")[:19]
    return text


def _sqlite_epoch(epoch: float | None) -> str | None:
    """``_sqlite_time(to_datetime(epoch))`` without the datetime (twice as fast). The
    microseconds are rounded as ``datetime.fromtimestamp`` rounds them: the fraction (from
    ``modf``) times 10**6, rounded half to even (``round``), carried into the seconds."""
    if epoch is None:
        return None
    fraction, whole = math.modf(epoch)
    micro = round(fraction * 1e6)
    second = int(whole)
    if micro >= 1_000_000:
        micro -= 1_000_000
        second += 1
    elif micro < 0:
        micro += 1_000_000
        second -= 1
    prefix = _SECONDS.get(second)
    if prefix is None:
        prefix = _second_text(second)
    return f"{prefix}.{micro:06d}"


def _pg_epoch(epoch: float | None) -> str | None:
    """The ``timestamptz`` text of an epoch (its UTC time, ``+00``): psycopg dumps a text in
    a twentieth of the time it takes to dump a datetime, and the server stores the same."""
    text = _sqlite_epoch(epoch)
    return None if text is None else text + "+00"


@functools.cache
def _converters(
    table: Table, columns: tuple[str, ...], sqlite: bool, epochs: bool
) -> tuple[tuple[int, Callable[[Any], Any]], ...]:
    """(index, converter) for the columns whose values the driver cannot take as they are."""
    out: list[tuple[int, Callable[[Any], Any]]] = []
    times: Callable[[Any], Any]
    if epochs:
        times = _sqlite_epoch if sqlite else _pg_epoch
    else:
        times = _sqlite_time if sqlite else _aware
    for i, name in enumerate(columns):
        kind = table.c[name].type
        if isinstance(kind, UtcDateTime):
            out.append((i, times))
        elif isinstance(kind, JSON):
            out.append((i, _json))
    return tuple(out)


def insert_rows(
    conn: Connection, table: Table, rows: Sequence[dict[str, Any]], *, epochs: bool = False
) -> None:
    """Insert ``rows`` (dicts with the same keys) into ``table`` in one driver call; with
    ``epochs``, times are epoch seconds (or None), not datetimes."""
    if not rows:
        return
    columns = tuple(rows[0])
    get = operator.itemgetter(*columns)
    if len(columns) == 1:
        insert_values(conn, table, columns, [(get(r),) for r in rows], epochs=epochs)
    else:
        insert_values(conn, table, columns, list(map(get, rows)), epochs=epochs)


def insert_values(
    conn: Connection,
    table: Table,
    columns: tuple[str, ...],
    rows: Sequence[Sequence[Any]],
    *,
    epochs: bool = False,
) -> None:
    """Insert ``rows`` (one value per column of ``columns``, in order) into ``table`` in one
    driver call; with ``epochs``, times are epoch seconds (or None), not datetimes."""
    if not rows:
        return
    sqlite = conn.dialect.name == "sqlite"
    convert = _converters(table, columns, sqlite, epochs)
    values: Sequence[Sequence[Any]] = rows
    if convert:  # column by column: the transposition is C, one call per converted value
        by_column = list(zip(*rows, strict=True))
        for i, converter in convert:
            by_column[i] = tuple(map(converter, by_column[i]))
        values = list(zip(*by_column, strict=True))
    names = ", ".join(f'"{c}"' for c in columns)
    if sqlite:
        marks = ", ".join("?" * len(columns))
        sql = f'INSERT INTO "{table.name}" ({names}) VALUES ({marks})'
        conn.exec_driver_sql(sql, values if convert else list(map(tuple, values)))
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
