"""``top --db`` without a terminal: ``--once`` prints the switchboard at the end of the log;
which server, an empty or old database, and option mistakes are one line; the status line's
reading of the writer's state (``follow_state``)."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Any

import pytest
from rich.console import Console

from tests.helpers import FIXTURES
from tracker.cli import main
from tracker.cli.switchboard import Status, render
from tracker.cli.top_db import STALE_AFTER, follow_state
from tracker.replay import import_capture
from tracker.store import WriterState, open_store

from .test_top_db_pty import board


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["top", *argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_once_prints_the_world_at_the_end_of_the_log(
    capsys: pytest.CaptureFixture[str], store_url: str
) -> None:
    with open_store(store_url) as store:
        import_capture(store, FIXTURES / "queue.ami", server="pbx1")
        import_capture(store, FIXTURES / "park.ami", server="pbx2")
        at = store.world_at("pbx2")
    code, out, err = run(capsys, "--db", store_url, "--server", "pbx2", "--once")
    assert (code, err) == (0, "")
    status = " ".join(out[: out.find("Calls (")].split())  # wrapped at 120 columns
    assert status.startswith("pbx2 ") and " imported | " in status
    assert f"| {at.seq + 1:,} frames |" in status
    console = Console(file=io.StringIO(), width=120, record=True, color_system=None)
    console.print(render(at.world, Status(server="pbx2"), now=at.world.clock))
    assert board(out) == board(console.export_text())

    code, out, err = run(capsys, "--db", store_url, "--once")
    assert (code, out) == (1, "")
    assert err == (
        f"ami-tracker top: {store_url} holds several servers (pbx1, pbx2): pick one with --server\n"
    ).replace(store_url, _redacted(store_url))
    code, _, err = run(capsys, "--db", store_url, "--server", "pbx9", "--once")
    assert code == 1 and err.count("\n") == 1 and "(known: pbx1, pbx2)" in err


def _redacted(url: str) -> str:
    from tracker.store import redact

    return redact(url)


def test_empty_and_old_databases(capsys: pytest.CaptureFixture[str], db_url: str) -> None:
    code, _, err = run(capsys, "--db", db_url, "--once")
    assert code == 1
    assert err.startswith("ami-tracker top: the database has no ami-tracker schema")
    assert "ami-tracker db upgrade" in err and err.count("\n") == 1
    assert main(["db", "upgrade", "--db", db_url]) == 0
    capsys.readouterr()
    code, _, err = run(capsys, "--db", db_url, "--once")
    assert code == 1 and "holds no server yet" in err and err.count("\n") == 1


def test_option_mistakes(capsys: pytest.CaptureFixture[str]) -> None:
    url = "sqlite:///nowhere.sqlite"
    code, _, err = run(capsys, "--db", url, "--ami", "ami://u@h", "--once")
    assert (code, err) == (2, "ami-tracker top: --ami cannot go with --db (use --server NAME)\n")
    code, _, err = run(capsys, "--ami", "ami://u@h", "--server", "pbx", "--once")
    assert code == 2 and "--server goes with --db" in err
    code, _, err = run(capsys, "--db", url)  # not a terminal, live view asked
    assert code == 2 and "the live view needs a terminal; use --once" in err
    with pytest.raises(SystemExit) as exited:
        main(["top", "--db", url, "--poll", "0"])
    assert exited.value.code == 2
    assert "argument --poll: must be a positive number of seconds" in capsys.readouterr().err


def _writer(**changes: Any) -> WriterState:
    state = WriterState(
        next_seq=100,
        sessions=1,
        source="live",
        connected_at=datetime(2026, 11, 29, 10, 0, tzinfo=UTC),
        resyncing=False,
        disconnected_at=None,
        disconnect_reason=None,
        holder="pid 7 on pbxhost",
        heartbeat_age=3.0,
        holder_gone=False,
    )
    return state._replace(**changes)


def test_follow_state() -> None:
    assert follow_state(None, 0.0)[0] == "waiting"
    assert follow_state(_writer(source=None), 0.0) == (
        "waiting",
        "pid 7 on pbxhost is connecting to Asterisk",
    )
    assert follow_state(_writer(source=None, holder=None), 0.0) == (
        "waiting",
        "no tracker writing",
    )
    assert follow_state(_writer(source="import"), 99.0)[0] == "imported"
    assert follow_state(_writer(), 0.5) == ("live", "")
    assert follow_state(_writer(), 12.0) == ("live", "no new frame for 12s")
    assert follow_state(_writer(resyncing=True), 0.0)[0] == "resyncing"
    assert follow_state(_writer(), STALE_AFTER) == ("stale", "no new frame for 60s")
    assert follow_state(_writer(), 600.0) == ("stale", "no new frame for 10 min")
    state, detail = follow_state(_writer(holder_gone=True), 1.0)
    assert state == "stale" and detail == "the writer (pid 7 on pbxhost) has exited"
    state, detail = follow_state(_writer(heartbeat_age=90.0), 1.0)
    assert state == "stale" and "is silent for 90s" in detail
    gone = datetime(2026, 11, 29, 10, 5, tzinfo=UTC)
    state, detail = follow_state(
        _writer(disconnected_at=gone, disconnect_reason="connection lost", holder=None), 30.0
    )
    assert state == "disconnected"
    local = gone.astimezone().strftime("%Y-%m-%d %H:%M:%S")
    assert detail == f"since {local} (connection lost), no tracker writing"
    state, detail = follow_state(_writer(disconnected_at=gone, disconnect_reason="x"), 30.0)
    assert (state, detail) == ("disconnected", f"since {local} (x), the tracker retries")
