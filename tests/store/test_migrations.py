"""Alembic against a real SQLite file and a real PostgreSQL schema: upgrade, downgrade, drift."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect

from tracker.store import migrate, open_store
from tracker.store.engine import SchemaError
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
    # the head every open compares with is the scripts' (bump migrate.HEAD with a revision)
    assert migrate.scripts_head() == script.get_heads()[0]
    assert migrate.head() == migrate.scripts_head(), "set tracker.store.migrate.HEAD to it"
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


def _foreign_keys(url: str) -> set[tuple[str, str, str]]:
    """(table, column, referred table) of every foreign key of the store's tables."""
    engine = create_engine(url)
    try:
        found = inspect(engine)
        return {
            (table, fk["constrained_columns"][0], fk["referred_table"])
            for table in metadata.tables
            for fk in found.get_foreign_keys(table)
        }
    finally:
        engine.dispose()


def test_0005_drops_reporting_id_keys_and_keeps_rows(db_url: str) -> None:
    """Revision 0005 drops the reporting tables' keys to servers and sessions (SQLite: tables
    rebuilt in batch mode), keeps their rows and the cascading keys to calls and gaps."""
    from sqlalchemy import text

    migrate.upgrade(db_url, "0004")
    engine = create_engine(db_url)
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO servers (id, name, versions, created_at) "
                    "VALUES (1, 's', '[]', CURRENT_TIMESTAMP)"
                )
            )
            conn.execute(
                text(
                    "INSERT INTO sessions (id, server_id, key, source, first_seq, frames, "
                    "live_events, stamped_events) VALUES (1, 1, 'k', 'import', 0, 0, 0, 0)"
                )
            )
            conn.execute(
                text(
                    "INSERT INTO asterisk_cdr (id, server_id, session_id, seq, extra) "
                    "VALUES (7, 1, 1, 42, '{}')"
                )
            )
    finally:
        engine.dispose()
    before = _foreign_keys(db_url)
    assert ("asterisk_cdr", "server_id", "servers") in before
    assert migrate.upgrade(db_url) == migrate.head()
    after = _foreign_keys(db_url)
    assert not {
        (table, column, referred)
        for table, column, referred in after
        if referred in ("servers", "sessions")
        and table not in ("sessions", "frame_blocks", "snapshots", "anomalies", "server_leases")
    }
    assert {("call_legs", "call_id", "calls"), ("transfers", "call_id", "calls")} <= after
    assert ("gap_queues", "gap_id", "gaps") in after
    assert ("frame_blocks", "session_id", "sessions") in after
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT id, server_id, session_id, seq FROM asterisk_cdr"))
            assert rows.all() == [(7, 1, 1, 42)]
    finally:
        engine.dispose()
    assert migrate.downgrade(db_url, "0004") == "0004"
    assert _foreign_keys(db_url) == before


def test_opening_checks_the_revision(db_url: str) -> None:
    """No schema, an older revision, the head: what ``open_store`` says of each (it reads the
    version table directly, not through Alembic's context)."""
    with pytest.raises(SchemaError, match=r"no ami-tracker schema.*db upgrade"):
        open_store(db_url)
    assert migrate.upgrade(db_url, "0004") == "0004"
    with pytest.raises(SchemaError, match=rf"at revision 0004, not {migrate.head()}.*db upgrade"):
        open_store(db_url)
    migrate.upgrade(db_url)
    with open_store(db_url) as store:
        assert store.servers() == []
    assert migrate.downgrade(db_url, "base") is None
    with pytest.raises(SchemaError, match="no ami-tracker schema"):
        open_store(db_url)  # the version table is there, empty
