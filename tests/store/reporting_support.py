"""Databases for the reporting tests: a real SQLite file or a fresh PostgreSQL schema, upgraded
by the migrations, filled through the store's import path (every fixture, one server each) or by
folding a capture here and projecting each batch of frames in its own transaction."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, insert, text
from sqlalchemy.pool import NullPool

from tests.helpers import FIXTURES
from tracker.events.envelope import Envelope
from tracker.reducer import Reducer
from tracker.replay import import_capture, iter_envelopes
from tracker.state import Change
from tracker.store import Server, Session, migrate, open_store
from tracker.store.models import default_projections
from tracker.store.projection import project_batch

PG_URL = os.environ.get("AMI_TRACKER_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
BACKENDS = ("sqlite", "postgresql")
CAPTURES = [*sorted(p.name for p in FIXTURES.glob("*.ami")), "load.ami.gz"]
BATCH = 500


@contextmanager
def database(backend: str, tmp: Path) -> Iterator[Engine]:
    """An empty database: a SQLite file in ``tmp``, or a PostgreSQL schema dropped afterwards."""
    if backend == "sqlite":
        engine = create_engine(f"sqlite:///{tmp / 'reporting.sqlite'}", poolclass=NullPool)
        try:
            yield engine
        finally:
            engine.dispose()
        return
    schema = f"test_reporting_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL, poolclass=NullPool)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in PG_URL else "?"
    engine = create_engine(f"{PG_URL}{sep}options=-csearch_path%3D{schema}", poolclass=NullPool)
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def url_of(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def create_schema(engine: Engine) -> None:
    """Upgrade the empty database to the head revision (core and reporting tables)."""
    migrate.upgrade(url_of(engine))


def new_session(engine: Engine, server: str) -> tuple[int, int]:
    """A server and one session of it, as the store's writer would create them."""
    with engine.begin() as conn:
        server_id = conn.execute(
            insert(Server)
            .values(name=server, versions=[], created_at=datetime.now(UTC))
            .returning(Server.id)
        ).scalar_one()
        session_id = conn.execute(
            insert(Session)
            .values(server_id=server_id, key=f"test-{server}", source="import", first_seq=0)
            .returning(Session.id)
        ).scalar_one()
    return server_id, session_id


def project_capture(
    engine: Engine,
    capture: str,
    *,
    batch: int = BATCH,
    given: Callable[[list[Envelope], list[Change]], list[Envelope]] | None = None,
) -> None:
    """Fold ``capture`` here and project it batch by batch, one transaction per batch (with
    the envelopes ``given`` picks of each batch's, if given)."""
    server_id, session_id = new_session(engine, capture)
    reducer = Reducer()
    envelopes: list[Envelope] = []
    changes: list[Change] = []

    def flush() -> None:
        with engine.begin() as conn:
            project_batch(
                conn,
                server_id=server_id,
                session_id=session_id,
                envelopes=envelopes if given is None else given(envelopes, changes),
                changes=changes,
            )
        envelopes.clear()
        changes.clear()

    for env in iter_envelopes(FIXTURES / capture):
        envelopes.append(env)
        changes.extend(reducer.apply(env))
        if len(envelopes) >= batch:
            flush()
    flush()


def import_all(engine: Engine) -> None:
    """Every fixture capture through the store's import path, one server per capture."""
    with open_store(url_of(engine)) as store:
        for capture in CAPTURES:
            import_capture(
                store, FIXTURES / capture, server=capture, projections=default_projections()
            )


def member_names(capture: str) -> dict[str, str]:
    """Interface -> MemberName of every ``QueueAdd`` the lab sent (``NAME.sent``): queue_log
    names a member by interface on ADDMEMBER/REMOVEMEMBER and by member name elsewhere."""
    sent = (FIXTURES / f"{capture.split('.')[0]}.sent").read_bytes().decode("latin-1")
    names = {}
    for block in sent.replace("\r\n", "\n").split("\n\n"):
        headers = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if headers.get("Action") == "QueueAdd" and "MemberName" in headers:
            names[headers["Interface"]] = headers["MemberName"]
    return names


_FILLED: dict[str, Engine] = {}


def filled_database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Engine:
    """One database per backend for the whole session, every capture imported into it (one
    server per capture, named after it); test modules share it through session fixtures."""
    backend: str = request.param
    if backend not in _FILLED:
        stack = ExitStack()
        engine = stack.enter_context(database(backend, tmp_path_factory.mktemp("reporting")))
        request.addfinalizer(stack.close)
        request.addfinalizer(lambda: _FILLED.pop(backend))
        create_schema(engine)
        import_all(engine)
        _FILLED[backend] = engine
    return _FILLED[backend]
