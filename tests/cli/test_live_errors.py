"""``record``, ``simulate``, ``demo`` and ``watch`` mistakes, as real processes on loopback."""

from __future__ import annotations

import gzip
import signal
import socket
import subprocess
from pathlib import Path

import pytest
import trio

from tests.helpers import FIXTURES
from tests.runtime._support import SECRET, USER, url
from tracker.capture import iter_frames, read_bytes
from tracker.runtime import run_simulator

from ._support import CLI, REPO, cli_env, last_error_line, one_error_line, run_cli


def free_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


async def _run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    with trio.fail_after(90):
        done = await trio.run_process(
            [*CLI, *args],
            capture_stdout=True,
            capture_stderr=True,
            check=False,
            cwd=REPO,
            env=cli_env(**env),
        )
    return subprocess.CompletedProcess(
        done.args, done.returncode, done.stdout.decode(), done.stderr.decode()
    )


# -- record --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("output", "message"),
    [
        ("missing-dir/x.ami", "missing-dir: no such directory"),
        (".", "is a directory (give a file name)"),
    ],
)
def test_record_refuses_an_unwritable_output_before_connecting(
    tmp_path: Path, output: str, message: str
) -> None:
    target = tmp_path / output
    proc = run_cli("record", "--ami", url(free_port()), "-o", str(target))
    assert proc.returncode == 2
    assert message in one_error_line(proc.stderr, "record")
    assert sorted(tmp_path.iterdir()) == []


def test_record_failed_connect_leaves_no_file(tmp_path: Path) -> None:
    out = tmp_path / "x.ami"
    proc = run_cli("record", "--ami", url(free_port()), "-o", str(out))
    assert proc.returncode == 1
    assert "cannot connect to ami://lab:***@127.0.0.1:" in one_error_line(proc.stderr, "record")
    assert SECRET not in proc.stderr
    assert not out.exists()


def test_record_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    out = tmp_path / "kept.ami"
    out.write_bytes(b"precious")
    proc = run_cli("record", "--ami", url(free_port()), "-o", str(out))
    assert proc.returncode == 2
    assert "already exists (use --force" in one_error_line(proc.stderr, "record")
    assert out.read_bytes() == b"precious"


async def test_record_gz_is_compressed_and_force_overwrites(tmp_path: Path) -> None:
    out = tmp_path / "rec.ami.gz"
    out.write_bytes(b"old")
    async with run_simulator(FIXTURES / "basic.ami", username=USER, secret=SECRET) as sim:
        refused = await _run("record", "--ami", url(sim.port), "-o", str(out), "--duration", "1")
        done = await _run(
            "record", "--ami", url(sim.port), "-o", str(out), "--duration", "1", "--force"
        )
    assert refused.returncode == 2
    assert done.returncode == 0, done.stderr
    assert out.read_bytes()[:2] == b"\x1f\x8b"
    data = gzip.decompress(out.read_bytes())
    assert data == read_bytes(out)
    assert data.startswith(read_bytes(FIXTURES / "basic.ami").split(b"\r\n", 1)[0])
    frames = list(iter_frames(out))
    assert frames[-1].name == "Goodbye"
    inspected = await _run("inspect", str(out), "--json")
    assert inspected.returncode == 0, inspected.stderr


# -- simulate ------------------------------------------------------------------------------
def test_simulate_missing_capture() -> None:
    proc = run_cli("simulate", "no-such.ami")
    assert proc.returncode == 2
    assert (
        one_error_line(proc.stderr, "simulate") == "ami-tracker simulate: no-such.ami: no such file"
    )


def test_simulate_port_in_use() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = run_cli("simulate", "--port", str(port), str(FIXTURES / "basic.ami"))
    assert proc.returncode == 1
    line = one_error_line(proc.stderr, "simulate")
    assert line.startswith(f"ami-tracker simulate: cannot listen on 127.0.0.1:{port}: ")
    assert "in use" in line


def test_simulate_bad_host() -> None:
    proc = run_cli("simulate", "--host", "999.1.1.1", "--port", "0", str(FIXTURES / "basic.ami"))
    assert proc.returncode == 1
    assert "cannot listen on 999.1.1.1:0" in one_error_line(proc.stderr, "simulate")


# -- demo ----------------------------------------------------------------------------------
def test_demo_on_a_file_that_is_not_ami() -> None:
    proc = run_cli("demo", "README.md", "--fast")
    assert proc.returncode == 2
    assert "README.md: not an AMI capture" in one_error_line(proc.stderr, "demo")


