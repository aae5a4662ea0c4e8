"""``ami-tracker demo`` and ``ami-tracker watch`` as real subprocesses on loopback."""

from __future__ import annotations

import csv
import json
import signal
import subprocess
import sys

import trio

from tests.cli._support import cli_env
from tests.helpers import FIXTURES
from tracker.cli import SUBCOMMANDS
from tracker.runtime import run_simulator

from ._support import HOST, SECRET, USER

REPO = FIXTURES.parent
CLI = [sys.executable, "-m", "tracker"]


def _linkedids(cdr: str) -> set[str]:
    """Distinct linkedids in Asterisk's own CDR file (column 19): the ground truth."""
    with (FIXTURES / cdr).open(newline="") as f:
        return {row[18] for row in csv.reader(f)}


def test_live_subcommands_are_registered() -> None:
    assert {"watch", "demo"} <= set(SUBCOMMANDS)


async def test_demo_ends_by_itself_with_every_call_of_the_capture() -> None:
    linkedids = _linkedids("load.cdr.csv")
    with trio.fail_after(60):
        done = await trio.run_process(
            [*CLI, "demo", "--fast"],
            capture_stdout=True,
            capture_stderr=True,
            check=False,
            cwd=REPO,
            env=cli_env(),
        )
    assert done.returncode == 0, done.stderr.decode()
    lines = done.stdout.decode().splitlines()
    final = json.loads(lines[-1])
    replayed = await trio.run_process(
        [*CLI, "replay", "--json", str(FIXTURES / "basic.ami")],
        capture_stdout=True,
        cwd=REPO,
        env=cli_env(),
    )
    replay_keys = json.loads(replayed.stdout).keys()
    assert final.keys() == replay_keys
    assert final["calls_ended"] == len(linkedids)
    assert final["channels"] == final["calls_active"] == final["bridges"] == 0
    rows = [line.split()[0] for line in lines[1:-1]]  # header, one row per ended call, summary
    assert lines[0].split()[0] == "LINKEDID"
    assert set(rows) == linkedids and len(rows) == len(linkedids)


async def test_demo_missing_capture_is_reported() -> None:
    done = await trio.run_process(
        [*CLI, "demo", "no-such-capture.ami", "--fast"],
        capture_stdout=True,
        capture_stderr=True,
        check=False,
        cwd=REPO,
        env=cli_env(),
    )
    assert done.returncode == 2
    assert b"capture not found" in done.stderr


async def test_watch_json_lines_and_clean_logoff_on_sigint() -> None:
    """Secret from ``AMI_SECRET``; every stdout line is JSON; Ctrl-C logs off cleanly."""
    out = bytearray()
    with trio.fail_after(30):
        async with run_simulator(FIXTURES / "basic.ami", username=USER, secret=SECRET) as sim:
            proc = await trio.lowlevel.open_process(
                [*CLI, "watch", "--ami", f"ami://{USER}@{HOST}:{sim.port}", "--json"],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                cwd=REPO,
                env=cli_env(AMI_SECRET=SECRET),
            )
            assert proc.stdout is not None and proc.stderr is not None
            err = bytearray()
            async with trio.open_nursery() as nursery:
                synced = trio.Event()

                async def drain_err() -> None:
                    assert proc.stderr is not None
                    while chunk := await proc.stderr.receive_some(65536):
                        err.extend(chunk)
                        if b"synced: " in err:
                            synced.set()

                nursery.start_soon(drain_err)
                while b'"CallEnded"' not in out:  # the capture's one call has ended
                    chunk = await proc.stdout.receive_some(65536)
                    assert chunk, err.decode()
                    out.extend(chunk)
                await synced.wait()  # the resync was answered (Errors: basic.ami has no lists)
                proc.send_signal(signal.SIGINT)
                while chunk := await proc.stdout.receive_some(65536):
                    out.extend(chunk)
                returncode = await proc.wait()
            await sim.sessions[0].done.wait()
    assert returncode == 0, err.decode()
    assert SECRET.encode() not in out + err
    records = [json.loads(line) for line in out.decode().splitlines()]
    types = [r["type"] for r in records]
    assert types[0] == "SessionBegan"
    assert b"1 resyncs" in err
    ended = [r for r in records if r["type"] == "CallEnded"]
    assert len(ended) == 1
    linkedids = _linkedids("basic.cdr.csv")
    assert {ended[0]["record"]["linkedid"]} == linkedids
    assert sim.sessions[0].actions[-1] == "Logoff"
    assert sim.sessions[0].reason == "logoff"
