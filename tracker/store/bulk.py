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
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Connection, Dialect, Select, Table, TextClause, exc, func, select, text

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
    values = _converted(rows, _converters(table, columns, sqlite, epochs))
    names = ", ".join(f'"{c}"' for c in columns)
    if sqlite:
        sql = f'INSERT INTO "{table.name}" ({names}) VALUES ({marks(conn, len(columns))})'
        conn.exec_driver_sql(sql, values)
        return
    sql = f'COPY "{table.name}" ({names}) FROM STDIN'
    with driver_errors(conn, sql):
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        with cursor.copy(sql) as copy:
            for v in values:
                copy.write_row(v)


@contextmanager
def driver_errors(conn: Connection, sql: str) -> Iterator[None]:
    """A driver error raised by the driver's own cursor (``COPY``, :func:`select_rows`) as
    SQLAlchemy raises it from ``execute``: the same exception classes (a lost connection is an
    ``OperationalError``, which the persister retries), and a connection found dead invalidated
    (the pool does not hand it out again)."""
    dbapi = conn.dialect.loaded_dbapi
    try:
        yield
    except dbapi.Error as error:
        dead = conn.dialect.is_disconnect(error, conn.connection.dbapi_connection, None)
        if dead:
            conn.invalidate(error)
        raise exc.DBAPIError.instance(
            sql, None, error, dbapi.Error, connection_invalidated=dead, dialect=conn.dialect
        ) from error


def marks(conn: Connection, n: int) -> str:
    """``n`` positional parameter marks for :func:`select_rows` and :func:`update_rows`."""
    return ", ".join(["?" if conn.dialect.name == "sqlite" else "%s"] * n)


def select_rows(
    conn: Connection, table: Table, where: str, params: Sequence[Any]
) -> list[dict[str, Any]]:
    """Every column of the rows of ``table`` matching ``where`` (SQL; parameters marked by
    :func:`marks`), in ``id`` order, as dicts by column name holding what SQLAlchemy's types
    read (its own ``select`` compiles once per statement shape and engine, then costs ~0.3 ms
    per execution in Python; a projection batch reads a few small sets of rows)."""
    names = ", ".join(f'"{c.name}"' for c in table.c)
    sql = f'SELECT {names} FROM "{table.name}" WHERE {where} ORDER BY "id"'
    with driver_errors(conn, sql):
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute(sql, tuple(params))
            codes = tuple(d[1] for d in cursor.description)
            got = cursor.fetchall()
        finally:
            cursor.close()
    keys, process = _readers(conn.dialect, table, codes)
    rows = []
    for row in got:
        values = list(row)
        for i, reader in process:
            values[i] = reader(values[i])
        rows.append(dict(zip(keys, values, strict=True)))
    return rows


@functools.lru_cache(maxsize=256)
def _readers(
    dialect: Dialect, table: Table, codes: tuple[Any, ...]
) -> tuple[tuple[str, ...], tuple[tuple[int, Callable[[Any], Any]], ...]]:
    """Column names, and (index, result processor) where SQLAlchemy's type has one (``codes``:
    the driver's type codes, which some processors depend on)."""
    out = []
    for i, (column, code) in enumerate(zip(table.c, codes, strict=True)):
        reader = column.type.dialect_impl(dialect).result_processor(dialect, code)
        if reader is not None:
            out.append((i, reader))
    return tuple(c.name for c in table.c), tuple(out)


def update_rows(
    conn: Connection, table: Table, columns: tuple[str, ...], rows: Sequence[Sequence[Any]]
) -> None:
    """``UPDATE table SET columns WHERE id = ?`` for each row (the ``columns`` values, then the
    id), in one driver call, values converted as :func:`insert_values` converts them."""
    if not rows:
        return
    sqlite = conn.dialect.name == "sqlite"
    mark = "?" if sqlite else "%s"
    sets = ", ".join(f'"{c}" = {mark}' for c in columns)
    sql = f'UPDATE "{table.name}" SET {sets} WHERE "id" = {mark}'
    conn.exec_driver_sql(sql, _converted(rows, _converters(table, columns, sqlite, False)))


def _converted(
    rows: Sequence[Sequence[Any]], convert: tuple[tuple[int, Callable[[Any], Any]], ...]
) -> list[tuple[Any, ...]]:
    """``rows`` as tuples, the values at ``convert``'s indexes converted (column by column:
    the transposition is C, one call per converted value)."""
    if not convert:
        return list(map(tuple, rows))
    by_column = list(zip(*rows, strict=True))
    for i, converter in convert:
        by_column[i] = tuple(map(converter, by_column[i]))
    return list(zip(*by_column, strict=True))


def new_ids(conn: Connection, table: Table, n: int) -> list[int]:
    """``n`` ids for new rows of ``table``, ascending, as its own inserts would give them:
    from its sequence on PostgreSQL; on SQLite the rowids after the largest (the transaction
    holds the database's write lock once it has written, so nobody takes them meanwhile)."""
    if n <= 0:
        return []
    if conn.dialect.name == "sqlite":
        top = conn.execute(_max_id(table)).scalar_one()
        start = (top or 0) + 1
        return list(range(start, start + n))
    sequences: dict[str, str] = conn.info.setdefault("ami_tracker_sequences", {})
    sequence = sequences.get(table.name)
    if sequence is None:
        sequence = sequences[table.name] = conn.execute(_sequence_of(table)).scalar_one()
    return sorted(conn.execute(_NEXT_IDS, {"sequence": sequence, "n": n}).scalars())


@functools.cache
def _max_id(table: Table) -> Select[tuple[Any]]:
    return select(func.max(table.c.id))


@functools.cache
def _sequence_of(table: Table) -> TextClause:
    """The name of the sequence behind ``table.id`` (schema-qualified: it stays right for the
    connection, which :func:`new_ids` caches it with)."""
    return text(f"SELECT pg_get_serial_sequence('{table.name}', 'id')")


_NEXT_IDS = text("SELECT nextval(CAST(:sequence AS regclass)) FROM generate_series(1, :n)")
"""``:n`` values of a sequence named by its text (asking ``pg_get_serial_sequence`` in the same
statement cost the server ~70 us, evaluated again for every value)."""
