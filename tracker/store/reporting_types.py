"""Column types of the reporting tables.

``UtcDateTime`` is a timezone-aware timestamp on every backend: PostgreSQL stores a
``timestamptz``; SQLite has no time zones, so the value is stored as UTC text
(``2026-11-26 03:30:54.305222``, which sorts and compares correctly as text) and comes back with
``tzinfo=UTC``. The fold's times are epoch seconds (floats); :func:`to_datetime` and
:func:`to_epoch` convert exactly at microsecond resolution (Asterisk's ``Timestamp`` precision).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, Dialect, Integer
from sqlalchemy.types import TypeDecorator

ReportId = BigInteger().with_variant(Integer(), "sqlite")
"""64-bit ids; INTEGER on SQLite so the column is the rowid (auto-increment, no extra index)."""


class UtcDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out; naive datetimes are refused."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value.isoformat()} (give a time zone)")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def to_datetime(epoch: float | None) -> datetime | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC)


def to_epoch(value: datetime | None) -> float | None:
    return None if value is None else value.timestamp()
