"""``ami-tracker inspect``: its counts agree with independent counts of the raw bytes."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tracker.capture import read_bytes
from tracker.cli import main

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "fixtures"
SUMMARY = {s["file"]: s for s in json.loads((FIXTURES / "SUMMARY.json").read_text())}


def run_json(capsys: pytest.CaptureFixture[str], name: str) -> dict[str, Any]:
    assert main(["inspect", str(FIXTURES / name), "--json"]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1
    result: dict[str, Any] = json.loads(out)
    return result


def raw_event_counts(data: bytes) -> Counter[str]:
    """Event names at the start of each frame, found in the bytes (no parser involved)."""
    return Counter(
        m.decode() for m in re.findall(rb"(?:^|\r\n\r\n|\r\n)Event: ([^\r\n]+)\r\n", data)
    )


@pytest.mark.parametrize(
    "name", ["lists.ami", "encoding.ami", "queue.ami", "md5_login.fail.ami", "park.ami"]
)
def test_inspect_json_matches_independent_counts(
    capsys: pytest.CaptureFixture[str], name: str
) -> None:
    s = run_json(capsys, name)
    truth = SUMMARY[name]
    data = read_bytes(FIXTURES / name)
    assert s["frames"] == truth["messages"] + 1  # + the banner line
    assert s["kinds"]["banner"] == 1
    assert sum(s["events"].values()) == truth["events"]
    assert s["events"] == truth["event_counts"]
    assert s["events"] == dict(raw_event_counts(data))
    assert s["responses"] == truth["responses"]
    assert s["fallbacks"] == sum(truth["non_utf8_messages"].values())
    assert s["fallback_frames"] == truth["non_utf8_messages"]
    assert s["anomalies"] == 0
    assert s["unknown"] == {}
    assert s["undecodable"] == {}
    for event, n in s["list_items"].items():
        assert truth["list_item_events"][event] == n
    assert sum(s["list_items"].values()) == s["kinds"].get("list_item", 0)


def test_inspect_counts_fallbacks(capsys: pytest.CaptureFixture[str]) -> None:
    s = run_json(capsys, "encoding.ami")
    data = read_bytes(FIXTURES / "encoding.ami")
    bodies = data.split(b"\r\n", 1)[1].split(b"\r\n\r\n")
    non_utf8 = 0
    for body in bodies:
        try:
            body.decode("utf-8")
        except UnicodeDecodeError:
            non_utf8 += 1
    assert s["fallbacks"] == non_utf8 == 79


def test_inspect_unknown_and_anomalies(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cap = tmp_path / "odd.ami"
    cap.write_bytes(
        b"Asterisk Call Manager/11.0.0\r\n"
        b"Event: BrandNewThing\r\nFoo: 1\r\n\r\n"
        b"Event: Newchannel\r\nChannelState: up\r\n\r\n"
        b"not a header line\r\n\r\n"
        b"Response: Error\r\nMessage: nope\r\n\r\n"
    )
    assert main(["inspect", str(cap), "--json"]) == 0
    s = json.loads(capsys.readouterr().out)
    assert s["frames"] == 5
    assert s["unknown"] == {"BrandNewThing": 1}
    assert s["undecodable"] == {"Newchannel": 1}
    assert s["anomalies"] == 1
    assert s["responses"] == {"Error": 1}
    assert s["events"] == {"BrandNewThing": 1, "Newchannel": 1}


def test_inspect_human_output(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["inspect", str(FIXTURES / "basic.ami")]) == 0
    out = capsys.readouterr().out
    assert "frames:     113" in out
    assert re.search(r"^VarSet\s+34$", out, re.M)
    assert re.search(r"^Success\s+2$", out, re.M)


def test_inspect_missing_file(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["inspect", "/nonexistent/x.ami"]) == 2
    assert "no such file" in capsys.readouterr().err


def test_inspect_as_a_process_on_gzip() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "tracker", "inspect", str(FIXTURES / "load.ami.gz"), "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    s = json.loads(proc.stdout)
    truth = SUMMARY["load.ami.gz"]
    assert s["frames"] == truth["messages"] + 1
    assert s["events"] == truth["event_counts"]
    assert s["unknown"] == {}
    assert s["undecodable"] == {}
