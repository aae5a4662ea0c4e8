"""``ami-tracker demo`` and ``ami-tracker watch`` as real subprocesses on loopback."""

from __future__ import annotations

import csv
import json
import signal
import subprocess
import sys
from pathlib import Path

import trio

from tests.cli._support import cli_env
from tests.helpers import FIXTURES
from tracker.cli import SUBCOMMANDS
from tracker.runtime import run_simulator
from tracker.store import load_call_records, open_store

from ._support import HOST, SECRET, USER

REPO = FIXTURES.parent
CLI = [sys.executable, "-m", "tracker"]


def _linkedids(cdr: str) -> set[str]:
    """Distinct linkedids in Asterisk's own CDR file (column 19): the ground truth."""
    with (FIXTURES / cdr).open(newline="") as f:
        return {row[18] for row in csv.reader(f)}


def test_live_subcommands_are_registered() -> None:
    assert {"watch", "demo"} <= set(SUBCOMMANDS)


async def _demo(*args: str, cwd: Path = REPO) -> tuple[list[str], str]:
    with trio.fail_after(90):
        done = await trio.run_process(
            [*CLI, "demo", *args],
            capture_stdout=True,
            capture_stderr=True,
            check=False,
            cwd=cwd,
            env=cli_env(TZ="UTC"),
        )
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout.decode().splitlines(), done.stderr.decode()


async def test_demo_stores_every_call_of_the_capture_and_prints_the_reports(
    tmp_path: Path,
) -> None:
    """The service path end to end: simulator over TCP, tracker, persister into SQLite; the
    reports printed are the database's, and its call records are Asterisk's own CDR calls."""
    linkedids = _linkedids("load.cdr.csv")
    db = f"sqlite:///{tmp_path / 'demo.sqlite'}"
    lines, err = await _demo("--fast", "--db", db)
    assert "logged in and resynced" in err
    assert f"{len(linkedids)} calls ended, 1 session(s), 1 resync(s)" in err
    with open_store(db) as store:
        records = load_call_records(store, server="demo")
        log = store.server("demo")
        assert store.latest_snapshot_seq(log.id) == log.next_seq - 1  # the final snapshot
    assert sorted(r.linkedid for r in records) == sorted(linkedids)
    text = "\n".join(lines)
    for name in ("calls", "queues"):
        report = await trio.run_process(
            [*CLI, "report", name, "--db", db], capture_stdout=True, cwd=REPO, env=cli_env()
        )
        assert report.stdout.decode().strip() in text
    calls_row = lines[lines.index("Calls") + 2].split()
    assert calls_row[:2] == ["demo", str(len(linkedids))]
    assert lines[-6] == f"database: {db}"
    replay = next(line for line in lines if " replay --db " in line).split()
    at = await trio.run_process(
        [*CLI, *replay[1:], "--json"], capture_stdout=True, cwd=REPO, env=cli_env()
    )
    assert 0 < json.loads(at.stdout)["calls_ended"] < len(linkedids)  # a moment mid-capture


def _demo_files(directory: Path) -> list[Path]:
    return sorted(directory.glob("ami-tracker-demo-*.sqlite"))


async def test_demo_by_default_writes_a_fresh_file_in_the_current_directory(
    tmp_path: Path,
) -> None:
    capture = str(FIXTURES / "queue.ami")
    first, _ = await _demo(capture, "--fast", cwd=tmp_path)
    second, _ = await _demo(capture, "--fast", cwd=tmp_path)
    files = _demo_files(tmp_path)
    assert len(files) == 2  # never the same file twice
    assert {first[-6], second[-6]} == {f"database: {f}" for f in files}
    for path in files:
        with open_store(f"sqlite:///{path}") as store:
            assert store.server("demo").next_seq > 0


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
