"""``run`` with a database: every frame stored, a restart continues the log (SQLite, PostgreSQL)."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
import trio

from tests.helpers import FIXTURES
from tests.runtime._support import HOST, SECRET, USER
from tests.runtime.test_run_cli import Process
from tests.runtime.test_service import samples, settings, tracker_of
from tracker.config import ConfigError
from tracker.errors import StoreError
from tracker.runtime import run_simulator
from tracker.runtime.service import Service
from tracker.runtime.tracker import Tracker
from tracker.store import open_store


@pytest.fixture(autouse=True)
def spill_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Spill files (written only if the database lags) go under the test's directory."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))


async def _serve(capture: str, db: str) -> tuple[Tracker, str]:
    """Run a service on ``capture`` into ``db`` until the capture was sent; stop it."""
    with trio.fail_after(60):
        async with run_simulator(FIXTURES / capture, username=USER, secret=SECRET) as sim:
            service = Service(settings(f"ami://{USER}@{HOST}:{sim.port}", names=["pbx"], db=db))
            async with trio.open_nursery() as nursery:
                await nursery.start(service.run)
                tracker = tracker_of(service)
                await tracker.wait_synced()
                await sim.sessions[0].stream_done.wait()
                await tracker.wait_folded(tracker.client.next_seq - 1)
                body, _ = service.metrics.exposition()
                service.stop()
    return tracker, body.decode()


async def test_every_frame_is_stored_and_a_restart_continues(store_url: str) -> None:
    first, text = await _serve("load.ami.gz", store_url)
    assert samples(text, "ami_tracker_persister_write_seconds_count")["pbx"] >= 1
    assert "pbx" in samples(text, "ami_tracker_persister_queue_depth")
    received = first.client.next_seq
    assert received == first.stats.frames > 30_000
    store = open_store(store_url)
    try:
        server = store.server("pbx")
        assert server.next_seq == received  # every frame, the final Goodbye included
        (session,) = store.sessions(server.id)
        assert (session.first_seq, session.frames) == (0, received)
        stored = list(store.iter_frames("pbx"))
        assert [f.seq for f in stored] == list(range(received))
        assert stored[0].frame.raw.startswith(b"Asterisk Call Manager/")
        assert stored[-1].frame.name == "Goodbye"  # logged off: the last frame is stored too
        assert store.world_at("pbx").world.calls_ended == first.world.calls_ended
    finally:
        store.close()

    second, _ = await _serve("basic.ami", store_url)
    assert second.client.next_seq == received + second.stats.frames  # numbering continues
    assert second.world.calls_ended == first.world.calls_ended + 1  # the World continues too
    store = open_store(store_url)
    try:
        server = store.server("pbx")
        assert server.next_seq == second.client.next_seq
        assert [s.first_seq for s in store.sessions(server.id)] == [0, received]
    finally:
        store.close()


async def test_a_database_without_schema_stops_the_service(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'empty.sqlite'}"
    with trio.fail_after(20):
        async with run_simulator(FIXTURES / "basic.ami", username=USER, secret=SECRET) as sim:
            service = Service(settings(f"ami://{USER}@{HOST}:{sim.port}", db=url))
            with pytest.raises(StoreError, match="ami-tracker db upgrade"):
                await service.run()
    assert not sim.sessions  # it never connected to Asterisk


def test_db_url_is_not_shown() -> None:
    s = settings("ami://u@h", db="postgresql+psycopg://u:pw-Xy9@db/calls")
    assert "pw-Xy9" not in repr(s)
    with pytest.raises(ConfigError, match=r"postgresql\+psycopg://u:\*\*\*@db/calls"):
        raise ConfigError(f"database {s.db} unusable")


async def test_run_command_into_sqlite_and_sigterm(tmp_path: Path) -> None:
    from tracker.store import migrate

    url = f"sqlite:///{tmp_path / 'calls.sqlite'}"
    migrate.upgrade(url)
    with trio.fail_after(60):
        async with run_simulator(FIXTURES / "basic.ami", username=USER, secret=SECRET) as sim:
            run = await Process.start(
                *("--ami", f"ami://{USER}@{HOST}:{sim.port}", "--name", "pbx", "--db", url),
                AMI_TRACKER_SECRET=SECRET,
                XDG_STATE_HOME=str(tmp_path),
            )
            async with trio.open_nursery() as nursery:
                nursery.start_soon(run.drain)
                await run.wait_for(r"\[pbx\] resynced: ")
                await sim.sessions[0].stream_done.wait()
                run.proc.send_signal(signal.SIGTERM)
                returncode = await run.proc.wait()
    text = run.err.decode()
    assert returncode == 0, text
    assert "persisting to sqlite:///" in text and "persister flushed: " in text
    store = open_store(url)
    try:
        server = store.server("pbx")
        assert server.next_seq > 100  # basic.ami's stream, the handshake and the resync
        (session,) = store.sessions(server.id)
        assert session.frames == server.next_seq
    finally:
        store.close()
