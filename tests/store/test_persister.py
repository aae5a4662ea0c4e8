"""The live persister over real TCP from the simulator into SQLite and PostgreSQL: the stored
log folds to the live World; a database outage mid-stream loses nothing."""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import trio
from sqlalchemy import make_url

from tests.helpers import FIXTURES
from tests.runtime._support import SECRET, USER, url
from tracker.capture import read_bytes
from tracker.runtime import run_simulator
from tracker.runtime.persister import Persister
from tracker.runtime.tracker import open_tracker
from tracker.state import encode_world
from tracker.store import open_store
from tracker.store.blocks import decode_snapshot

from ._faults import Proxy
from .conftest import PG_URL


def _stored_bytes(store_url: str) -> bytes:
    with open_store(store_url) as store:
        return b"".join(b"".join(r) for _, _, r in store.iter_raw(store.server("pbx").id))


def _check_store_matches(store_url: str, world_bytes: bytes, frames: int) -> None:
    with open_store(store_url) as store:
        info = store.server("pbx")
        assert info.next_seq == frames
        assert encode_world(store.world_at("pbx").world) == world_bytes
        # every snapshot taken live is the world the log folds to at that point
        with store.engine.connect() as conn:
            from sqlalchemy import select

            from tracker.store import Snapshot

            snaps = conn.execute(select(Snapshot.seq, Snapshot.codec, Snapshot.data)).all()
        assert snaps
        for snap in snaps[:5]:
            scratch = store.world_at("pbx", seq=snap.seq)
            replayed = store._start(info.id, -1, None)[0]
            for stored in store.iter_frames("pbx", last=snap.seq):
                replayed.apply(stored.envelope)
            assert scratch.seq == snap.seq
            assert encode_world(decode_snapshot(snap.codec, snap.data)) == encode_world(
                replayed.world
            )


async def test_live_tracker_persists_every_frame(store_url: str, tmp_path: Path) -> None:
    name = "queue.ami"
    with trio.fail_after(60):
        async with run_simulator(FIXTURES / name, username=USER, secret=SECRET) as sim:
            persister = Persister(
                store_url,
                "pbx",
                spill_path=tmp_path / "spill.bin",
                flush_interval=0.05,
                snapshot_frames=40,
            )
            async with open_tracker(url(sim.port), keepalive=None, persister=persister) as tracker:
                await sim.sessions[0].stream_done.wait()
                await tracker.wait_folded(tracker.client.next_seq - 1)
            world = encode_world(tracker.world)
            frames = tracker.stats.frames
    assert persister.stats.frames_written == frames
    assert persister.stats.write_failures == 0
    assert not (tmp_path / "spill.bin").exists()
    _check_store_matches(store_url, world, frames)
    # a second run continues the same server's log, numbering and World
    with trio.fail_after(60):
        async with run_simulator(FIXTURES / "basic.ami", username=USER, secret=SECRET) as sim:
            async with open_tracker(
                url(sim.port), keepalive=None, db=store_url, server="pbx"
            ) as tracker:
                await sim.sessions[0].stream_done.wait()
                await tracker.wait_folded(tracker.client.next_seq - 1)
            world = encode_world(tracker.world)
            total = tracker.client.next_seq
    with open_store(store_url) as store:
        assert store.server("pbx").next_seq == total
        assert encode_world(store.world_at("pbx").world) == world
        sessions = store.sessions(store.server("pbx").id)
        assert [(s.first_seq, s.frames) for s in sessions] == [
            (0, frames),
            (frames, total - frames),
        ]


@asynccontextmanager
async def _outage(store_url: str) -> AsyncIterator[tuple[str, trio.Event, trio.Event]]:
    """``(url, cut, restore)``: the persister's URL, and events that start/end an outage.

    SQLite: another connection holds an exclusive lock (writes fail "database is locked").
    PostgreSQL: the URL goes through a proxy that drops every connection while cut.
    """
    cut, restore = trio.Event(), trio.Event()
    async with trio.open_nursery() as nursery:
        if store_url.startswith("sqlite"):
            path = make_url(store_url).database
            assert path is not None

            async def lock() -> None:
                await cut.wait()
                holder = sqlite3.connect(path, isolation_level=None)
                holder.execute("BEGIN EXCLUSIVE")
                await restore.wait()
                holder.execute("ROLLBACK")
                holder.close()

            nursery.start_soon(lock)
            yield f"{store_url}?timeout=0.05", cut, restore
        else:
            proxy = Proxy(make_url(PG_URL).port or 5432)
            await nursery.start(proxy.serve)

            async def drop() -> None:
                await cut.wait()
                proxy.cut()
                await restore.wait()
                proxy.restore()

            nursery.start_soon(drop)
            yield proxy.via(store_url), cut, restore
        nursery.cancel_scope.cancel()


