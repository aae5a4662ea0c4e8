"""``ami-tracker top --db`` for real: the command in a pseudo-terminal follows a tracker that
writes into SQLite or PostgreSQL from the simulator over TCP, and shows the writer's World.

The writer is the service (``run``'s code) in this process, so the test knows its World after
every folded batch; the follower is a separate process, reading only the database. The status
line says how many frames the screen shows (``N frames``: the World after seq N-1), so each
drawn screen is compared with the switchboard of the writer's World at that very seq
(durations masked: the two clocks tick apart between events).
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest
import trio
from rich.console import Console

from tests.helpers import FIXTURES
from tests.runtime._support import HOST, SECRET, USER
from tests.runtime.test_service import settings, tracker_of
from tests.runtime.test_top_pty import Terminal, screen_text
from tracker.ami import Frame
from tracker.cli.switchboard import Status, render
from tracker.events.envelope import Envelope
from tracker.runtime import run_simulator
from tracker.runtime.service import Service
from tracker.state import Change, World, decode_world, encode_world

DURATION = re.compile(r"\b\d+:\d\d(?::\d\d)?\b")
FRAMES = re.compile(r" \| ([\d,]+) frames \| ")


@pytest.fixture(autouse=True)
def spill_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))


def board(screen: str) -> str:
    """The switchboard below the status line, durations masked, blank ends dropped."""
    start = screen.find("Calls (")
    assert start >= 0, screen
    lines = [DURATION.sub("T", line).rstrip() for line in screen[start:].splitlines()]
    return "\n".join(lines).strip("\n")


def expected_board(world: World) -> str:
    console = Console(file=io.StringIO(), width=160, record=True, color_system=None)
    console.print(render(world, Status(server="pbx"), now=world.clock, max_calls=25))
    return board(console.export_text())


def screens(term: Terminal) -> list[str]:
    """Every complete redraw so far (each starts by moving the cursor home)."""
    parts = bytes(term.output).split(b"\x1b[H")
    return [screen_text(p) for p in parts[1:-1]]


@contextmanager
def shown_on_timeout(term: Terminal, proc: trio.Process, seconds: float) -> Iterator[None]:
    """``fail_after(seconds)``; on timeout the failure shows the last screen drawn."""
    try:
        with trio.fail_after(seconds):
            yield
    except trio.TooSlowError:
        proc.kill()
        drawn = screens(term)
        pytest.fail(f"timed out; the last screen:\n{drawn[-1] if drawn else term.output[-3000:]!r}")


class WriterWorlds:
    """A fold sink: the writer's World (encoded) after each folded batch, by its last seq."""

    def __init__(self) -> None:
        self.at: dict[int, bytes] = {}

    def __call__(
        self,
        frames: Sequence[Frame],
        envelopes: Sequence[Envelope],
        clocks: Sequence[float],
        changes: Sequence[Change],
        world: World,
    ) -> None:
        self.at[envelopes[-1].seq] = encode_world(world)


