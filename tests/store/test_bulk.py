"""The projection's bulk path (``tracker.store.bulk``) stores exactly what SQLAlchemy's own
``insert`` stores, on a real SQLite file and the real PostgreSQL: times (as text on SQLite),
JSON, booleans, NULLs, non-ASCII text; and hands out the ids plain inserts would have used."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from sqlalchemy import create_engine, event, insert, select, text, update

from tracker.store.bulk import (
    _json,
    _sqlite_epoch,
    _sqlite_time,
    insert_rows,
    insert_values,
    marks,
    new_ids,
    select_rows,
    update_rows,
)
from tracker.store.reporting import ASTERISK_CDR, QUEUE_CALLS
from tracker.store.reporting_types import to_datetime
from tracker.store.schema import Server, Session

PARIS = timezone(timedelta(hours=1))
NAIVE = datetime(2026, 1, 1, tzinfo=UTC).replace(tzinfo=None)


def _rows(server_id: int, session_id: int) -> list[dict[str, Any]]:
    base = {"server_id": server_id, "session_id": session_id, "channel": "PJSIP/ü-1"}
    return [
        {**base, "seq": 1, "at": datetime(2026, 11, 26, 3, 30, 54, tzinfo=UTC), "extra": {}},
        {
            **base,
            "seq": 2,
            "at": datetime(2026, 11, 26, 4, 30, 54, 305222, tzinfo=PARIS),
            "extra": {"LinkedID": "1795.7", "é": None},
        },
        {**base, "seq": 3, "at": None, "extra": {"n": [1, 2.5, True]}},
    ]


def _raw(conn: Any, table: str, ids: list[int]) -> list[tuple[Any, ...]]:
    cast = "" if conn.dialect.name == "sqlite" else "::text"
    sql = f'SELECT seq, "at"{cast}, extra{cast}, channel FROM "{table}" WHERE id IN '
    return [tuple(r) for r in conn.exec_driver_sql(sql + f"({', '.join(map(str, ids))})")]


def _server_and_session(conn: Any) -> tuple[int, int]:
    server_id = conn.execute(
        insert(Server)
        .values(name="s", versions=[], created_at=datetime.now(UTC))
        .returning(Server.id)
    ).scalar_one()
    session_id = conn.execute(
        insert(Session)
        .values(server_id=server_id, key="k", source="import", first_seq=0)
        .returning(Session.id)
    ).scalar_one()
    return server_id, session_id


def test_bulk_rows_are_stored_as_sqlalchemy_stores_them(store_url: str) -> None:
    engine = create_engine(store_url)
    try:
        with engine.begin() as conn:
            server_id, session_id = _server_and_session(conn)
            conn.execute(insert(ASTERISK_CDR), _rows(server_id, session_id))
            assert new_ids(conn, ASTERISK_CDR, 0) == []
            first = list(conn.execute(select(ASTERISK_CDR.c.id)).scalars())
            rows = [{**r, "seq": r["seq"] + 10} for r in _rows(server_id, session_id)]
            insert_rows(conn, ASTERISK_CDR, rows)
            second = sorted(set(conn.execute(select(ASTERISK_CDR.c.id)).scalars()) - set(first))
            # the same stored text, byte for byte, for both ways in
            expected = [(seq + 10, *rest) for seq, *rest in _raw(conn, "asterisk_cdr", first)]
            assert _raw(conn, "asterisk_cdr", second) == expected
            # and the same values read back through SQLAlchemy's types
            got = conn.execute(select(ASTERISK_CDR.c.at, ASTERISK_CDR.c.extra)).all()
            assert got[:3] == got[3:]
            assert got[1].at == datetime(2026, 11, 26, 3, 30, 54, 305222, tzinfo=UTC)

            ids = new_ids(conn, QUEUE_CALLS, 3)
            assert ids == sorted(ids) and len(set(ids)) == 3
            conn.execute(
                insert(QUEUE_CALLS),
                [
                    {
                        "server_id": server_id,
                        "session_id": session_id,
                        "queue": "q",
                        "uniqueid": "u",
                        "channel": "c",
                        "outcome": "waiting",
                        "joined_late": False,
                    }
                ],
            )
            after = conn.execute(select(QUEUE_CALLS.c.id)).scalar_one()
            if conn.dialect.name == "sqlite":
                assert after == ids[0]  # the rowid a plain insert takes next
            else:
                assert after > ids[-1]  # the sequence moved past them
    finally:
        engine.dispose()


def test_naive_datetimes_are_refused(store_url: str) -> None:
    engine = create_engine(store_url)
    try:
        with engine.begin() as conn, pytest.raises(ValueError, match="naive datetime"):
            insert_rows(conn, ASTERISK_CDR, [{"seq": 1, "at": NAIVE}])
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM asterisk_cdr")).scalar_one() == 0
    finally:
        engine.dispose()


EPOCHS = [
    1795664001.5105,
    1795664001.0000005,  # half a microsecond: rounded to even, as datetime.fromtimestamp does
    1795664001.0000015,
    1795664001.9999995,  # rounds up into the next second
    1795664001,
    None,
    0.0,
    -1.25,
]


def test_epoch_times_are_stored_as_their_datetimes(store_url: str) -> None:
    """``insert_values``/``insert_rows`` with ``epochs``: the same stored bytes as the
    datetimes ``to_datetime`` makes of them, and JSON as ``json.dumps`` (an empty dict too)."""
    engine = create_engine(store_url)
    try:
        with engine.begin() as conn:
            server_id, session_id = _server_and_session(conn)
            columns = ("server_id", "session_id", "seq", "at", "extra", "channel")
            extras: list[dict[str, Any]] = [{}, {"LinkedID": "1795.7"}]

            def values(first: int, epochs: bool) -> list[tuple[Any, ...]]:
                return [
                    (
                        server_id,
                        session_id,
                        first + i,
                        at if epochs else to_datetime(at),
                        extras[i % 2],
                        "c",
                    )
                    for i, at in enumerate(EPOCHS)
                ]

            insert_values(conn, ASTERISK_CDR, columns, values(0, False))
            insert_values(conn, ASTERISK_CDR, columns, values(100, True), epochs=True)
            as_dicts = [dict(zip(columns, v, strict=True)) for v in values(200, True)]
            insert_rows(conn, ASTERISK_CDR, as_dicts, epochs=True)
            ids = list(conn.execute(select(ASTERISK_CDR.c.id).order_by("id")).scalars())
            stored = _raw(conn, "asterisk_cdr", ids)
            n = len(EPOCHS)
            plain = [rest for _, *rest in stored[:n]]
            assert [rest for _, *rest in stored[n : 2 * n]] == plain
            assert [rest for _, *rest in stored[2 * n :]] == plain
            got = conn.execute(select(ASTERISK_CDR.c.at).order_by("id")).scalars().all()
            assert got[:n] == [to_datetime(e) for e in EPOCHS]
            assert got[n : 2 * n] == got[:n] == got[2 * n :]
            assert got[1] == datetime(2026, 11, 26, 3, 33, 21, tzinfo=UTC)
            assert got[3] == datetime(2026, 11, 26, 3, 33, 22, tzinfo=UTC)
            extra = conn.execute(select(ASTERISK_CDR.c.extra).order_by("id")).scalars().all()
            assert extra[:2] == extras
    finally:
        engine.dispose()


@given(
    st.one_of(
        st.floats(min_value=-2e9, max_value=4e9, allow_nan=False),
        st.integers(min_value=-(10**9), max_value=4 * 10**9),
        st.builds(
            lambda s, us: s + (us + 0.5) / 1e6,
            st.integers(min_value=-(10**9), max_value=4 * 10**9),
            st.integers(min_value=0, max_value=999_999),
        ),
        st.none(),
    )
)
@example(1795664001.0000005)
@example(1795664001.9999995)
@example(-0.0000005)
@example(-1.9999995)
def test_epoch_text_on_sqlite_is_the_datetime_text(epoch: float | None) -> None:
    assert _sqlite_epoch(epoch) == _sqlite_time(to_datetime(epoch))


def test_json_values_are_json_dumps() -> None:
    values: list[Any] = [{}, {"a": "é"}, [], None, {"n": [1, 2.5, True]}, "x"]
    for value in values:
        assert _json(value) == json.dumps(value)


def test_select_and_update_rows_read_and_store_as_sqlalchemy_does(store_url: str) -> None:
    """``select_rows`` gives the dicts SQLAlchemy's ``select`` maps (aware UTC datetimes,
    booleans, floats, NULLs); ``update_rows`` stores the bytes SQLAlchemy's ``update`` does."""
    engine = create_engine(store_url)
    try:
        with engine.begin() as conn:
            server_id, session_id = _server_and_session(conn)
            base = {"server_id": server_id, "session_id": session_id, "channel": "c"}
            made = [
                {**base, "queue": "q1", "uniqueid": "u1", "outcome": "waiting",
                 "joined_at": datetime(2026, 11, 26, 4, 30, 54, 305222, tzinfo=PARIS),
                 "joined_late": False, "wait": 2.5, "position": 3},
                {**base, "queue": "q2", "uniqueid": "ü2", "outcome": "answered",
                 "joined_at": None, "joined_late": True, "wait": None},
                {**base, "queue": "q3", "uniqueid": "u3", "outcome": "waiting",
                 "joined_late": False},
            ]  # fmt: skip
            for row in [*made, *made]:
                conn.execute(insert(QUEUE_CALLS).values(**row))
            mine = list(conn.execute(select(QUEUE_CALLS.c.id).order_by("id")).scalars())
            where = f'"server_id" = {marks(conn, 1)} AND "queue" IN ({marks(conn, 2)})'
            got = select_rows(conn, QUEUE_CALLS, where, [server_id, "q2", "q1"])
            query = (
                select(QUEUE_CALLS)
                .where(QUEUE_CALLS.c.queue.in_(["q1", "q2"]))
                .order_by(QUEUE_CALLS.c.id)
            )
            assert got == [dict(r) for r in conn.execute(query).mappings()]
            assert [r["id"] for r in got] == [mine[0], mine[1], mine[3], mine[4]]
            assert got[0]["joined_at"] == made[0]["joined_at"]
            assert got[0]["joined_at"].tzinfo is UTC
            assert (got[0]["joined_late"], got[1]["joined_late"]) == (False, True)

            at = datetime(2026, 11, 26, 3, 31, 0, 1, tzinfo=PARIS)
            changes = [(at, "exited", 4.0, mine[0]), (None, "unknown", 7, mine[1])]
            update_rows(conn, QUEUE_CALLS, ("left_at", "outcome", "wait"), changes)
            for left_at, outcome, wait, row_id in changes:
                conn.execute(
                    update(QUEUE_CALLS)
                    .where(QUEUE_CALLS.c.id == row_id + mine[3] - mine[0])
                    .values(left_at=left_at, outcome=outcome, wait=wait)
                )
            cast = "" if conn.dialect.name == "sqlite" else "::text"
            sql = f"SELECT left_at{cast}, outcome, wait{cast} FROM queue_calls ORDER BY id"
            stored = [tuple(r) for r in conn.exec_driver_sql(sql)]
            assert stored[:3] == stored[3:]
            assert stored[0][1:] == ("exited", "4" if cast else 4.0)
    finally:
        engine.dispose()


