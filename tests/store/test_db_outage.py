"""The database goes away while ``ami-tracker run`` follows the simulator over real TCP (the load
capture paced to a few seconds): PostgreSQL behind a proxy the test cuts (the shared server
keeps running), and a SQLite file on a tiny disk that fills up (a tmpfs: a real ENOSPC).

The run says so in one line (no traceback), retries with backoff, keeps reading AMI (the
simulator closes a client that stops reading for its write timeout, as Asterisk does), spills
past its memory bound, and once the database is back writes everything: the stored log holds
every frame served exactly once, byte for byte, and the reporting tables equal those of an
uninterrupted import of the capture. A SIGTERM while the database is still down exits 0 and
keeps what was not written in the spill file, which the next start writes first.
"""

from __future__ import annotations

import math
import re
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import trio
from sqlalchemy import make_url

from tests.helpers import FIXTURES
from tests.runtime._support import HOST, SECRET, USER
from tests.runtime.test_run_cli import Process
from tracker.ami import Frame, FrameKind
from tracker.capture import iter_frames
from tracker.runtime import run_simulator
from tracker.runtime.script import load_script
from tracker.runtime.simulator import AmiSimulator
from tracker.store import migrate, open_store

from ._faults import Proxy, fill, reporting_tables, tiny_disk
from .conftest import PG_URL

CAPTURE = FIXTURES / "load.ami.gz"
SPEED = 6.0
"""The capture's 85 s of Asterisk time in about 14 s."""
SPILL_AFTER = 3000
WRITE_TIMEOUT = 1.0
"""Asterisk's ``writetimeout`` is 100 ms; a reader that waited on the database would stop for
the whole outage (seconds): 1 s tells the two apart on a busy machine too."""
WRITE_FAILURES = "ami_tracker_persister_write_failures_total"
FAILED = re.compile(r"store write failed \(will retry\): [^\n]*")


def _stored(url: str) -> int:
    with open_store(url) as store:
        return store.server("pbx").next_seq if store.servers() else 0


async def _until_stored(url: str, frames: int) -> None:
    while await trio.to_thread.run_sync(_stored, url) < frames:  # noqa: ASYNC110 (polling the db)
        await trio.sleep(0.1)


def _served(frames: list[Frame]) -> list[bytes]:
    """The capture's own frames among those stored: not the banner nor the answers to the
    tracker's actions (its ActionIDs) nor its logoff's Goodbye."""
    return [
        f.raw
        for f in frames
        if f.kind is not FrameKind.BANNER
        and not (f.action_id or "").startswith("tracker-")
        and f.name != "Goodbye"
    ]


def _exported(url: str, out: Path) -> list[Frame]:
    """The stored log through ``ami-tracker export`` (one session: one file)."""
    from tracker.cli import main

    assert main(["export", "--db", url, "--server", "pbx", "-o", str(out)]) == 0
    return list(iter_frames(out))


def _imported(tmp: Path) -> dict[str, list[tuple[object, ...]]]:
    """Reporting tables of an uninterrupted import of the capture."""
    from tracker.cli import main

    url = f"sqlite:///{tmp / 'imported.sqlite'}"
    migrate.upgrade(url)
    assert main(["import", str(CAPTURE), "--db", url, "--server", "pbx"]) == 0
    return reporting_tables(url)


async def _start(sim: AmiSimulator, db: str, tmp: Path) -> Process:
    return await Process.start(
        *("--ami", f"ami://{USER}@{HOST}:{sim.port}", "--name", "pbx", "--db", db),
        *("--metrics", f"{HOST}:0"),
        AMI_TRACKER_SECRET=SECRET,
        AMI_TRACKER_SPILL_AFTER=str(SPILL_AFTER),
        AMI_TRACKER_FLUSH_TIMEOUT="2",
        AMI_TRACKER_BACKOFF_INITIAL="0.1",
        XDG_STATE_HOME=str(tmp),
    )


@asynccontextmanager
async def _running(sim: AmiSimulator, db: str, tmp: Path) -> AsyncIterator[Process]:
    """A ``run`` whose stderr is read meanwhile; killed if the block fails."""
    run = await _start(sim, db, tmp)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(run.drain)
        try:
            yield run
        except BaseException:
            run.proc.kill()
            raise