def test_demo_on_a_truncated_capture(tmp_path: Path) -> None:
    cut = tmp_path / "cut.ami.gz"
    cut.write_bytes((FIXTURES / "load.ami.gz").read_bytes()[:60_000])
    proc = run_cli("demo", str(cut), "--fast")
    assert proc.returncode == 2
    assert "truncated gzip file" in last_error_line(proc.stderr, "demo")


def test_demo_gives_up_after_its_timeout(tmp_path: Path) -> None:
    """A capture cut before its banner: the simulator serves no banner, no login succeeds."""
    data = read_bytes(FIXTURES / "basic.ami")
    cut = tmp_path / "nobanner.ami"
    cut.write_bytes(data[data.index(b"Event: ") :])
    proc = run_cli("demo", str(cut), "--fast", "--timeout", "2", timeout=60)
    assert proc.returncode == 1
    line = last_error_line(proc.stderr, "demo")
    assert "gave up after 2s: the tracker could not log in to the simulator serving" in line


async def signal_after(
    args: list[str], marker: bytes, sig: signal.Signals
) -> tuple[int, str, bytes]:
    """Start ``ami-tracker ARGS``, send ``sig`` once a whole line with ``marker`` is on its
    stderr, and return its exit code, its whole stderr and the start of its stdout."""
    proc = await trio.lowlevel.open_process(
        [*CLI, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO, env=cli_env()
    )
    assert proc.stdout is not None and proc.stderr is not None
    err = bytearray()
    try:
        with trio.fail_after(60):
            while marker not in err or b"\n" not in err[err.index(marker) :]:
                chunk = await proc.stderr.receive_some(65536)
                assert chunk, err.decode()
                err.extend(chunk)
            proc.send_signal(sig)
            while chunk := await proc.stderr.receive_some(65536):
                err.extend(chunk)
            code = await proc.wait()
            out = bytes(await proc.stdout.receive_some(65536))
    finally:
        proc.kill()
        await proc.stdout.aclose()
        await proc.stderr.aclose()
    return code, err.decode(), out


async def test_demo_ctrl_c_is_one_line() -> None:
    args = ["demo", "--speed", "1"]
    code, err, _ = await signal_after(args, b"logged in and resynced", signal.SIGINT)
    assert code == 130
    assert last_error_line(err, "demo") == "ami-tracker demo: interrupted"


# -- watch ---------------------------------------------------------------------------------
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
async def test_watch_says_what_it_retries_and_stops_cleanly(sig: signal.Signals) -> None:
    port = free_port()
    code, text, out = await signal_after(["watch", "--ami", url(port)], b"(attempt 3;", sig)
    target = f"ami://{USER}:***@127.0.0.1:{port}"
    assert f"ami-tracker watch: retrying {target} in " in text
    assert "(attempt 2; Ctrl-C stops)" in text
    assert SECRET not in text
    assert code == 1
    assert last_error_line(text, "watch").startswith(
        f"ami-tracker watch: stopped before connecting to {target} ("
    )
    assert out == b""


async def test_watch_filters_calls_and_change_types() -> None:
    async with run_simulator(FIXTURES / "basic.ami", username=USER, secret=SECRET) as sim:
        calls = await _watch_until_ended(sim.port, "--calls")
        some = await _watch_until_ended(sim.port, "--changes", "CallStarted,CallEnded")
    assert [line.split()[3] for line in calls] == ["CallEnded"]
    assert sorted(line.split()[3] for line in some) == ["CallEnded", "CallStarted"]


async def _watch_until_ended(port: int, *options: str) -> list[str]:
    proc = await trio.lowlevel.open_process(
        [*CLI, "watch", "--ami", url(port), *options],
        stdout=subprocess.PIPE,
        cwd=REPO,
        env=cli_env(),
    )
    assert proc.stdout is not None
    out = bytearray()
    try:
        with trio.fail_after(60):
            while b"CallEnded" not in out:
                chunk = await proc.stdout.receive_some(65536)
                assert chunk
                out.extend(chunk)
            await trio.sleep(0.5)  # anything else that would (wrongly) be printed
            proc.send_signal(signal.SIGINT)
            while chunk := await proc.stdout.receive_some(65536):
                out.extend(chunk)
            assert await proc.wait() == 0
    finally:
        proc.kill()
        await proc.stdout.aclose()
    return out.decode().splitlines()


def test_watch_unknown_change_type() -> None:
    proc = run_cli("watch", "--ami", url(free_port()), "--changes", "CallEnded,Nope")
    assert proc.returncode == 2
    assert "unknown change type 'Nope'" in one_error_line(proc.stderr, "watch")
