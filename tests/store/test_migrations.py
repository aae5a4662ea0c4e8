"""Alembic against a real SQLite file and a real PostgreSQL schema: upgrade, downgrade, drift."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect

from tracker.store import migrate
from tracker.store.models import metadata

ROOT = Path(__file__).resolve().parents[2]


def _tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_revision_history_is_linear() -> None:
    script = ScriptDirectory.from_config(migrate.config())
    assert len(script.get_heads()) == 1
    revisions = list(script.walk_revisions())
    assert revisions[-1].revision == "0001"
    for rev in revisions:
        assert rev.module.__doc__, f"revision {rev.revision} needs a docstring"


def test_upgrade_downgrade_upgrade(db_url: str) -> None:
    assert migrate.current(db_url) is None
    assert migrate.upgrade(db_url) == migrate.head()
    assert set(metadata.tables) <= _tables(db_url)
    assert migrate.downgrade(db_url, "base") is None
    assert _tables(db_url) <= {"alembic_version"}
    assert migrate.upgrade(db_url) == migrate.head()
    assert migrate.current(db_url) == migrate.head()
    assert set(metadata.tables) <= _tables(db_url)


def test_models_and_migrations_do_not_drift(store_url: str) -> None:
    engine = create_engine(store_url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            diff = compare_metadata(context, metadata)
    finally:
        engine.dispose()
    assert diff == []


def test_alembic_ini_uses_ami_tracker_db(sqlite_url: str) -> None:
    import subprocess
    import sys

    env = {"AMI_TRACKER_DB": sqlite_url, "PATH": str(Path(sys.executable).parent)}
    done = subprocess.run(
        [sys.executable, "-m", "alembic", "upgrade", "head"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert set(metadata.tables) <= _tables(sqlite_url)
    assert migrate.current(sqlite_url) == migrate.head()
