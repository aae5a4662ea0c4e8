"""``ami-tracker report`` and ``ami-tracker calls --db`` on SQLite and PostgreSQL databases filled
with every fixture (one server per capture).

``calls --db URL --server NAME`` must print exactly what ``calls CAPTURE`` prints, in every format;
``report NAME --sql`` prints SQL that, run by hand, gives the rows the report shows.
"""

from __future__ import annotations

import csv
import functools
import io
import json
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from tests.helpers import FIXTURES
from tests.store.reporting_support import BACKENDS, CAPTURES, filled_database, url_of
from tracker.cli import main
from tracker.store.reports import REPORTS, Params, run_report

FORMATS = ("jsonl", "csv", "table")


@pytest.fixture(scope="session", params=BACKENDS)
def filled(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Engine:
    return filled_database(request, tmp_path_factory)


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else 1
    out, err = capsys.readouterr()
    return code, out, err


@functools.cache
def calls_of_capture(capture: str, fmt: str) -> str:
    import contextlib

    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        assert main(["calls", str(FIXTURES / capture), "--format", fmt]) == 0
    return buffer.getvalue()


@pytest.mark.parametrize("capture", CAPTURES)
def test_calls_from_the_database_print_what_the_capture_prints(
    filled: Engine, capture: str, capsys: pytest.CaptureFixture[str]
) -> None:
    for fmt in FORMATS:
        code, out, err = cli(
            capsys, "calls", "--db", url_of(filled), "--server", capture, "--format", fmt
        )
        assert (code, err) == (0, "")
        assert out == calls_of_capture(capture, fmt), fmt
    if capture != "md5_login.fail.ami":
        assert calls_of_capture(capture, "jsonl").count("\n") >= 1


def test_calls_from_the_database_over_a_time_range(
    filled: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    records = [json.loads(line) for line in calls_of_capture("load.ami.gz", "jsonl").splitlines()]
    cut = records[100]["start"]
    url = url_of(filled)
    _, before, _ = cli(capsys, "calls", "--db", url, "--server", "load.ami.gz", "--until", str(cut))
    _, after, _ = cli(capsys, "calls", "--db", url, "--server", "load.ami.gz", "--from", str(cut))
    assert [json.loads(line) for line in before.splitlines()] == records[:100]
    assert [json.loads(line) for line in after.splitlines()] == records[100:]


FILLED_REPORTS = sorted(set(REPORTS) - {"gaps"})
"""Reports with rows in the filled database (one import per server: no gap; test_gaps_report)."""


@pytest.mark.parametrize("name", FILLED_REPORTS)
def test_report_formats_show_the_query_rows(
    filled: Engine, name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with filled.connect() as conn:
        columns, rows = run_report(conn, name, Params(by="hour"))
    assert rows
    url = url_of(filled)
    code, out, err = cli(capsys, "report", name, "--db", url, "--by", "hour", "--format", "json")
    assert (code, err) == (0, "")
    assert json.loads(out) == [dict(zip(columns, r, strict=True)) for r in rows]
    _, out, _ = cli(capsys, "report", name, "--db", url, "--by", "hour", "--format", "csv")
    parsed = list(csv.reader(io.StringIO(out)))
    assert parsed[0] == columns
    assert len(parsed) == len(rows) + 1
    assert [c if c else None for c in parsed[1]][:2] == [str(rows[0][0]), rows[0][1]]
    _, out, _ = cli(capsys, "report", name, "--db", url, "--by", "hour")
    lines = out.splitlines()
    assert lines[0] == REPORTS[name].TITLE
    assert lines[1].split() == columns
    assert len(lines) == len(rows) + 2


@pytest.mark.parametrize("name", FILLED_REPORTS)
def test_report_sql_runs_by_hand(
    filled: Engine, name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The printed SQL (values filled in) gives the report's rows when run as plain text."""
    server = "confbridge.ami" if name == "conferences" else "load.ami.gz"
    start, until = "2026-11-26T00:00:00+00:00", "2026-11-27T00:00:00+01:00"
    args = ["--server", server, "--from", start, "--until", until, "--by", "day"]
    code, sql, _ = cli(capsys, "report", name, "--db", url_of(filled), "--sql", *args)
    assert code == 0
    assert sql.rstrip().endswith(";")
    params = Params(
        server=server,
        start=datetime.fromisoformat(start),
        until=datetime.fromisoformat(until),
        by="day",
    )
    with filled.connect() as conn:
        by_hand = [tuple(r) for r in conn.execute(text(sql.rstrip().rstrip(";")))]
        _, rows = run_report(conn, name, params)
    assert by_hand == [tuple(r) for r in rows]
    assert by_hand


def test_report_errors_are_one_line(
    filled: Engine, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = f"sqlite:///{tmp_path / 'empty.sqlite'}"
    for argv in (["report", "calls", "--db", empty], ["calls", "--db", empty]):
        code, out, err = cli(capsys, *argv)
        assert (code, out) == (1, "")
        assert err.count("\n") == 1 and err.startswith(f"ami-tracker {argv[0]}: ")
        assert "ami-tracker db upgrade" in err
    url = url_of(filled)
    for argv in (["report", "agents"], ["calls"]):
        code, out, err = cli(capsys, *argv, "--db", url, "--server", "nosuch")
        assert (code, out) == (1, "")
        assert err.count("\n") == 1 and "nosuch" in err and "queue.ami" in err
    code, _, err = cli(capsys, "report", "calls", "--db", empty, "--from", "yesterday-ish")
    assert code == 2 and "yesterday-ish" in err
    code, _, err = cli(capsys, "report", "calls", "--db", "nosuchdb://x")
    assert code == 1 and err.count("\n") == 1
    code, _, err = cli(capsys, "calls", "--db", url, str(FIXTURES / "basic.ami"))
    assert code == 2 and err.count("\n") == 1


def test_cli_import_writes_the_reporting_rows(
    store_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """``import`` (the live persister's path minus the socket) fills the reporting tables: the
    calls read back are the capture's, and the reports see them."""
    paths = [str(FIXTURES / "queue.ami"), str(FIXTURES / "park.ami")]
    assert cli(capsys, "import", *paths, "--db", store_url, "--server", "pbx", "--quiet")[0] == 0
    code, from_db, err = cli(capsys, "calls", "--db", store_url, "--server", "pbx")
    assert (code, err) == (0, "")
    _, from_files, _ = cli(capsys, "calls", *paths)
    assert from_db == from_files and from_db.count("\n") >= 8
    code, out, _ = cli(capsys, "report", "queues", "--db", store_url, "--format", "json")
    assert code == 0
    assert {r["queue"]: r["offered"] for r in json.loads(out)} == {"sales": 3, "support": 2}
    # importing again adds no frame, hence no reporting row
    assert cli(capsys, "import", *paths, "--db", store_url, "--server", "pbx", "--quiet")[0] == 0
    assert cli(capsys, "calls", "--db", store_url)[1] == from_files