async def test_top_db_follows_the_writer_live(store_url: str) -> None:
    term = Terminal()
    worlds = WriterWorlds()
    compared: dict[int, str] = {}
    proc = await term.top("--db", store_url, "--refresh", "0.2", "--poll", "0.2")
    with shown_on_timeout(term, proc, 120):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(term.read)
            # nothing written yet: it waits for a tracker
            await term.wait_for(r"waiting \|[^|]*\|[\s\S]*?holds\s+no\s+server\s+yet")
            async with trio.open_nursery() as writer:
                async with run_simulator(
                    FIXTURES / "load.ami.gz", username=USER, secret=SECRET, speed=4
                ) as sim:
                    url = f"ami://{USER}@{HOST}:{sim.port}"
                    service = Service(settings(url, names=["pbx"], db=store_url))
                    await writer.start(service.run)
                    tracker_of(service).add_sink(worlds)
                    await term.wait_for(r"pbx [^\n]* live \| ")
                    # screens drawn from the database equal the writer's World at their seq
                    while len({b for b in compared.values() if "Calls (0 active)" not in b}) < 3:
                        await term.changed.wait()
                        for screen in screens(term):
                            if "Calls (" not in screen:
                                continue
                            found = FRAMES.search(screen)
                            assert found is not None, screen
                            seq = int(found.group(1).replace(",", "")) - 1
                            if seq in compared or seq not in worlds.at:
                                continue
                            expected = expected_board(decode_world(worlds.at[seq]))
                            assert board(screen) == expected, f"screen at seq {seq}"
                            compared[seq] = expected
                    mark = len(term.output)
                # the Asterisk is gone, the writer retries: the session's row says so at once
                lost = await term.wait_for(
                    r"disconnected \|[\s\S]*?\| since [^|]*\(ami://([^)]*)\)", mark
                )
                assert tracker_of(service).stats.sessions == 1  # still reconnecting
                mark = len(term.output)
                service.stop()
            # the writer stopped: no lease any more, the session's end stays the lost connection
            await term.wait_for(r"\(ami://[^)]*\),\s+no\s+tracker\s+writing", mark)
            os.write(term.master, b"q")
            returncode = await proc.wait()
    os.close(term.master)
    screen = screen_text(bytes(term.output))
    assert returncode == 0, screen[-2000:]
    assert "Traceback" not in screen
    assert len(compared) >= 3
    seqs = sorted(compared)
    assert seqs[-1] > seqs[0]  # it moved on with the writer
    assert any("Queues" in b and " load " in b for b in compared.values())
    assert re.search(r"top: stopped at frame \d+", screen)
    assert SECRET not in screen
    reason = re.sub(r"\s+", " ", lost.group(1))  # the status line may wrap in it
    where = f"{USER}:***@{HOST}:{sim.port}"  # the client's words (a FIN, or a reset)
    assert reason == f"{where} closed the connection" or reason.startswith(
        f"{where}: connection failed: "
    )


async def test_top_db_shows_the_database_going_away_and_coming_back(pg_url: str) -> None:
    from tracker.replay import import_capture
    from tracker.store import migrate, open_store

    from .test_persister import _outage

    migrate.upgrade(pg_url)
    with open_store(pg_url) as store:
        import_capture(store, FIXTURES / "queue.ami", server="pbx")
    term = Terminal()
    async with _outage(pg_url) as (via, cut, restore):
        assert via != pg_url  # through a proxy that the test cuts
        proc = await term.top("--db", via, "--refresh", "0.2", "--poll", "0.2")
        with shown_on_timeout(term, proc, 60):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(term.read)
                await term.wait_for(r"pbx [^\n]* imported \| [\s\S]*Queues")
                mark = len(term.output)
                cut.set()
                away = await term.wait_for(r"db error \|[\s\S]*?\n(the database [^\n(]*)", mark)
                mark = len(term.output)
                restore.set()
                await term.wait_for(r"pbx [^\n]* imported \| ", mark)
                os.write(term.master, b"q")
                returncode = await proc.wait()
    os.close(term.master)
    screen = screen_text(bytes(term.output))
    assert returncode == 0, screen[-2000:]
    assert "Traceback" not in screen
    # a dropped connection, then refused reconnects, in the words of store.describe
    assert away.group(1).strip() in {
        "the database refused the connection",
        "the database closed the connection",
        "the connection to the database was lost",
    }


async def test_q_typed_before_the_screen_is_up_quits(sqlite_url: str) -> None:
    """The key reader switches the terminal to cbreak without flushing: a ``q`` typed while
    the command starts is read, not dropped (it used to run on until a second ``q``)."""
    from tracker.replay import import_capture
    from tracker.store import migrate, open_store

    migrate.upgrade(sqlite_url)
    with open_store(sqlite_url) as store:
        import_capture(store, FIXTURES / "basic.ami", server="pbx")
    term = Terminal()
    proc = await term.top("--db", sqlite_url, "--refresh", "0.2")
    os.write(term.master, b"q")  # at once: the process is still importing its modules
    with shown_on_timeout(term, proc, 30):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(term.read)
            returncode = await proc.wait()
    os.close(term.master)
    screen = screen_text(bytes(term.output))
    assert returncode == 0, screen[-2000:]
    assert "top: stopped at frame" in screen and "Traceback" not in screen