async def test_database_outage_loses_nothing(store_url: str, tmp_path: Path) -> None:
    name = "transfers.ami"
    spill = tmp_path / "spill.bin"
    with trio.fail_after(90):
        async with _outage(store_url) as (via, cut, restore):
            persister = Persister(
                via,
                "pbx",
                spill_path=spill,
                flush_interval=0.05,
                memory_frames=60,
                batch_frames=20,
                retry_initial=0.05,
                retry_max=0.2,
                snapshot_frames=100,
            )
            async with run_simulator(
                FIXTURES / name, username=USER, secret=SECRET, speed=50
            ) as sim:
                async with open_tracker(
                    url(sim.port), keepalive=None, persister=persister
                ) as tracker:
                    cut.set()
                    await sim.sessions[0].stream_done.wait()
                    await tracker.wait_folded(tracker.client.next_seq - 1)
                    while persister.stats.write_failures < 3 or not persister.stats.frames_spilled:  # noqa: ASYNC110 (polling counters)
                        await trio.sleep(0.02)
                    assert persister.pending > 0
                    restore.set()
                    await persister.wait_idle()
                world = encode_world(tracker.world)
                frames = tracker.stats.frames
    assert persister.stats.frames_spilled > 0
    assert persister.stats.frames_written == frames
    assert not spill.exists()
    _check_store_matches(store_url, world, frames)
    received = _stored_bytes(store_url)
    assert len(received) > len(read_bytes(FIXTURES / name)) // 2


async def test_frames_kept_at_shutdown_are_written_at_next_start(
    sqlite_url: str, tmp_path: Path
) -> None:
    """The database is still down when the tracker stops: what is not written stays in the
    spill file, in order, and the next persister for that server writes it before anything."""
    from tracker.store import migrate

    migrate.upgrade(sqlite_url)
    name = "basic.ami"
    spill = tmp_path / "spill.bin"
    with trio.fail_after(60):
        async with _outage(sqlite_url) as (via, cut, restore):
            persister = Persister(
                via,
                "pbx",
                spill_path=spill,
                flush_interval=0.05,
                shutdown_timeout=0.5,
                retry_initial=0.05,
                retry_max=0.1,
            )
            async with run_simulator(FIXTURES / name, username=USER, secret=SECRET) as sim:
                async with open_tracker(
                    url(sim.port), keepalive=None, persister=persister
                ) as tracker:
                    cut.set()
                    await sim.sessions[0].stream_done.wait()
                    await tracker.wait_folded(tracker.client.next_seq - 1)
                world = encode_world(tracker.world)
                frames = tracker.stats.frames
            restore.set()
    assert spill.exists()
    assert persister.stats.frames_written < frames
    again = Persister(sqlite_url, "pbx", spill_path=spill)
    start = await trio.to_thread.run_sync(again.open)
    assert not spill.exists()
    assert start.next_seq == frames
    assert encode_world(start.world) == world
    assert again.store is not None
    again.store.close()
    assert _stored_bytes(sqlite_url)


async def test_a_reconnect_starts_a_new_session_row(store_url: str, tmp_path: Path) -> None:
    from sqlalchemy import select

    from tracker.store import Session

    with trio.fail_after(60):
        async with run_simulator(
            FIXTURES / "queue.ami", username=USER, secret=SECRET, drop_after=200
        ) as sim:
            persister = Persister(
                store_url, "pbx", spill_path=tmp_path / "s.bin", flush_interval=0.05
            )
            async with open_tracker(
                url(sim.port),
                keepalive=None,
                persister=persister,
                backoff_initial=0.05,
                resync=False,
            ) as tracker:
                while tracker.stats.sessions < 2:  # noqa: ASYNC110 (polling a counter)
                    await trio.sleep(0.01)
                await tracker.wait_folded(tracker.client.next_seq - 1)
            world = encode_world(tracker.world)
            frames = tracker.stats.frames
            sessions = tracker.stats.sessions
    with open_store(store_url) as store:
        assert store.server("pbx").next_seq == frames
        assert encode_world(store.world_at("pbx").world) == world
        with store.engine.connect() as conn:
            rows = conn.execute(
                select(
                    Session.first_seq,
                    Session.frames,
                    Session.source,
                    Session.connected_at,
                    Session.disconnected_at,
                    Session.disconnect_reason,
                ).order_by(Session.first_seq)
            ).all()
    assert len(rows) == sessions >= 2
    assert all(r.source == "live" and r.connected_at is not None for r in rows)
    # noted when the client lost it (in its words), before the next session connected
    closed = f"ami://{USER}:***@127.0.0.1:{sim.port} closed the connection"
    assert all(r.disconnect_reason == closed for r in rows[:-1])
    assert all(a.disconnected_at <= b.connected_at for a, b in itertools.pairwise(rows))
    # the simulator drops every session after 200 frames: the last one may be dropped too
    # before the tracker stops
    assert rows[-1].disconnect_reason in ("logoff", "tracker stopped", closed)
    assert rows[-1].disconnected_at is not None
    for a, b in itertools.pairwise(rows):
        assert a.first_seq + a.frames == b.first_seq


