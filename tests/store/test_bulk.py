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
from sqlalchemy import create_engine, insert, select, text

from tracker.store.bulk import (
    _json,
    _sqlite_epoch,
    _sqlite_time,
    insert_rows,
    insert_values,
    new_ids,
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
