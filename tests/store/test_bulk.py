"""The projection's bulk path (``tracker.store.bulk``) stores exactly what SQLAlchemy's own
``insert`` stores, on a real SQLite file and the real PostgreSQL: times (as text on SQLite),
JSON, booleans, NULLs, non-ASCII text; and hands out the ids plain inserts would have used."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import create_engine, insert, select, text

from tracker.store.bulk import insert_rows, new_ids
from tracker.store.reporting import ASTERISK_CDR, QUEUE_CALLS
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


def test_bulk_rows_are_stored_as_sqlalchemy_stores_them(store_url: str) -> None:
    engine = create_engine(store_url)
    try:
        with engine.begin() as conn:
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
