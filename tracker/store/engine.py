"""Opening a database by URL, and turning driver errors into one clear sentence.

Every failure a user can cause or meet (an unknown backend, a refused connection, a schema
that was never upgraded, a read-only SQLite file, a full disk) becomes a :class:`StoreError`
whose message fits on one line and never shows a password.
"""

from __future__ import annotations

import contextlib
import re
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine, event, exc, make_url
from sqlalchemy.engine import URL

from ..errors import StoreError

UPGRADE_HINT = "run `ami-tracker db upgrade --db URL` first"


class SchemaError(StoreError):
    """The database exists but its schema is missing or at another revision."""


def redact(url: str | URL) -> str:
    """The URL without its password."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except exc.ArgumentError:
        return re.sub(r"//([^:/@]*):[^@]*@", r"//\1:***@", str(url))


def is_memory(url: URL) -> bool:
    """An in-memory SQLite URL (each connection is its own database)."""
    database = url.database or ""
    return database in ("", ":memory:") or database.startswith("file::memory:")


def create(url: str) -> Engine:
    """An Engine for ``url`` (nothing is connected yet)."""
    try:
        parsed = make_url(url)
    except exc.ArgumentError:
        raise StoreError(f"not a database URL: {redact(url)!r}") from None
    kwargs: dict[str, Any] = {}
    if parsed.get_backend_name() == "sqlite":
        if "timeout" not in parsed.query:
            kwargs["connect_args"] = {"timeout": 30}
    else:
        kwargs["pool_pre_ping"] = True
        if parsed.get_backend_name() == "postgresql" and "connect_timeout" not in parsed.query:
            kwargs["connect_args"] = {"connect_timeout": 10}
    try:
        engine = create_engine(parsed, **kwargs)
    except (exc.NoSuchModuleError, exc.ArgumentError, ImportError) as error:
        raise StoreError(
            f"unsupported database URL {redact(parsed)} ({error}); "
            "use sqlite:///FILE or postgresql+psycopg://USER@HOST/DB"
        ) from None
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def checkpoint(engine: Engine) -> None:
    """Copy what a SQLite file's write-ahead log holds into the database file (``PASSIVE``: it
    never waits for readers), so that the close of the last connection, which does the same
    before it returns, finds little left. Best effort: a failure here is no failed write (a
    checkpoint only moves committed pages). Other databases: nothing to do."""
    if engine.dialect.name != "sqlite":
        return
    with contextlib.suppress(exc.SQLAlchemyError, sqlite3.Error), engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """Foreign keys on; a file database in WAL mode with ``synchronous=NORMAL``.

    WAL lets readers (``calls --db``, reports) run while the recorder writes, and with
    ``NORMAL`` a commit appends to the WAL without waiting for fsync; the database stays
    consistent after a crash of the process or of the machine, and a crash of the process
    loses nothing committed (only a power loss may undo the last commits, which the
    recorder's idempotent writes by offset then store again from the spill or the capture).
    A read-only file or an in-memory database keeps its journal mode and the default
    ``synchronous=FULL``.
    """
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA foreign_keys=ON")
        mode = cursor.execute("PRAGMA journal_mode").fetchone()[0]
        if mode != "wal" and mode != "memory":
            # a read-only file or directory keeps its mode
            with contextlib.suppress(sqlite3.OperationalError):
                mode = cursor.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if mode == "wal":
            cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()


_MESSAGES: tuple[tuple[str, str], ...] = (
    ("readonly database", "the database is read-only"),
    ("read-only", "the database is read-only"),
    ("database or disk is full", "the disk is full"),
    ("no space left on device", "the disk is full"),
    ("could not extend file", "the disk is full"),
    ("unable to open database file", "cannot open the SQLite file (missing directory?)"),
    ("connection refused", "the database refused the connection"),
    ("could not translate host name", "unknown database host"),
    ("name or service not known", "unknown database host"),
    ("timeout expired", "the database did not answer in time"),
    ("password authentication failed", "the database refused the login"),
    ("does not exist", "the database (or a table) does not exist"),
    ("no such table", "the schema is not there"),
    ("undefinedtable", "the schema is not there"),
    ("database is locked", "the SQLite file is locked by another process"),
    ("server closed the connection", "the database closed the connection"),
    ("connection is closed", "the connection to the database was lost"),
)


def describe(error: BaseException, url: str | URL | None = None) -> str:
    """One line saying what went wrong with the database (no traceback, no password)."""
    if isinstance(error, StoreError) and hasattr(error, "transient"):
        return str(error)  # described already (by a writer process)
    text = f"{type(getattr(error, 'orig', None) or error).__name__} {error}".lower()
    where = f" ({redact(url)})" if url is not None else ""
    for needle, message in _MESSAGES:
        if needle in text:
            if message == "the schema is not there":
                return f"the database has no ami-tracker schema{where}: {UPGRADE_HINT}"
            return f"{message}{where}"
    first = str(getattr(error, "orig", None) or error).strip().splitlines()
    return f"database error{where}: {first[0] if first else type(error).__name__}"


def is_transient(error: BaseException) -> bool:
    """Worth retrying later (the database may come back); False for our own bugs."""
    if isinstance(error, StoreError):  # one that says (a writer process's failure)
        return bool(getattr(error, "transient", False))
    return isinstance(error, (exc.OperationalError, exc.InterfaceError, exc.DisconnectionError))


@contextmanager
def translated(url: str | URL | None = None) -> Iterator[None]:
    """Re-raise SQLAlchemy/driver errors as :class:`StoreError` with :func:`describe`."""
    try:
        yield
    except exc.DBAPIError as error:
        raise StoreError(describe(error, url)) from error
    except exc.SQLAlchemyError as error:
        raise StoreError(describe(error, url)) from error
