"""``ami-tracker run`` as a real process: two simulated servers, JSON logs, metrics, SIGTERM."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import trio

from tests.helpers import FIXTURES
from tracker.cli import SUBCOMMANDS
from tracker.runtime import run_simulator

from ._support import HOST, SECRET, USER
from .test_service import free_port, http_get, samples

REPO = FIXTURES.parent
CLI = [sys.executable, "-m", "tracker"]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AMI_TRACKER_")}
    env["PYTHONPATH"] = str(REPO)
    env.update(extra)
    return env


async def _cli(*args: str, **env: str) -> subprocess.CompletedProcess[bytes]:
    with trio.fail_after(30):
        return await trio.run_process(
            [*CLI, *args],
            capture_stdout=True,
            capture_stderr=True,
            check=False,
            cwd=REPO,
            env=_env(**env),
        )


def test_commands_are_registered() -> None:
    assert {"run", "top"} <= set(SUBCOMMANDS)


class Process:
    """A running ``ami-tracker run`` whose stderr (log lines) is read as it comes."""

    def __init__(self, proc: trio.Process) -> None:
        self.proc = proc
        self.err = bytearray()
        self.changed = trio.Event()

    @classmethod
    async def start(cls, *args: str, **env: str) -> Process:
        proc = await trio.lowlevel.open_process(
            [*CLI, "run", *args],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            cwd=REPO,
            env=_env(**env),
        )
        return cls(proc)

    async def drain(self) -> None:
        assert self.proc.stderr is not None
        while chunk := await self.proc.stderr.receive_some(65536):
            self.err.extend(chunk)
            self.changed.set()
            self.changed = trio.Event()

    def records(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.err.decode().splitlines()]

    async def wait_for(self, pattern: str) -> re.Match[str]:
        while True:
            found = re.search(pattern, self.err.decode())
            if found is not None:
                return found
            assert self.proc.returncode is None, self.err.decode()
            await self.changed.wait()


async def test_two_servers_json_logs_metrics_and_sigterm() -> None:
    with trio.fail_after(60):
        async with (
            run_simulator(FIXTURES / "load.ami.gz", username=USER, secret=SECRET) as a,
            run_simulator(FIXTURES / "queue.ami", username=USER, secret=SECRET) as b,
        ):
            run = await Process.start(
                *("--ami", f"ami://{USER}@{HOST}:{a.port}", "--name", "pbx-a"),
                *("--ami", f"ami://{USER}@{HOST}:{b.port}", "--name", "pbx-b"),
                *("--metrics", f"{HOST}:0", "--log-format", "json"),
                AMI_TRACKER_SECRET=SECRET,
            )
            proc = run.proc
            async with trio.open_nursery() as nursery:
                nursery.start_soon(run.drain)
                port = int((await run.wait_for(r"metrics on http://[^:]+:(\d+)/")).group(1))
                await run.wait_for(r'"server": "pbx-a", "message": "resynced: ')
                await run.wait_for(r'"server": "pbx-b", "message": "resynced: ')
                status, body = await http_get(port, "/metrics")
                proc.send_signal(signal.SIGTERM)
                returncode = await proc.wait()
            for sim in (a, b):
                await sim.sessions[0].done.wait()
    assert returncode == 0, run.err.decode()
    assert status == 200
    frames = samples(body.decode(), "ami_tracker_frames_received_total")
    assert set(frames) == {"pbx-a", "pbx-b"} and min(frames.values()) > 0
    records = run.records()  # every line is one JSON object
    assert SECRET not in run.err.decode()
    assert {r["level"] for r in records} <= {"info", "warning"}
    said = [(r["server"], r["message"]) for r in records]
    for name, sim in (("pbx-a", a), ("pbx-b", b)):
        target = f"ami://{USER}:***@{HOST}:{sim.port}"
        assert (name, f"connected to {target}") in said
        assert (name, f"logged in to {target}") in said
        assert sim.sessions[0].actions[-1] == "Logoff"
    assert any(m == "SIGTERM received: stopping" for _, m in said)
    assert said[-1][1].startswith("stopped pbx-b: ")
    assert said[-2][1].startswith("stopped pbx-a: ")


async def test_text_logs_and_secret_file(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text(SECRET + "\n")
    with trio.fail_after(30):
        async with run_simulator(FIXTURES / "basic.ami", username=USER, secret=SECRET) as sim:
            run = await Process.start(
                *("--ami", f"ami://{USER}@{HOST}:{sim.port}", "--secret-file", f"{secret}")
            )
            proc = run.proc
            async with trio.open_nursery() as nursery:
                nursery.start_soon(run.drain)
                await run.wait_for(r"\[127\.0\.0\.1\] resynced: ")
                proc.send_signal(signal.SIGINT)
                returncode = await proc.wait()
    text = run.err.decode()
    assert returncode == 0, text
    assert SECRET not in text
    line = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (INFO|WARNING) (\[\S+\] )?\S")
    assert all(line.match(x) for x in text.splitlines()), text
    assert text.splitlines()[-1].split(" ", 2)[2].startswith("stopped 127.0.0.1: ")


async def test_wrong_secret_exits_78_with_one_line() -> None:
    with trio.fail_after(30):
        async with run_simulator(FIXTURES / "basic.ami", username=USER, secret=SECRET) as sim:
            done = await _cli(
                "run", "--ami", f"ami://{USER}@{HOST}:{sim.port}", AMI_TRACKER_SECRET="wrong-one"
            )
    err = done.stderr.decode()
    assert done.returncode == 78, err
    assert "Traceback" not in err and "wrong-one" not in err
    last = err.splitlines()[-1]
    assert last == (
        f"ami-tracker run: login as '{USER}' on {HOST}:{sim.port} refused: Authentication failed"
    )
    assert len(sim.sessions) == 1


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        ((), {}, "no AMI server: give --ami URL"),
        (("--ami", "ami://u@h"), {}, "server 'h' has no secret"),
        (("--ami", "http://u@h"), {"AMI_TRACKER_SECRET": "s"}, "must start with ami://"),
        (("--ami", "ami://u@h", "--metrics", "9105"), {"AMI_TRACKER_SECRET": "s"}, "HOST:PORT"),
        (("--config", "/nonexistent.toml"), {}, "cannot read config file /nonexistent.toml"),
        (("--ami", "ami://u@h"), {"AMI_TRACKER_KEEPALIVE": "x", "AMI_TRACKER_SECRET": "s"}, "KEEP"),
    ],
)
async def test_mistakes_give_one_line_and_exit_2(
    args: tuple[str, ...], env: dict[str, str], message: str
) -> None:
    done = await _cli("run", *args, **env)
    err = done.stderr.decode()
    assert done.returncode == 2, err
    assert "Traceback" not in err
    assert message in err.splitlines()[-1]
    assert err.splitlines()[-1].startswith("ami-tracker run: ")


async def test_unusable_database_is_one_line_and_exit_1() -> None:
    done = await _cli(
        *("run", "--ami", "ami://u@127.0.0.1:1", "--db", "sqlite:////nonexistent/dir/x.db"),
        AMI_TRACKER_SECRET="s",
    )
    err = done.stderr.decode()
    assert done.returncode == 1, err
    assert "Traceback" not in err
    assert err.splitlines()[-1] == (
        "ami-tracker run: cannot open the SQLite file (missing directory?) "
        "(sqlite:////nonexistent/dir/x.db)"
    )


async def test_metrics_port_in_use_is_one_line() -> None:
    with trio.fail_after(30):
        async with run_simulator(FIXTURES / "basic.ami", username=USER, secret=SECRET) as sim:
            listeners = await trio.open_tcp_listeners(0, host=HOST)
            busy = listeners[0].socket.getsockname()[1]
            done = await _cli(
                "run",
                *("--ami", f"ami://{USER}@{HOST}:{sim.port}", "--metrics", f"{HOST}:{busy}"),
                AMI_TRACKER_SECRET=SECRET,
            )
            await listeners[0].aclose()
    err = done.stderr.decode()
    assert done.returncode == 2, err
    assert err.splitlines()[-1].startswith(f"ami-tracker run: cannot listen on {HOST}:{busy}: ")


@pytest.mark.parametrize("command", ["run", "top"])
async def test_help_has_an_example(command: str) -> None:
    done = await _cli(command, "--help")
    assert done.returncode == 0
    out = done.stdout.decode()
    assert "examples:" in out and f"ami-tracker {command} --" in out


async def test_unreachable_server_keeps_retrying_until_sigterm() -> None:
    port = free_port()
    with trio.fail_after(30):
        run = await Process.start(
            *("--ami", f"ami://{USER}@{HOST}:{port}", "--log-format", "json"),
            AMI_TRACKER_SECRET=SECRET,
            AMI_TRACKER_BACKOFF_INITIAL="0.2",
        )
        proc = run.proc
        async with trio.open_nursery() as nursery:
            nursery.start_soon(run.drain)
            await run.wait_for(r"reconnecting to .* in [\d.]+s(.|\n)*reconnecting to")
            proc.send_signal(signal.SIGTERM)
            returncode = await proc.wait()
    assert returncode == 0, run.err.decode()
    failures = [r for r in run.records() if r["level"] == "warning"]
    assert failures and all("cannot connect to" in r["message"] for r in failures)


async def test_wrong_secret_with_json_logs_stays_json() -> None:
    with trio.fail_after(30):
        async with run_simulator(FIXTURES / "basic.ami", username=USER, secret=SECRET) as sim:
            done = await _cli(
                *("run", "--ami", f"ami://{USER}@{HOST}:{sim.port}", "--log-format", "json"),
                *("--log-level", "warning"),
                AMI_TRACKER_SECRET="wrong-one",
            )
    assert done.returncode == 78
    records = [json.loads(line) for line in done.stderr.decode().splitlines()]
    assert {r["level"] for r in records} == {"error"}  # no info lines at --log-level warning
    assert records[-1]["level"] == "error"
    assert records[-1]["message"] == (
        f"ami-tracker run: login as '{USER}' on {HOST}:{sim.port} refused: Authentication failed"
    )


async def test_top_once_prints_one_snapshot_when_piped() -> None:
    with trio.fail_after(30):
        async with run_simulator(FIXTURES / "queue.ami", username=USER, secret=SECRET) as sim:
            done = await _cli(
                *("top", "--ami", f"ami://{USER}@{HOST}:{sim.port}", "--name", "lab", "--once"),
                AMI_TRACKER_SECRET=SECRET,
            )
            await sim.sessions[0].done.wait()
    out = done.stdout.decode()
    assert done.returncode == 0, done.stderr.decode()
    lines = out.splitlines()
    assert lines[0].startswith(f"lab ami://{USER}:***@{HOST}:{sim.port} live | ")
    assert "\x1b" not in out and all(line == line.rstrip() for line in lines)
    # what the queues hold depends on how far the stream got by then (rendering is unit-tested)
    assert any(re.match(r" +Calls \(\d+ active\)$", line) for line in lines), out
    assert any(re.match(r" +sales +\d+", line) for line in lines), out
    assert sim.sessions[0].actions[-1] == "Logoff"


async def test_top_live_view_needs_a_terminal() -> None:
    done = await _cli("top", "--ami", "ami://u@h", AMI_TRACKER_SECRET="s")
    assert done.returncode == 2
    assert done.stderr.decode().splitlines() == [
        "ami-tracker top: the live view needs a terminal; use --once for one snapshot, "
        "or ami-tracker watch for a stream of changes"
    ]
