"""``ami-tracker top`` for real: the command in a pseudo-terminal, against the simulator.

The process gets a pty of 160x50 as its terminal (stdin, stdout, stderr), as in a terminal
emulator; the test reads what it draws, strips the escape sequences, and presses ``q``.
"""

from __future__ import annotations

import errno
import fcntl
import os
import pty
import re
import signal
import struct
import termios

import trio

from tests.helpers import FIXTURES
from tracker.runtime import run_simulator

from ._support import HOST, SECRET, USER
from .test_run_cli import CLI, REPO, _env
from .test_service import free_port

ESCAPES = re.compile(rb"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07]*\x07|\x1b[()][0-9A-Za-z]|\x1b[=>78]")


def screen_text(raw: bytes) -> str:
    return ESCAPES.sub(b"", raw).decode("utf-8", "replace").replace("\r", "")


class Terminal:
    def __init__(self, columns: int = 160, rows: int = 50) -> None:
        self.master, self.slave = pty.openpty()
        fcntl.ioctl(self.slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
        self.output = bytearray()
        self.changed = trio.Event()

    async def top(self, *args: str, **env: str) -> trio.Process:
        """``ami-tracker top ARGS`` with this terminal as its stdin, stdout and stderr."""
        proc = await trio.lowlevel.open_process(
            [*CLI, "top", *args],
            stdin=self.slave,
            stdout=self.slave,
            stderr=self.slave,
            cwd=REPO,
            env=_env(TERM="xterm-256color", **env),
            start_new_session=True,
        )
        os.close(self.slave)  # the process holds it now: its exit ends our reads
        return proc

    async def read(self) -> None:
        """Until the process side is closed (EIO on Linux once every holder has exited)."""
        while True:
            try:
                data = await trio.to_thread.run_sync(os.read, self.master, 65536)
            except OSError as exc:
                if exc.errno != errno.EIO:
                    raise
                data = b""
            if not data:
                return
            self.output.extend(data)
            self.changed.set()
            self.changed = trio.Event()

    async def wait_for(self, pattern: str, since: int = 0) -> re.Match[str]:
        while True:
            found = re.search(pattern, screen_text(bytes(self.output[since:])))
            if found is not None:
                return found
            await self.changed.wait()


async def test_top_shows_calls_and_queue_load_and_quits_on_q() -> None:
    term = Terminal()
    with trio.fail_after(60):
        async with run_simulator(
            FIXTURES / "load.ami.gz", username=USER, secret=SECRET, speed=4
        ) as sim:
            proc = await term.top(
                *("--ami", f"ami://{USER}@{HOST}:{sim.port}", "--refresh", "0.2"),
                AMI_TRACKER_SECRET=SECRET,
            )
            async with trio.open_nursery() as nursery:
                nursery.start_soon(term.read)
                await term.wait_for(r"127\.0\.0\.1 ami://lab:\*\*\*@127\.0\.0\.1:\d+ live")
                calls = await term.wait_for(r"Calls \(([1-9]\d*) active\)")
                mark = len(term.output)
                # a later frame: talking calls with their parties, the queue with its members
                talking = await term.wait_for(
                    r"\n +(1\d\d) Load \d+ +(\d+)[^\n]* talking +\d+:\d\d +\d+:\d\d +Local/", mark
                )
                queue = await term.wait_for(r"\n +load +(\d+) [^\n]*Load Agent \d+ (idle|in use)")
                os.write(term.master, b"q")
                returncode = await proc.wait()
            await sim.sessions[0].done.wait()
    os.close(term.master)
    screen = screen_text(bytes(term.output))
    assert returncode == 0, screen[-2000:]
    assert int(calls.group(1)) >= 1
    assert talking.group(1) != talking.group(2)  # caller and callee differ
    assert int(queue.group(1)) >= 0
    assert "Queues" in screen and "waiting" in screen and "members" in screen
    assert re.search(r"top: stopped after \d+ frames, 1 sessions", screen)
    assert SECRET not in screen
    assert "Traceback" not in screen
    assert sim.sessions[0].actions[-1] == "Logoff"


async def test_top_wrong_secret_is_one_line_in_the_terminal() -> None:
    term = Terminal()
    with trio.fail_after(30):
        async with run_simulator(FIXTURES / "basic.ami", username=USER, secret=SECRET) as sim:
            proc = await term.top(
                "--ami", f"ami://{USER}@{HOST}:{sim.port}", AMI_TRACKER_SECRET="not-it"
            )
            async with trio.open_nursery() as nursery:
                nursery.start_soon(term.read)
                returncode = await proc.wait()
    os.close(term.master)
    screen = screen_text(bytes(term.output))
    assert returncode == 78, screen
    assert "Traceback" not in screen and "not-it" not in screen
    assert screen.strip().splitlines()[-1].strip() == (
        f"ami-tracker top: login as '{USER}' on {HOST}:{sim.port} refused: Authentication failed"
    )


async def test_top_while_unreachable_shows_why_and_stops_on_sigterm() -> None:
    term = Terminal()
    port = free_port()
    with trio.fail_after(30):
        proc = await term.top(
            *("--ami", f"ami://{USER}@{HOST}:{port}", "--refresh", "0.2"),
            AMI_TRACKER_SECRET=SECRET,
        )
        async with trio.open_nursery() as nursery:
            nursery.start_soon(term.read)
            await term.wait_for(rf"127\.0\.0\.1 ami://lab:\*\*\*@127\.0\.0\.1:{port} connecting")
            await term.wait_for(r"WARNING AMI connect failed: cannot connect to ami://lab:\*\*\*@")
            proc.send_signal(signal.SIGTERM)
            returncode = await proc.wait()
    os.close(term.master)
    screen = screen_text(bytes(term.output))
    assert returncode == 0, screen[-2000:]
    assert "top: stopped after 0 frames, 0 sessions" in screen
    assert "Traceback" not in screen
