"""``ami-tracker replay`` and ``ami-tracker calls`` against the CDR ground truth."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import FIXTURES
from tracker.cli import main

ROOT = Path(__file__).resolve().parent.parent


def cdr_rows(name: str) -> list[list[str]]:
    with (FIXTURES / f"{name}.cdr.csv").open(encoding="latin-1", newline="") as f:
        return list(csv.reader(f))


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert main(list(argv)) == 0
    return capsys.readouterr().out


def test_replay_json_counts(capsys: pytest.CaptureFixture[str]) -> None:
    out = run(capsys, "replay", str(FIXTURES / "queue.ami"), "--json")
    data = json.loads(out)
    assert data["calls_ended"] == len({r[18] for r in cdr_rows("queue")})
    for key in ("channels", "bridges", "calls_active", "queue_callers", "parked_calls"):
        assert data[key] == 0
    assert data["conference_participants"] == 0
    assert data["anomalies"] >= 0


def test_replay_json_until_mid_call(capsys: pytest.CaptureFixture[str]) -> None:
    rows = cdr_rows("lists")
    spans: dict[str, tuple[float, float]] = {}
    for r in rows:
        start, end = spans.get(r[18], (float(r[21]), float(r[23])))
        spans[r[18]] = (min(start, float(r[21])), max(end, float(r[23])))
    cut = min(end for _, end in spans.values()) - 0.01  # just before the first call ends
    out = run(capsys, "replay", str(FIXTURES / "lists.ami"), "--json", "--until", str(cut))
    data = json.loads(out)
    assert data["calls_active"] == sum(1 for start, _ in spans.values() if start <= cut)
    assert data["calls_ended"] == 0
    with (FIXTURES / "lists.cel.csv").open(encoding="latin-1", newline="") as f:
        cel = list(csv.reader(f))
    up = {r[15] for r in cel if r[0] == "CHAN_START" and float(r[1]) <= cut}
    down = {r[15] for r in cel if r[0] == "CHAN_END" and float(r[1]) <= cut}
    assert data["channels"] == len(up - down)
    assert data["queue_callers"] == 1  # a caller waits in 'support'
    assert data["conference_participants"] == 2
    assert data["parked_calls"] == 1


def test_replay_text(capsys: pytest.CaptureFixture[str]) -> None:
    out = run(capsys, "replay", str(FIXTURES / "basic.ami"), "--until", "1795663836")
    assert "calls_active             1" in out
    assert "Local/100@phones-00000000;1" in out


def test_calls_jsonl_matches_cdr(capsys: pytest.CaptureFixture[str]) -> None:
    out = run(capsys, "calls", str(FIXTURES / "unanswered.ami"), str(FIXTURES / "transfers.ami"))
    records = [json.loads(line) for line in out.splitlines()]
    rows = cdr_rows("unanswered") + cdr_rows("transfers")
    assert {r["linkedid"] for r in records} == {r[18] for r in rows}
    for rec in records:
        mine = [r for r in rows if r[18] == rec["linkedid"]]
        answered = any(r[14] == "ANSWERED" and r[6] for r in mine)
        assert (rec["answer"] is not None) == answered
        assert (rec["disposition"] == "ANSWERED") == answered
        assert abs(rec["start"] - min(float(r[21]) for r in mine)) < 1
        assert abs(rec["end"] - max(float(r[23]) for r in mine)) < 1
        assert set(rec["caller"]) == {"num", "name", "channel"}
        assert set(rec["callee"]) == {"num", "name", "channel"}
        assert rec["legs"]
        assert all(isinstance(u, str) for u in rec["legs"])
        assert isinstance(rec["transfers"], list)
        assert rec["queue"] is None
    kinds = sorted(t["kind"] for rec in records for t in rec["transfers"])
    # transfers.ami: one blind, one attended, and three channels moved by AMI Redirect
    assert kinds == ["attended", "blind", "redirect", "redirect", "redirect"]
    assert all(isinstance(t["at"], float) for rec in records for t in rec["transfers"])


def test_calls_queue_field(capsys: pytest.CaptureFixture[str]) -> None:
    out = run(capsys, "calls", str(FIXTURES / "queue.ami"), "--format", "jsonl")
    queues = [json.loads(line)["queue"] for line in out.splitlines()]
    assert all(q is not None for q in queues)
    assert {q["outcome"] for q in queues} == {"answered", "abandoned"}
    assert all(set(q) >= {"name", "wait", "outcome", "agent"} for q in queues)


def test_calls_csv_and_table(capsys: pytest.CaptureFixture[str]) -> None:
    out = run(capsys, "calls", str(FIXTURES / "basic.ami"), "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["linkedid"] for r in rows] == [cdr_rows("basic")[0][18]]
    assert rows[0]["disposition"] == "ANSWERED"
    table = run(capsys, "calls", str(FIXTURES / "basic.ami"), "--format", "table")
    assert table.splitlines()[0].startswith("LINKEDID")
    assert len(table.splitlines()) == 2


def test_missing_capture_is_an_error(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["replay", str(tmp_path / "nope.ami")]) == 2
    assert "nope.ami" in capsys.readouterr().err


def test_entry_point_runs_as_module() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "tracker", "calls", str(FIXTURES / "md5_login.fail.ami")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert proc.stdout == ""