async def _metric(run: Process, name: str) -> float:
    """A metric of server ``pbx`` from the run's ``/metrics`` endpoint."""
    found = await run.wait_for(r"metrics on http://[^:]+:(\d+)/metrics")
    stream = await trio.open_tcp_stream(HOST, int(found.group(1)))
    async with stream:
        await stream.send_all(b"GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n")
        body = b""
        while chunk := await stream.receive_some(65536):
            body += chunk
    value = re.search(rf'^{name}\{{server="pbx"\}} (\S+)$', body.decode(), re.M)
    assert value is not None, name
    return float(value.group(1))


@asynccontextmanager
async def _writing(tmp: Path, direct: str, via: str) -> AsyncIterator[tuple[AmiSimulator, Process]]:
    """``run`` into ``via`` following the paced capture, once it has written to ``direct``
    (the same database) and while the capture is still being served."""
    async with (
        run_simulator(
            CAPTURE, username=USER, secret=SECRET, speed=SPEED, write_timeout=WRITE_TIMEOUT
        ) as sim,
        _running(sim, via, tmp) as run,
    ):
        await run.wait_for(r"\[pbx\] resynced: ")
        await _until_stored(direct, 1)
        assert not sim.sessions[0].stream_done.is_set()  # mid-run
        yield sim, run


async def _outage_run(
    tmp: Path,
    direct: str,
    via: str,
    cut: Callable[[], Awaitable[None]],
    restore: Callable[[], Awaitable[None]],
) -> tuple[Process, AmiSimulator]:
    """``run`` on the paced capture into ``via``; the database is cut once frames are being
    written and restored once the whole capture was served (and spilled past the bound)."""
    async with _writing(tmp, direct, via) as (sim, run):
        began = trio.current_time()
        await cut()
        await run.wait_for(FAILED.pattern)
        await run.wait_for(r"database lagging: \d+ frames spilled to ")
        await sim.sessions[0].stream_done.wait()  # the reader kept reading meanwhile
        assert sim.sessions[0].reason is None
        while (failures := await _metric(run, WRITE_FAILURES)) < 3:  # noqa: ASYNC110 (scraping)
            await trio.sleep(0.2)
        outage = trio.current_time() - began
        assert await _metric(run, "ami_tracker_persister_spilled_frames_total") > 0
        await restore()
        await run.wait_for("store writes resumed")
        await _until_stored(direct, len(load_script(CAPTURE).stream))
        run.proc.send_signal(signal.SIGTERM)
        assert await run.proc.wait() == 0, run.err.decode()
    session = sim.sessions[0]
    assert (len(sim.sessions), session.closed_by, session.reason) == (1, "server", "logoff")
    text = run.err.decode()
    assert "Traceback" not in text
    # backoff from 0.5 s, doubling: a handful of attempts over the outage, not a tight loop
    assert failures <= 3 + math.log2(1 + outage / 0.5), (failures, outage)
    return run, sim


def _check_complete(direct: str, tmp: Path, run: Process) -> None:
    script = load_script(CAPTURE)
    stored = _exported(direct, tmp / "exported.ami")
    assert _served(stored) == [f.raw for f in script.stream]  # every frame once, exactly
    with open_store(direct) as store:
        server = store.server("pbx")
        assert [f.seq for f in store.iter_frames("pbx")] == list(range(server.next_seq))
        assert len(store.sessions(server.id)) == 1
    assert reporting_tables(direct) == _imported(tmp)
    assert "persister flushed: " in run.err.decode()


