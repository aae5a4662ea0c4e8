"""A prestarted writer asked to open (:class:`tracker.prestart.Opening`) makes the server's row
and takes its lease while the command loads its modules: the import then opens nothing itself
when the log is empty, adopts the lease otherwise, and the lease is given back however the
import ends (by the child after its last write, or by the importing process when the child
that took it is gone)."""

from __future__ import annotations

import os
import signal
import socket
import time
from pathlib import Path

import pytest
import trio
from sqlalchemy import select

from tests.helpers import FIXTURES
from tracker.capture import read_bytes
from tracker.prestart import Opening, Prestarted, prestart
from tracker.runtime import persister as persister_module
from tracker.runtime.importing import import_captures
from tracker.runtime.persister import Persister
from tracker.store import Store, migrate, open_store
from tracker.store.lease import LeaseHeld, acquire
from tracker.store.schema import ServerLease
from tracker.store.writer_process import WriterProcess, serve_prestarted

from .test_persister import _stored_bytes
from .test_writer_process import _batches, _reference, _stored

CAPTURE = FIXTURES / "queue.ami"
OTHER = FIXTURES / "basic.ami"


def _leases(url: str) -> list[tuple[str, int]]:
    with open_store(url) as store, store.engine.connect() as conn:
        rows = conn.execute(select(ServerLease.host, ServerLease.pid)).all()
    return [(r.host, r.pid) for r in rows]