async def test_a_write_awaited_when_the_persister_is_cancelled_is_counted_once(
    store_url: str, tmp_path: Path
) -> None:
    """The writer process answers asynchronously: cancelled while waiting, the persister's
    shutdown waits for that same answer (it does not send the batches again)."""
    from tracker.store.writer_process import WriterProcess

    from .test_writer_process import _batches

    batches = _batches(store_url)
    frames = sum(len(b.frames) for b in batches)
    persister = Persister(
        store_url, "pbx", spill_path=tmp_path / "spill.bin", batch_frames=1, writer_process=True
    )
    with trio.fail_after(60):
        await trio.to_thread.run_sync(persister.open)
        writer = persister._writer
        assert isinstance(writer, WriterProcess) and writer.in_child
        async with trio.open_nursery() as nursery:
            await nursery.start(persister.run)
            for batch in batches:
                persister.put(batch)
            while not writer.awaiting:
                await trio.lowlevel.checkpoint()
            nursery.cancel_scope.cancel()  # while the first write's answer is awaited
    assert persister.stats.frames_written == frames  # no write came back "skipped"
    assert persister._writer is None and not persister.pending
    with open_store(store_url) as store:
        assert store.server("pbx").next_seq == frames
    expected = b"".join(f.raw for b in batches for f in b.frames)
    assert _stored_bytes(store_url) == expected


async def test_a_failure_while_closing_the_store_does_not_hang_the_close(
    sqlite_url: str, tmp_path: Path
) -> None:
    """``aclose`` returns (the failure goes to whoever runs the persister) instead of waiting
    forever for a shutdown that ended with an exception."""
    import pytest

    from tracker.store import migrate

    migrate.upgrade(sqlite_url)

    class Broken(Persister):
        def _release_and_close(self) -> None:
            super()._release_and_close()
            raise RuntimeError("closing failed")

    persister = Broken(sqlite_url, "pbx", spill_path=tmp_path / "spill.bin")
    with trio.fail_after(10):
        await trio.to_thread.run_sync(persister.open)
        with pytest.RaisesGroup(pytest.RaisesExc(RuntimeError, match="closing failed")):
            async with trio.open_nursery() as nursery:
                await nursery.start(persister.run)
                nursery.cancel_scope.cancel()  # the service stops: run's shutdown fails
        assert persister._done.is_set()  # else aclose (shielded) would wait forever
        await persister.aclose()


def test_an_import_process_never_configures_the_orm_nor_computes_the_fold_version(
    store_url: str, tmp_path: Path
) -> None:
    """The importing process opens the store, takes the lease and plans with Core statements
    only: configuring the ORM's mappers (~40-130 ms in a new process) and the World's schema
    digest (~10-20 ms) are left to the writer process, which does them while the fold runs. A
    fresh interpreter, as the command runs."""
    import subprocess
    import sys

    script = (
        "import sys, trio\n"
        "from pathlib import Path\n"
        "from sqlalchemy import inspect\n"
        "from tracker.reducer.version import fold_version\n"
        "from tracker.runtime.importing import import_captures\n"
        "from tracker.store.schema import Server\n"
        "result = trio.run(lambda: import_captures(sys.argv[1], [Path(sys.argv[2])],"
        " server='pbx', spill_path=Path(sys.argv[3]), writer_process=True))\n"
        "print(result.written, inspect(Server).configured, fold_version.cache_info().currsize)\n"
    )
    capture = FIXTURES / "queue.ami"
    done = subprocess.run(
        [sys.executable, "-W", "error", "-c", script, store_url, str(capture), str(tmp_path / "s")],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    written, configured, computed = done.stdout.split()
    assert int(written) > 100  # it did import (in the writer process)
    assert configured == "False"
    assert computed == "0"
