"""Alembic's environment runs against a real SQLite file and the real PostgreSQL server.

The schema arrives with the store; these tests keep the migration tooling working on both
databases from the start (a broken env.py or an unreachable PostgreSQL fails here).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parents[2]
PG_URL = os.environ.get("AMI_TRACKER_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def _config() -> Config:
    return Config(str(ROOT / "alembic.ini"))


def test_revision_history_is_linear() -> None:
    script = ScriptDirectory.from_config(_config())
    assert len(script.get_heads()) <= 1
    for rev in script.walk_revisions():
        assert rev.module.__doc__, f"revision {rev.revision} needs a docstring"


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_upgrade_head_on_a_real_database(backend: str, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'tracker.sqlite'}" if backend == "sqlite" else PG_URL
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            cfg = _config()
            cfg.attributes["connection"] = connection
            command.upgrade(cfg, "head")
            assert connection.execute(text("SELECT 1")).scalar_one() == 1
            assert connection.dialect.name == backend
    finally:
        engine.dispose()
    if backend == "sqlite":
        assert (tmp_path / "tracker.sqlite").exists()