def test_new_ids_cost_one_statement(store_url: str) -> None:
    """One statement per call (on PostgreSQL, once the connection knows the table's sequence:
    one more statement the first time)."""
    engine = create_engine(store_url)
    sent: list[str] = []

    def note(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        sent.append(statement)

    try:
        with engine.begin() as conn:
            event.listen(engine, "before_cursor_execute", note)
            first = new_ids(conn, QUEUE_CALLS, 3)
            second = new_ids(conn, QUEUE_CALLS, 2)
            third = new_ids(conn, ASTERISK_CDR, 1)
            event.remove(engine, "before_cursor_execute", note)
        if engine.dialect.name == "sqlite":  # after the largest rowid: nothing inserted yet
            assert len(sent) == 3
            assert (first, second, third) == ([1, 2, 3], [1, 2], [1])
        else:  # from the sequence: the second call gets later values
            assert len(sent) == 5
            assert first == sorted(first) and len(first) == 3
            assert second == sorted(second) and min(second) > max(first)
            with engine.begin() as conn:  # the same connection: the sequence is known
                event.listen(engine, "before_cursor_execute", note)
                later = new_ids(conn, QUEUE_CALLS, 2)
                event.remove(engine, "before_cursor_execute", note)
                made = conn.execute(
                    insert(QUEUE_CALLS).returning(QUEUE_CALLS.c.id),
                    {**_queue_call(conn), "queue": "q"},
                ).scalar_one()
            assert len(sent) == 6
            assert min(later) > max(second) and made == max(later) + 1
    finally:
        engine.dispose()


def _queue_call(conn: Any) -> dict[str, Any]:
    server_id, session_id = _server_and_session(conn)
    return {
        "server_id": server_id,
        "session_id": session_id,
        "uniqueid": "u",
        "channel": "c",
        "outcome": "waiting",
        "joined_late": False,
    }


def test_a_connection_lost_under_the_drivers_own_cursor_is_a_retryable_error(
    pg_url: str,
) -> None:
    """``COPY`` and ``select_rows`` use psycopg's cursor: its errors come out as SQLAlchemy's
    (a lost connection is an ``OperationalError``, retried by the persister) and the dead
    connection is invalidated."""
    from collections.abc import Callable

    from sqlalchemy import Connection, exc

    from tracker.store import migrate
    from tracker.store.engine import is_transient

    migrate.upgrade(pg_url)
    engine = create_engine(pg_url)
    admin = create_engine(pg_url)
    try:
        actions: list[Callable[[Connection], object]] = [
            lambda conn: insert_rows(conn, ASTERISK_CDR, _rows(1, 1)),  # COPY
            lambda conn: select_rows(conn, QUEUE_CALLS, '"server_id" = %s', [1]),
        ]
        for action in actions:
            with engine.connect() as conn:
                pid = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
                with admin.begin() as other:
                    other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
                with pytest.raises(exc.OperationalError) as lost:
                    action(conn)
                assert is_transient(lost.value)
                assert lost.value.connection_invalidated
                assert conn.invalidated
            with engine.connect() as conn:  # the pool hands out a live connection
                assert conn.execute(text("SELECT 1")).scalar_one() == 1
    finally:
        engine.dispose()
        admin.dispose()
