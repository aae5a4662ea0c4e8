"""``run`` with a database: every frame stored, a restart continues the log (SQLite, PostgreSQL)."""

from __future__ import annotations

import random
import signal
from pathlib import Path
from typing import Any

import pytest
import trio

from tests.helpers import FIXTURES
from tests.runtime._support import HOST, SECRET, USER, served_through_drops
from tests.runtime.test_run_cli import Process
from tests.runtime.test_service import samples, settings, tracker_of
from tracker.ami import FrameKind
from tracker.config import ConfigError
from tracker.errors import StoreError
from tracker.runtime import run_simulator
from tracker.runtime.script import CaptureScript, load_script
from tracker.runtime.service import Service
from tracker.runtime.tracker import Tracker
from tracker.state import encode_world
from tracker.store import load_call_records, open_store


@pytest.fixture(autouse=True)
def spill_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Spill files (written only if the database lags) go under the test's directory."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))


async def _after_a_write(service: Service) -> bytes:
    """The metrics once the persister has finished a write (it flushes at least once a second;
    the fold may well end before the first write does)."""
    while True:
        body, _ = service.metrics.exposition()
        if samples(body.decode(), "ami_tracker_persister_write_seconds_count").get("pbx", 0) >= 1:
            return body
        await trio.sleep(0.05)


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
                body = await _after_a_write(service)
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
        # the final snapshot, written on the graceful stop: the World after the last frame
        assert store.latest_snapshot_seq(server.id) == received - 1
        assert encode_world(store.world_at("pbx").world) == encode_world(first.world)
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


def _log_of(url: str) -> tuple[int, list[tuple[int, int]], list[int], list[int]]:
    """next_seq, (first_seq, frames) per session, stored seqs, session id per frame."""
    with open_store(url) as store:
        server = store.server("pbx")
        sessions = [(s.first_seq, s.frames) for s in store.sessions(server.id)]
        stored = list(store.iter_frames("pbx"))
        return server.next_seq, sessions, [f.seq for f in stored], [f.session_id for f in stored]


def _stored(url: str) -> int:
    with open_store(url) as store:
        return store.server("pbx").next_seq if store.servers() else 0


async def test_sigkill_mid_run_then_restart_continues_in_a_new_session(tmp_path: Path) -> None:
    """``run`` killed with SIGKILL while frames are flowing, then started again on the same
    SQLite file: the dead process's lease is taken over, the log continues in a new session
    right after the last frame stored, with no frame twice and no gap."""
    from tracker.store import migrate

    url = f"sqlite:///{tmp_path / 'calls.sqlite'}"
    migrate.upgrade(url)
    args = ("--name", "pbx", "--db", url)
    env = {"AMI_TRACKER_SECRET": SECRET, "XDG_STATE_HOME": str(tmp_path)}
    with trio.fail_after(90):
        async with run_simulator(
            FIXTURES / "load.ami.gz", username=USER, secret=SECRET, speed=10
        ) as sim:
            ami = ("--ami", f"ami://{USER}@{HOST}:{sim.port}")
            killed = await Process.start(*ami, *args, **env)
            async with trio.open_nursery() as nursery:
                nursery.start_soon(killed.drain)
                await killed.wait_for(r"\[pbx\] resynced: ")
                stored = 0
                while stored < 2000:  # frames are being written: kill it mid-run
                    await trio.sleep(0.2)
                    stored = await trio.to_thread.run_sync(_stored, url)
                killed.proc.kill()  # SIGKILL: no flush, no release, no logoff
                assert await killed.proc.wait() == -signal.SIGKILL
            before, (first,), _, _ = await trio.to_thread.run_sync(_log_of, url)
            assert first == (0, before)

            restarted = await Process.start(*ami, *args, **env)
            async with trio.open_nursery() as nursery:
                nursery.start_soon(restarted.drain)
                await restarted.wait_for(rf"persisting to sqlite:///\S+ from seq {before}\b")
                await restarted.wait_for(r"\[pbx\] resynced: ")
                await sim.sessions[-1].stream_done.wait()
                restarted.proc.send_signal(signal.SIGTERM)
                assert await restarted.proc.wait() == 0, restarted.err.decode()
    next_seq, sessions, seqs, owners = await trio.to_thread.run_sync(_log_of, url)
    assert sessions == [(0, before), (before, next_seq - before)]  # a new session, contiguous
    assert seqs == list(range(next_seq))  # every seq once: no duplicate, no gap
    assert len(set(owners[:before])) == len(set(owners[before:])) == 1
    assert owners[0] != owners[-1]
    assert next_seq - before > 30_000  # the whole capture again, in the new session


async def run_through_drops(
    script: CaptureScript, store_url: str, drops: list[int], **simulator: Any
) -> Tracker:
    """Serve ``script`` with a connection drop at each of ``drops`` (frames streamed before
    it) to a service writing into ``store_url``, until everything served is folded."""
    fast = {"backoff_initial": 0.01, "backoff_max": 0.1}
    with trio.fail_after(120):
        async with run_simulator(
            script, username=USER, secret=SECRET, drops=drops, **simulator
        ) as sim:
            url = f"ami://{USER}@{HOST}:{sim.port}"
            service = Service(settings(url, names=["pbx"], db=store_url, **fast))
            async with trio.open_nursery() as nursery:
                await nursery.start(service.run)
                tracker = tracker_of(service)
                await served_through_drops(sim)
                await tracker.wait_folded(tracker.client.next_seq - 1)
                service.stop()
    return tracker


async def test_twenty_drops_store_one_session_per_connection_and_no_frame_twice(
    store_url: str,
) -> None:
    """The simulator drops the connection at 20 random points of ``load.ami.gz`` (resuming
    there): the stored log has a new session (the gap marker) per connection, every seq once,
    each session starting with its banner, and every call of the capture in the reports."""
    script = load_script(FIXTURES / "load.ami.gz")
    drops = sorted(random.Random(7).sample(range(1, len(script.stream)), 20))
    tracker = await run_through_drops(script, store_url, drops)
    assert tracker.stats.sessions == 21
    with open_store(store_url) as store:
        server = store.server("pbx")
        sessions = store.sessions(server.id)
        stored = list(store.iter_frames("pbx"))
        records = load_call_records(store, server="pbx")
    assert len(sessions) == 21
    assert [s.first_seq for s in sessions[1:]] == [s.first_seq + s.frames for s in sessions[:-1]]
    assert (
        [f.seq for f in stored]
        == list(range(server.next_seq))
        == list(range(tracker.client.next_seq))
    )
    banners = [f.session_id for f in stored if f.frame.kind is FrameKind.BANNER]
    assert banners == [s.id for s in sessions]
    assert [f.session_id for f in stored if f.seq in {s.first_seq for s in sessions}] == banners
    assert len(records) == tracker.world.calls_ended == 300
