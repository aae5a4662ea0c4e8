"""``watch``/``demo`` options of the live Tracker (``--reconcile-interval``,
``--first-connect-timeout``) and ``watch`` against a server that closes at the end: real
subprocesses over loopback TCP to the project's simulator."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Callable

import pytest
import trio

from tests.helpers import FIXTURES
from tests.runtime._support import SECRET, USER, free_port, url
from tracker.cli import build_parser
from tracker.cli._common import RECONCILE_INTERVAL
from tracker.runtime import AmiSimulator, run_simulator
from tracker.runtime import tracker as live

from ._support import CLI, REPO, cli_env, last_error_line, main_fails, run_cli


def test_the_cli_default_is_the_trackers() -> None:
    assert RECONCILE_INTERVAL == live.RECONCILE_INTERVAL
    args = build_parser().parse_args(["watch", "--ami", "ami://u:s@h"])
    assert args.reconcile_interval == live.RECONCILE_INTERVAL
    assert args.first_connect_timeout is None  # watch retries until stopped by default
    args = build_parser().parse_args(["demo", "--reconcile-interval", "0"])
    assert args.reconcile_interval == 0


@pytest.mark.parametrize(
    "argv",
    [
        ["watch", "--ami", "ami://u:s@h", "--reconcile-interval", "-1"],
        ["watch", "--ami", "ami://u:s@h", "--reconcile-interval", "inf"],
        ["watch", "--ami", "ami://u:s@h", "--first-connect-timeout", "0"],
        ["demo", "--reconcile-interval", "soon"],
    ],
)
def test_bad_values_are_one_line_usage_errors(
    capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    code, line = main_fails(capsys, *argv)
    assert code == 2
    assert "--reconcile-interval" in line or "--first-connect-timeout" in line


def test_watch_gives_up_after_first_connect_timeout_and_says_why() -> None:
    port = free_port()
    done = run_cli("watch", "--ami", url(port), "--first-connect-timeout", "0.5", timeout=30)
    assert done.returncode == 1, done.stderr
    line = last_error_line(done.stderr, "watch")
    target = f"ami://{USER}:***@127.0.0.1:{port}"
    assert line.startswith(f"ami-tracker watch: no AMI session with {target} within 0.5s ("), line
    assert line.endswith(": connection refused)"), line
    assert SECRET not in done.stderr


async def _watch_until(
    sim: AmiSimulator, options: list[str], ready: Callable[[bytes], bool]
) -> tuple[int, bytes]:
    """Run ``watch`` on ``sim``; SIGINT once ``ready(stderr so far)``; exit code, stderr."""
    proc = await trio.lowlevel.open_process(
        [*CLI, "watch", "--ami", url(sim.port), *options],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        cwd=REPO,
        env=cli_env(),
    )
    assert proc.stderr is not None
    err = bytearray()
    try:
        with trio.fail_after(60):
            while not ready(bytes(err)):
                with trio.move_on_after(0.05):
                    chunk = await proc.stderr.receive_some(65536)
                    assert chunk, err.decode()
                    err.extend(chunk)
            proc.send_signal(signal.SIGINT)
            while chunk := await proc.stderr.receive_some(65536):
                err.extend(chunk)
            code = await proc.wait()
    finally:
        proc.kill()
        await proc.stderr.aclose()
    return code, bytes(err)


async def test_watch_reconciles_every_interval() -> None:
    async with run_simulator(FIXTURES / "basic.ami", username=USER, secret=SECRET) as sim:

        def asked_thrice(_: bytes) -> bool:
            return bool(sim.sessions) and sim.sessions[0].actions.count("CoreShowChannels") >= 3

        code, err = await _watch_until(sim, ["--reconcile-interval", "0.2"], asked_thrice)
    assert code == 0, err.decode()
    assert len(sim.sessions) == 1  # one session: the resync, then the periodic ones


async def test_watch_reconnects_to_a_server_that_closes_at_the_end() -> None:
    """Each session ends when the capture is sent: watch says it retries and reconnects
    (it used to stop with ``connection is closed``), and Ctrl-C still ends it cleanly."""
    async with run_simulator(
        FIXTURES / "basic.ami", username=USER, secret=SECRET, close_at_end=True
    ) as sim:

        def reconnected(err: bytes) -> bool:
            return len(sim.sessions) >= 3 and b"retrying" in err

        code, err = await _watch_until(sim, ["--reconcile-interval", "0"], reconnected)
    text = err.decode()
    assert code == 0, text
    assert "connection is closed" not in text
    assert "Traceback" not in text
    assert f"ami-tracker watch: retrying ami://{USER}:***@" in text
    assert SECRET not in text