async def test_postgresql_cut_mid_run_loses_nothing(pg_url: str, tmp_path: Path) -> None:
    migrate.upgrade(pg_url)
    pg_port = make_url(PG_URL).port or 5432
    proxy = Proxy(pg_port)

    async def cut() -> None:
        proxy.cut()

    async def restore() -> None:
        assert proxy.refused > 0  # it kept trying while cut
        proxy.restore()

    with trio.fail_after(120):
        async with trio.open_nursery() as nursery:
            await nursery.start(proxy.serve)
            run, _ = await _outage_run(tmp_path, pg_url, proxy.via(pg_url), cut, restore)
            nursery.cancel_scope.cancel()
    failed = FAILED.findall(run.err.decode())
    assert 1 <= len(failed) <= 3, failed  # one line per distinct error, not per attempt
    assert all("password" not in line for line in failed)
    await trio.to_thread.run_sync(_check_complete, pg_url, tmp_path, run)


async def test_sqlite_disk_full_mid_run_loses_nothing(tmp_path: Path) -> None:
    with tiny_disk(tmp_path / "disk", "24m") as disk:
        url = f"sqlite:///{disk / 'calls.sqlite'}"
        migrate.upgrade(url)
        ballast = disk / "ballast"

        async def cut() -> None:  # another program fills the disk
            await trio.to_thread.run_sync(fill, ballast)

        async def restore() -> None:  # the operator frees space
            ballast.unlink()

        with trio.fail_after(120):
            run, _ = await _outage_run(tmp_path, url, url, cut, restore)
        failed = FAILED.findall(run.err.decode())
        assert len(failed) == 1 and "the disk is full (sqlite:///" in failed[0], failed
        await trio.to_thread.run_sync(_check_complete, url, tmp_path, run)


async def test_sigterm_while_the_database_is_down_keeps_the_spill_file(
    pg_url: str, tmp_path: Path
) -> None:
    """SIGTERM while PostgreSQL is unreachable: the run logs off, tries to flush for
    ``flush_timeout`` seconds, keeps what is not written in its spill file (one line says how
    many frames and where), and exits 0. The next start, with the database back, writes the
    spill file before anything else: the log is complete, every frame once."""
    migrate.upgrade(pg_url)
    proxy = Proxy(make_url(PG_URL).port or 5432)
    with trio.fail_after(120):
        async with trio.open_nursery() as nursery:
            await nursery.start(proxy.serve)
            via = proxy.via(pg_url)
            async with _writing(tmp_path, pg_url, via) as (sim, run):
                proxy.cut()
                await run.wait_for(FAILED.pattern)
                await sim.sessions[0].stream_done.wait()
                await run.wait_for(r"database lagging: \d+ frames spilled to ")
                run.proc.send_signal(signal.SIGTERM)
                assert await run.proc.wait() == 0, run.err.decode()
            text = run.err.decode()
            assert "Traceback" not in text
            kept = re.search(
                r"database unavailable at shutdown \(.*\): (\d+) frames kept in (\S+), "
                r"written at next start",
                text,
            )
            assert kept is not None, text
            spill = trio.Path(kept.group(2))
            assert spill.is_relative_to(tmp_path) and await spill.exists()
            received = re.search(r"stopped pbx: (\d+) frames folded", text)
            assert received is not None, text
            written = await trio.to_thread.run_sync(_stored, pg_url)
            # (the final snapshot rides on the last frame again: it may be kept twice)
            assert written < int(received.group(1)) <= written + int(kept.group(1))

            proxy.restore()  # the database is back: the next start writes the spill file first
            async with (
                run_simulator(FIXTURES / "basic.ami", username=USER, secret=SECRET) as sim,
                _running(sim, via, tmp_path) as again,
            ):
                # the spill file is written before the tracker starts: it continues after it
                await again.wait_for(rf"from seq {received.group(1)}\b")
                await again.wait_for(r"\[pbx\] resynced: ")
                await sim.sessions[0].stream_done.wait()
                again.proc.send_signal(signal.SIGTERM)
                assert await again.proc.wait() == 0, again.err.decode()
            nursery.cancel_scope.cancel()
            assert not await spill.exists()
    with open_store(pg_url) as store:
        server = store.server("pbx")
        frames = list(store.iter_frames("pbx"))
        sessions = store.sessions(server.id)
    assert [f.seq for f in frames] == list(range(server.next_seq))
    assert len(sessions) == 2
    first = [f.frame for f in frames if f.session_id == sessions[0].id]
    assert _served(first) == [f.raw for f in load_script(CAPTURE).stream]
