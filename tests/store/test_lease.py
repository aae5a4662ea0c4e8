"""One writer per server's log: the lease row on SQLite and PostgreSQL, and two real ``run``s."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import trio
from sqlalchemy import select, update

from tests.helpers import FIXTURES
from tests.runtime._support import HOST, SECRET, USER
from tests.runtime.test_run_cli import Process
from tracker.runtime import run_simulator
from tracker.runtime.persister import Persister
from tracker.store import Store, open_store
from tracker.store.lease import LeaseHeld, acquire, heartbeat, release
from tracker.store.schema import ServerLease


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    with open_store(store_url) as opened:
        yield opened


def _reaped() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _holders(store: Store) -> list[tuple[str, int]]:
    with store.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(select(ServerLease.host, ServerLease.pid))]  # type: ignore[misc]


def test_a_live_holder_refuses_a_second_one_until_it_releases(store: Store) -> None:
    server = store.ensure_server("pbx").id
    other = os.getppid()  # a live process of this host that is not us
    first = acquire(store.engine, server, "pbx", pid=other)
    with pytest.raises(LeaseHeld) as refused:
        acquire(store.engine, server, "pbx")
    message = str(refused.value)
    assert f"'pbx' is already being tracked into this database by pid {other} on " in message
    assert socket.gethostname() in message
    assert heartbeat(store.engine, first)
    release(store.engine, first)
    second = acquire(store.engine, server, "pbx")
    assert _holders(store) == [(socket.gethostname(), os.getpid())]
    release(store.engine, second)
    assert _holders(store) == []


def test_a_dead_pid_on_this_host_is_taken_over(store: Store) -> None:
    server = store.ensure_server("pbx").id
    dead = _reaped()
    stale = acquire(store.engine, server, "pbx", pid=dead)
    mine = acquire(store.engine, server, "pbx")
    assert _holders(store) == [(socket.gethostname(), os.getpid())]
    assert not heartbeat(store.engine, stale)  # the old holder learns it lost the lease
    release(store.engine, stale)  # and cannot release the new holder's lease
    assert _holders(store) == [(socket.gethostname(), os.getpid())]
    assert heartbeat(store.engine, mine)


def test_another_host_is_trusted_until_its_heartbeat_is_stale(store: Store) -> None:
    server = store.ensure_server("pbx").id
    acquire(store.engine, server, "pbx", host="pbx-tracker-2", pid=1)
    with pytest.raises(LeaseHeld, match="by pid 1 on pbx-tracker-2"):
        acquire(store.engine, server, "pbx", stale_after=60)
    with store.engine.begin() as conn:
        conn.execute(
            update(ServerLease).values(heartbeat_at=datetime.now(UTC) - timedelta(seconds=61))
        )
    acquire(store.engine, server, "pbx", stale_after=60)
    assert _holders(store) == [(socket.gethostname(), os.getpid())]


def test_the_persister_takes_the_lease_and_gives_it_back(store_url: str, tmp_path: Path) -> None:
    async def main() -> None:
        persister = Persister(store_url, "pbx", spill_path=tmp_path / "spill.bin")
        await trio.to_thread.run_sync(persister.open)
        async with trio.open_nursery() as nursery:
            await nursery.start(persister.run)
            with open_store(store_url) as store:
                assert _holders(store) == [(socket.gethostname(), os.getpid())]
                other = Persister(store_url, "pbx", spill_path=tmp_path / "other.bin")
                with store.engine.begin() as conn:  # as if another live process held it
                    conn.execute(update(ServerLease).values(pid=os.getppid()))
                with pytest.raises(LeaseHeld):
                    other.open()
                assert other.store is None  # closed again
                with store.engine.begin() as conn:
                    conn.execute(update(ServerLease).values(pid=os.getpid()))
            await persister.aclose()
        with open_store(store_url) as store:
            assert _holders(store) == []

    trio.run(main)


async def test_a_second_run_on_the_same_database_and_name_is_refused(tmp_path: Path) -> None:
    from tracker.store import migrate

    url = f"sqlite:///{tmp_path / 'calls.sqlite'}"
    migrate.upgrade(url)
    args = ("--name", "pbx", "--db", url)
    with trio.fail_after(60):
        async with run_simulator(FIXTURES / "basic.ami", username=USER, secret=SECRET) as sim:
            ami = ("--ami", f"ami://{USER}@{HOST}:{sim.port}")
            first = await Process.start(
                *ami, *args, AMI_TRACKER_SECRET=SECRET, XDG_STATE_HOME=str(tmp_path)
            )
            async with trio.open_nursery() as nursery:
                nursery.start_soon(first.drain)
                await first.wait_for(r"\[pbx\] resynced: ")
                second = await Process.start(
                    *ami, *args, AMI_TRACKER_SECRET=SECRET, XDG_STATE_HOME=str(tmp_path / "2")
                )
                nursery.start_soon(second.drain)
                code = await second.proc.wait()
                first.proc.send_signal(signal.SIGTERM)
                assert await first.proc.wait() == 0, first.err.decode()
    text = second.err.decode()
    assert code == 1, text
    assert "Traceback" not in text
    assert (
        f"ami-tracker run: server 'pbx' is already being tracked into this database by pid "
        f"{first.proc.pid} on {socket.gethostname()}" in text.splitlines()[-1]
    )
    assert len(sim.sessions) == 1  # the refused run never connected to Asterisk
    with open_store(url) as store:
        assert _holders(store) == []  # released on the graceful stop
