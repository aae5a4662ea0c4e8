"""``ami-tracker record`` and ``ami-tracker simulate`` as real subprocesses on loopback."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path

import trio

from tests.cli._support import cli_env
from tests.helpers import FIXTURES
from tracker.ami import FrameKind
from tracker.capture import iter_frames
from tracker.cli import SUBCOMMANDS
from tracker.runtime import connect, run_simulator

from ._support import SECRET, USER, expected_stream, url

REPO = FIXTURES.parent
CLI = [sys.executable, "-m", "tracker"]


def test_subcommands_are_registered() -> None:
    assert {"record", "simulate"} <= set(SUBCOMMANDS)


async def _record(*args: str, **env: str) -> subprocess.CompletedProcess[bytes]:
    return await trio.run_process(
        [*CLI, "record", *args],
        capture_stdout=True,
        capture_stderr=True,
        check=False,
        cwd=REPO,
        env=cli_env(**env),
    )


async def test_record_until_duration_then_logoff(tmp_path: Path) -> None:
    out = tmp_path / "recorded.ami"
    expected = expected_stream("basic.ami")
    with trio.fail_after(30):
        async with run_simulator(FIXTURES / "basic.ami", username=USER, secret=SECRET) as sim:
            done = await _record("--ami", url(sim.port), "-o", str(out), "--duration", "1.0")
            await sim.sessions[0].done.wait()
    assert done.returncode == 0, done.stderr
    assert SECRET.encode() not in done.stdout + done.stderr
    frames = list(iter_frames(out))
    assert b"".join(f.raw for f in frames) == out.read_bytes()
    assert frames[0].kind is FrameKind.BANNER
    assert frames[0].raw == (FIXTURES / "basic.ami").read_bytes()[: len(frames[0].raw)]
    assert frames[1].get("Message") == "Authentication accepted"
    assert [f.raw for f in frames[2:-1]] == [f.raw for f in expected]
    assert (frames[-1].kind, frames[-1].name) == (FrameKind.RESPONSE, "Goodbye")
    assert sim.sessions[0].reason == "logoff"


async def test_record_until_server_closes(tmp_path: Path) -> None:
    out = tmp_path / "closed.ami"
    expected = expected_stream("encoding.ami")
    with trio.fail_after(30):
        async with run_simulator(
            FIXTURES / "encoding.ami", secret=SECRET, close_at_end=True
        ) as sim:
            target = f"ami://{USER}@127.0.0.1:{sim.port}"  # secret from the environment
            done = await _record(
                "--ami", target, "-o", str(out), "--events", "on", AMI_SECRET=SECRET
            )
    assert done.returncode == 0, done.stderr
    frames = list(iter_frames(out))
    assert [f.raw for f in frames[2:]] == [f.raw for f in expected]
    assert sum(f.fallback for f in frames) == sum(f.fallback for f in expected) > 0


async def test_record_bad_secret_fails(tmp_path: Path) -> None:
    with trio.fail_after(30):
        async with run_simulator(FIXTURES / "basic.ami", secret=SECRET) as sim:
            done = await _record(
                "--ami", url(sim.port, secret="nope-123"), "-o", str(tmp_path / "x")
            )
    assert done.returncode == 1
    assert b"Authentication failed" in done.stderr
    assert b"nope-123" not in done.stdout + done.stderr


async def test_simulate_serves_a_capture() -> None:
    expected = expected_stream("basic.ami")
    cmd = [*CLI, "simulate", str(FIXTURES / "basic.ami")]
    cmd += ["--port", "0", "--fast", "--username", USER]
    proc = await trio.lowlevel.open_process(
        cmd, stdout=subprocess.PIPE, cwd=REPO, env=cli_env(AMI_SIMULATOR_SECRET=SECRET)
    )
    try:
        with trio.fail_after(30):
            assert proc.stdout is not None
            line = b""
            while not line.endswith(b"\n"):
                line += await proc.stdout.receive_some(1)
            match = re.fullmatch(rb"listening on 127\.0\.0\.1:(\d+)\n", line)
            assert match is not None, line
            port = int(match.group(1))
            async with connect(url(port), keepalive=None) as client:
                got = []
                async for received in client.events():
                    got.append(received)
                    if len(got) == 2 + len(expected):
                        break
                assert (await client.send("Ping")).ok
            assert [r.frame.raw for r in got[2:]] == [f.raw for f in expected]
    finally:
        proc.kill()
        with trio.move_on_after(5):
            await proc.wait()
        if proc.stdout is not None:
            await proc.stdout.aclose()


async def test_record_stops_on_ctrl_c(tmp_path: Path) -> None:
    out = tmp_path / "interrupted.ami"
    expected = expected_stream("basic.ami")
    with trio.fail_after(30):
        async with run_simulator(FIXTURES / "basic.ami", secret=SECRET) as sim:
            cmd = [*CLI, "record", "--ami", url(sim.port), "-o", str(out)]
            proc = await trio.lowlevel.open_process(cmd, cwd=REPO, env=cli_env())
            try:
                await sim.connected.wait()
                await sim.sessions[0].stream_done.wait()
                await trio.sleep(0.2)  # let the recorder's signal handler be installed
                proc.send_signal(signal.SIGINT)
                code = await proc.wait()
            finally:
                proc.kill()
            await sim.sessions[0].done.wait()
    assert code == 0
    frames = list(iter_frames(out))
    assert [f.raw for f in frames[2:-1]] == [f.raw for f in expected]
    assert frames[-1].name == "Goodbye"
    assert sim.sessions[0].reason == "logoff"