@pytest.fixture
def stores_opened(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every store the importing process opens itself."""
    opened: list[str] = []
    real = open_store

    def spy(url: str, *, check: bool = True) -> Store:
        opened.append(url)
        return real(url, check=check)

    monkeypatch.setattr(persister_module, "open_store", spy)
    return opened


def _import(url: str, paths: list[Path], tmp_path: Path, opening: Opening) -> int:
    pre = prestart(url, serve_prestarted, opening)
    assert pre is not None
    try:
        result = trio.run(
            lambda: import_captures(
                url, paths, server=opening.server, spill_path=tmp_path / "spill", prestarted=pre
            )
        )
    finally:
        pre.discard()  # joins the child, which gives the lease back after its last write
    assert pre.taken and not pre.process.is_alive()
    return result.written


def test_an_empty_log_is_imported_without_opening_the_store_here(
    store_url: str, tmp_path: Path, stores_opened: list[str]
) -> None:
    written = _import(store_url, [CAPTURE], tmp_path, Opening("pbx", os.getpid()))
    assert written > 100
    assert stores_opened == []  # the child made the server and took the lease
    assert _stored_bytes(store_url) == read_bytes(CAPTURE)
    assert _leases(store_url) == []  # given back


def test_a_log_with_frames_is_opened_here_with_the_childs_lease(
    store_url: str, tmp_path: Path, stores_opened: list[str]
) -> None:
    """The second capture of a server: where the log stands and the world at its end are
    read here, with the lease the child took (not taken a second time)."""
    first = _import(store_url, [CAPTURE], tmp_path, Opening("pbx", os.getpid()))
    second = _import(store_url, [OTHER, CAPTURE], tmp_path, Opening("pbx", os.getpid()))
    assert first > 100 and second > 100  # the second run adds only the other capture
    assert stores_opened == [store_url]
    assert _stored_bytes(store_url) == read_bytes(CAPTURE) + read_bytes(OTHER)
    assert _leases(store_url) == []


def test_a_lease_held_elsewhere_is_refused_as_without_a_prestarted_writer(
    store_url: str, tmp_path: Path
) -> None:
    with open_store(store_url) as store:
        info = store.ensure_server("pbx")
        acquire(store.engine, info.id, "pbx", host="elsewhere", pid=1)
    with pytest.raises(LeaseHeld, match=r"already being tracked .* pid 1 on elsewhere"):
        _import(store_url, [CAPTURE], tmp_path, Opening("pbx", os.getpid()))
    assert _leases(store_url) == [("elsewhere", 1)]  # untouched
    with open_store(store_url) as store:
        assert store.server("pbx").next_seq == 0


def test_a_schema_not_upgraded_is_reported_by_the_import(db_url: str, tmp_path: Path) -> None:
    from tracker.store.engine import SchemaError

    with pytest.raises(SchemaError, match="ami-tracker db upgrade"):
        _import(db_url, [CAPTURE], tmp_path, Opening("pbx", os.getpid()))


def test_a_prestarted_child_nothing_took_gives_its_lease_back(store_url: str) -> None:
    pre = prestart(store_url, serve_prestarted, Opening("pbx", os.getpid()))
    assert pre is not None
    deadline = time.monotonic() + 60
    while not _leases(store_url) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert _leases(store_url) == [(socket.gethostname(), os.getpid())]  # held for us
    pre.discard()
    assert not pre.process.is_alive() and pre.process.exitcode == 0  # not killed
    assert _leases(store_url) == []


async def test_the_lease_of_a_child_that_died_is_given_back_here(
    store_url: str, tmp_path: Path
) -> None:
    """The child that took the lease is killed: its successor (forked at the next write) holds
    no lease, so the persister gives it back itself, opening the store to do so."""
    batches = _batches(store_url)  # makes the server "pbx" (its store is closed again)
    pre = prestart(store_url, serve_prestarted, Opening("pbx", os.getpid()))
    assert pre is not None
    persister = Persister(
        store_url,
        "pbx",
        spill_path=tmp_path / "spill.bin",
        writer_process=True,
        prestarted=pre,
        retry_initial=0.05,
    )
    with trio.fail_after(60):
        start = await trio.to_thread.run_sync(persister.open)
        writer = persister._writer
        assert isinstance(writer, WriterProcess) and writer.holds_lease
        assert persister.store is None and start.next_seq == 0
        assert writer.pid is not None
        os.kill(writer.pid, signal.SIGKILL)
        pre.process.join()
        async with trio.open_nursery() as nursery:
            await nursery.start(persister.run)
            for batch in batches:
                persister.put(batch)
            await persister.wait_idle()
            nursery.cancel_scope.cancel()
    assert persister.stats.write_failures >= 1  # the dead child's
    assert _leases(store_url) == []
    assert _stored(store_url) == _reference(tmp_path, batches)


def test_the_import_command_opens_nothing_itself(
    tmp_path: Path, stores_opened: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``ami-tracker import`` asks its prestarted writer to open: no store is opened in the
    command for a new server (not even the check it makes without one)."""
    import tracker.store as store_package
    from tracker.cli import main

    checks: list[str] = []
    real = store_package.open_store

    def spy(target: str, *, check: bool = True) -> Store:
        checks.append(target)
        return real(target, check=check)

    monkeypatch.setattr(store_package, "open_store", spy)  # the command imports it lazily
    url = f"sqlite:///{tmp_path / 'import.sqlite'}"
    migrate.upgrade(url)
    assert main(["import", str(FIXTURES / "load.ami.gz"), "--db", url, "--quiet"]) == 0
    assert checks == [] and stores_opened == []
    assert _leases(url) == []
    with real(url) as store:
        assert store.server("asterisk").next_seq == 30813


def test_a_child_that_opened_another_server_is_not_used_for_this_one(
    store_url: str, tmp_path: Path
) -> None:
    pre = prestart(store_url, serve_prestarted, Opening("other", os.getpid()))
    assert pre is not None
    try:
        written = trio.run(
            lambda: import_captures(
                store_url, [CAPTURE], server="pbx", spill_path=tmp_path / "spill", prestarted=pre
            )
        ).written
    finally:
        pre.discard()
    assert written > 100 and not pre.process.is_alive()
    assert _stored_bytes(store_url) == read_bytes(CAPTURE)
    with open_store(store_url) as store:
        assert store.server("other").next_seq == 0  # made by the child, nothing written there
    assert _leases(store_url) == []  # both given back


def test_a_database_the_child_cannot_reach_is_reported_once(
    capsys: pytest.CaptureFixture[str], prestarted: list[Prestarted], stores_opened: list[str]
) -> None:
    """The prestarted writer could not connect: the command says why in one line (without the
    password), without trying again itself, and leaves no child behind."""
    from tracker.cli import main

    url = "postgresql+psycopg://postgres:pw@127.0.0.1:1/x"
    began = time.monotonic()
    assert main(["import", str(FIXTURES / "load.ami.gz"), "--db", url, "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "refused the connection" in err and err.count("\n") == 1
    assert "pw" not in err and "Traceback" not in err
    assert len(prestarted) == 1 and not prestarted[0].process.is_alive()
    assert stores_opened == []  # not tried again here
    assert time.monotonic() - began < 30
