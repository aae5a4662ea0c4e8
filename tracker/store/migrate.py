"""Schema migrations (Alembic) driven from Python: upgrade, downgrade, current, check."""

from __future__ import annotations

import io
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Connection, Engine

from ..errors import StoreError
from .engine import UPGRADE_HINT, SchemaError, create, redact, translated

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ROOT / "migrations"


def config(connection: Connection | None = None) -> Config:
    if not SCRIPTS.is_dir():
        raise StoreError(f"migration scripts not found in {SCRIPTS}")
    cfg = Config(stdout=io.StringIO())
    cfg.set_main_option("script_location", str(SCRIPTS))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


HEAD = "0005"
"""The newest revision under ``migrations/versions`` (a test checks it is the scripts' one
head). A constant, because every command that opens a store compares the database with it:
reading the scripts (importing each revision module) cost ~10 ms per process."""


def head() -> str:
    return HEAD


def scripts_head() -> str:
    """The head revision read from the migration scripts themselves."""
    heads = ScriptDirectory.from_config(config()).get_heads()
    if len(heads) != 1:
        raise StoreError(f"the migration scripts have {len(heads)} heads")
    return heads[0]


_VERSION_TABLE = {
    "sqlite": "SELECT count(*) FROM sqlite_master WHERE type='table' AND name='alembic_version'",
    "postgresql": "SELECT count(to_regclass('alembic_version'))",
}
"""Is there a version table (on the connection's search path)? Asked directly: Alembic's
``MigrationContext`` builds an inspector first (~10 ms of a new process on PostgreSQL, for each
command that opens a store)."""


def current_revision(connection: Connection) -> str | None:
    """The revision the database is at (None: no schema), as Alembic reads it."""
    exists = _VERSION_TABLE.get(connection.dialect.name)
    if exists is None:
        return MigrationContext.configure(connection).get_current_revision()
    if not connection.exec_driver_sql(exists).scalar_one():
        return None
    found = list(connection.exec_driver_sql("SELECT version_num FROM alembic_version").scalars())
    if len(found) > 1:
        raise StoreError(f"the database is at several revisions at once: {', '.join(found)}")
    return str(found[0]) if found else None


def check(connection: Connection) -> None:
    """Raise :class:`SchemaError` unless the database is at the scripts' head revision."""
    rev = current_revision(connection)
    if rev is None:
        raise SchemaError(f"the database has no ami-tracker schema: {UPGRADE_HINT}")
    if rev != head():
        raise SchemaError(f"the database schema is at revision {rev}, not {head()}: {UPGRADE_HINT}")


def _run(url: str, action: str, revision: str) -> str | None:
    engine: Engine = create(url)
    try:
        with translated(url), engine.begin() as connection:
            cfg = config(connection)
            if action == "upgrade":
                command.upgrade(cfg, revision)
            elif action == "downgrade":
                command.downgrade(cfg, revision)
            return current_revision(connection)
    except CommandError as error:  # e.g. an unknown revision: a user mistake
        raise StoreError(f"{action} of {redact(url)} failed: {error}") from error
    finally:
        engine.dispose()


def upgrade(url: str, revision: str = "head") -> str | None:
    """Create or upgrade the schema; returns the revision now current."""
    return _run(url, "upgrade", revision)


def downgrade(url: str, revision: str) -> str | None:
    """Downgrade to ``revision`` (``base`` drops every table); returns the revision now current."""
    return _run(url, "downgrade", revision)


def current(url: str) -> str | None:
    return _run(url, "current", "")
