"""What people and scripts read: tables, csv, jsonl, replay's text and JSON; unknown durations."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import FIXTURES
from tracker.capture import read_bytes
from tracker.cli import main
from tracker.cli.calls import TABLE_COLUMNS

from ._support import run_cli

NO_STAMPS = "durations are unknown: the capture has no Timestamp headers"


def _out(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert main(list(argv)) == 0
    return capsys.readouterr().out


def _jsonl(capsys: pytest.CaptureFixture[str], *captures: Path) -> list[dict[str, Any]]:
    out = _out(capsys, "calls", *map(str, captures))
    return [json.loads(line) for line in out.splitlines()]


def test_calls_come_in_start_order(capsys: pytest.CaptureFixture[str]) -> None:
    records = _jsonl(capsys, FIXTURES / "load.ami.gz")
    starts = [r["start"] for r in records]
    assert len(records) > 100
    assert starts == sorted(starts)
    ends = [r["end"] for r in records]
    assert ends != sorted(ends)  # the fold ends them in another order: sorting is not a no-op


def test_table_piped_is_plain_with_local_times() -> None:
    capture = str(FIXTURES / "queue.ami")
    jsonl = run_cli("calls", capture, TZ="UTC")
    records = [json.loads(line) for line in jsonl.stdout.splitlines()]
    proc = run_cli("calls", capture, "--format", "table", TZ="UTC")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert "\x1b" not in proc.stdout
    assert all(line == line.rstrip() for line in lines)
    assert lines[0].split() == list(TABLE_COLUMNS)
    assert len(lines) == 1 + len(records)
    for line, rec in zip(lines[1:], records, strict=True):
        start = datetime.fromtimestamp(rec["start"], tz=UTC).strftime("%Y-%m-%d %H:%M:%S")
        assert line.split()[0] == rec["linkedid"]
        assert start in line
        assert re.search(rf"\b{rec['duration']:.1f}\b", line)
        assert not re.search(r"\b17\d{8}\.\d{3,}", line)  # no epoch floats


def test_csv_carries_every_jsonl_field(capsys: pytest.CaptureFixture[str]) -> None:
    captures = [FIXTURES / n for n in ("queue.ami", "transfers.ami", "park.ami")]
    records = _jsonl(capsys, *captures)
    rows = list(
        csv.DictReader(io.StringIO(_out(capsys, "calls", *map(str, captures), "--format", "csv")))
    )
    assert len(rows) == len(records) > 0
    for rec, row in zip(records, rows, strict=True):
        columns = set(row)
        for key, value in rec.items():
            if key in ("caller", "callee"):
                for field, v in value.items():
                    assert row[f"{key}_{field}"] == v
                continue
            assert key in columns, key
            cell = row[key]
            if value is None:
                assert cell == ""
            elif isinstance(value, bool):
                assert cell == str(value).lower()
            elif isinstance(value, float | int):
                assert float(cell) == value
            elif key == "legs":
                assert cell.split() == value
            elif isinstance(value, list | dict):
                assert (json.loads(cell) if cell else type(value)()) == value
            else:
                assert cell == value
    assert any(r["queue"] for r in rows) and any(r["transfers"] for r in rows)
    assert any(r["parked"] for r in rows)


def test_replay_json_carries_what_the_text_shows(capsys: pytest.CaptureFixture[str]) -> None:
    args = ("replay", str(FIXTURES / "basic.ami"), "--until", "1795663836")
    text = _out(capsys, *args)
    data = json.loads(_out(capsys, *args, "--json"))
    shown = dict(line.split(None, 1) for line in text.splitlines() if re.match(r"^\w+ {2,}", line))
    assert set(shown) == set(data) - {"active_calls", "anomaly_kinds"}
    assert int(shown["frames"]) == data["frames"] == 83
    assert "events" not in data
    (call,) = data["active_calls"]
    assert call["answered"] is True
    assert f"  {call['linkedid']} {call['caller']} (answered): {', '.join(call['legs'])}" in text
    assert "Local/100@phones-00000000;1" in call["legs"]


def test_replay_json_anomaly_kinds(capsys: pytest.CaptureFixture[str]) -> None:
    data = json.loads(_out(capsys, "replay", str(FIXTURES / "queue.ami"), "--json"))
    assert sum(data["anomaly_kinds"].values()) == data["anomalies"]
    text = _out(capsys, "replay", str(FIXTURES / "queue.ami"))
    for kind, n in data["anomaly_kinds"].items():
        assert f"{kind} {n}" in text


@pytest.fixture
def unstamped(tmp_path: Path) -> Path:
    """basic.ami as Asterisk writes it with ``timestampevents = no``."""
    path = tmp_path / "unstamped.ami"
    path.write_bytes(re.sub(rb"Timestamp: [0-9.]+\r\n", b"", read_bytes(FIXTURES / "basic.ami")))
    return path


def test_capture_without_timestamps_says_durations_are_unknown(
    capsys: pytest.CaptureFixture[str], unstamped: Path
) -> None:
    assert main(["calls", str(unstamped)]) == 0
    captured = capsys.readouterr()
    assert captured.err.startswith(f"ami-tracker calls: {NO_STAMPS}")
    (record,) = [json.loads(line) for line in captured.out.splitlines()]
    assert record["durations_known"] is False
    assert main(["replay", str(unstamped), "--json"]) == 0
    captured = capsys.readouterr()
    assert NO_STAMPS in captured.err
    assert json.loads(captured.out)["durations_known"] is False
    table = _out(capsys, "calls", str(unstamped), "--format", "table")
    assert table.splitlines()[1].split()[1:4] == ["?", "?", "?"]


def test_capture_with_timestamps_says_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["calls", str(FIXTURES / "basic.ami")]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    assert json.loads(captured.out)["durations_known"] is True
