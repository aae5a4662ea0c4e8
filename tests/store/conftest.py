"""Databases for the store tests: a fresh SQLite file, or a fresh PostgreSQL schema.

Each PostgreSQL test gets its own randomly named schema (several test runs share the server),
reached through ``options=-csearch_path=...`` in the URL, and dropped afterwards. The
PostgreSQL tests fail, not skip, when the server is down.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tracker.prestart import Opening, Prestarted, Target, prestart

PG_URL = os.environ.get("AMI_TRACKER_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
BACKENDS = ["sqlite", "postgresql"]


def pg_schema_url(schema: str) -> str:
    sep = "&" if "?" in PG_URL else "?"
    return f"{PG_URL}{sep}options=-csearch_path%3D{schema}"


@contextmanager
def fresh_pg_schema(prefix: str = "t") -> Iterator[str]:
    """URL of a fresh, empty PostgreSQL schema, dropped afterwards."""
    schema = f"{prefix}_{secrets.token_hex(6)}"
    admin = create_engine(PG_URL)
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        yield pg_schema_url(schema)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def pg_url() -> Iterator[str]:
    """URL of a fresh, empty PostgreSQL schema."""
    with fresh_pg_schema() as url:
        yield url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'store.sqlite'}"


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest) -> str:
    """An empty database of each backend (no schema yet)."""
    name = "sqlite_url" if request.param == "sqlite" else "pg_url"
    url: str = request.getfixturevalue(name)
    return url


@pytest.fixture
def store_url(db_url: str) -> str:
    """A database of each backend, upgraded to the head revision."""
    from tracker.store import migrate

    migrate.upgrade(db_url)
    return db_url


@pytest.fixture
def prestarted(monkeypatch: pytest.MonkeyPatch) -> list[Prestarted]:
    """Every writer child the command prestarts, in order."""
    from tracker import prestart as prestart_module

    made: list[Prestarted] = []

    def spy(url: str, target: Target, opening: Opening | None = None) -> Prestarted | None:
        found = prestart(url, target, opening)
        assert found is not None
        made.append(found)
        return found

    monkeypatch.setattr(prestart_module, "prestart", spy)
    return made
