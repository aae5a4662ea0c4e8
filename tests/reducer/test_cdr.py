"""Ended calls vs Asterisk's own CDR (``NAME.cdr.csv``), on every capture.

Columns (1-based): 7 dstchannel, 15 disposition, 19 linkedid, 22/23/24 start/answer/end epoch.
One CDR row exists per channel pair; our record is one per Linkedid. The rules compared:

* ended Linkedids = CDR Linkedids (``md5_login.fail`` has no calls at all);
* answered  <=>  the Linkedid has an ANSWERED row with a dstchannel (a Dial, Queue or bridge that
  connected; the caller's own Local half makes dst-less ANSWERED rows that do not count);
* ``start`` = earliest CDR start and ``end`` = latest CDR end, within 1 s;
* ``answer``: the CDR row's own answer time is party A's (for Local channels: when the caller's
  leg was answered by Originate, before it even dialled), so the callee's answer is read from the
  row of the callee's handset half (the dstchannel with ``;1`` -> ``;2``) when it exists, else the
  row's answer; ours agrees within 1 s and ``billsec`` = our end - our answer agrees with
  (latest CDR end - that answer) within 1 s. CDR's own billsec column differs for that reason.
* disposition of unanswered calls, where the CDR determines one: the disposition of the last
  (by start) row with a dstchannel, or, without such rows, the single disposition shared by all
  rows if it is not ANSWERED (dst-less ANSWERED rows are the caller's own halves: no verdict).
* ``reconnect.late`` joined while 4 calls were up: its records are compared the same way after the
  resync (CoreShowChannels) seeded them, except ``start`` of calls that began before the session:
  it is estimated from CoreShowChannel's whole-second ``Duration`` (within 2 s), and their
  answer time (before we connected) is not compared, only that they were answered.

Where the record deliberately reads the call differently from the CDR (calls.py):

* a ConfBridge participant is answered when it enters the room (CEL ``BRIDGE_ENTER`` with
  application ConfBridge), even alone or as the last to arrive, whose CDR row has no
  dstchannel (answer = the earlier of that and the CDR's answer);
* captures with a ``NAME.calls.json`` (click-to-dial, call screening, late conference) are
  judged by the caller's intended outcome in tests/reducer/test_intent.py, not by the CDR
  verdict; their start and end times are still compared here.
"""

from __future__ import annotations

import csv
import functools
from collections import defaultdict
from pathlib import Path

import pytest

from tests.helpers import FIXTURES
from tracker.replay import ReplayResult, replay
from tracker.state.call import Call

CAPTURES = [*sorted(p.name for p in FIXTURES.glob("*.ami")), "load.ami.gz"]
INTENDED = {p.name.split(".")[0] for p in FIXTURES.glob("*.calls.json")}
"""Scenarios judged by their intended outcome (test_intent.py) instead of the CDR verdict."""
Row = list[str]


def cdr_file(capture: str) -> Path:
    return FIXTURES / (capture.split(".")[0] + ".cdr.csv")


@functools.cache
def cdr_by_linkedid(capture: str) -> dict[str, list[Row]]:
    out: dict[str, list[Row]] = defaultdict(list)
    with cdr_file(capture).open(encoding="latin-1", newline="") as f:
        for row in csv.reader(f):
            out[row[18]].append(row)
    return dict(out)


@functools.cache
def replayed(capture: str) -> ReplayResult:
    return replay(FIXTURES / capture)


def records(capture: str) -> dict[str, Call]:
    return {c.linkedid: c for c in replayed(capture).call_records}


@functools.cache
def conference_entries(capture: str) -> dict[str, float]:
    """Linkedid -> first time one of its channels entered a ConfBridge room (CEL)."""
    out: dict[str, float] = {}
    with (FIXTURES / (capture.split(".")[0] + ".cel.csv")).open(encoding="latin-1") as f:
        for r in csv.reader(f):
            if r[0] == "BRIDGE_ENTER" and r[11] == "ConfBridge":
                out.setdefault(r[16], float(r[1]))
    return out


def cdr_answered(rows: list[Row]) -> bool:
    return any(r[14] == "ANSWERED" and r[6] for r in rows)


def cdr_answer_time(rows: list[Row]) -> float:
    """The callee's answer: see the module docstring."""
    by_channel = {r[5]: r for r in rows}
    best = None
    for r in sorted(rows, key=lambda r: float(r[21])):
        if r[14] != "ANSWERED" or not r[6]:
            continue
        handset = by_channel.get(r[6][:-2] + ";2") if r[6].endswith(";1") else None
        if handset is not None and handset[14] == "ANSWERED":
            t = float(handset[22])
        else:
            t = float(r[22])
        best = t if best is None else min(best, t)
    assert best is not None
    return best


def cdr_disposition(rows: list[Row]) -> str | None:
    with_dst = sorted((r for r in rows if r[6]), key=lambda r: float(r[21]))
    if with_dst:
        return with_dst[-1][14]
    found = {r[14] for r in rows}
    if len(found) == 1 and "ANSWERED" not in found:
        return found.pop()
    return None


@pytest.mark.parametrize("capture", CAPTURES)
def test_ended_linkedids_equal_cdr(capture: str) -> None:
    ours = records(capture)
    assert len(ours) == len(replayed(capture).call_records), "a Linkedid ended twice"
    if capture == "md5_login.fail.ami":
        assert ours == {}
        return
    assert set(ours) == set(cdr_by_linkedid(capture))
    assert replayed(capture).world.calls == {}


@pytest.mark.parametrize("capture", [c for c in CAPTURES if c != "md5_login.fail.ami"])
def test_answered_and_times_agree_with_cdr(capture: str) -> None:
    late = capture == "reconnect.late.ami"
    verdict = capture.split(".")[0] not in INTENDED
    ours = records(capture)
    entered = conference_entries(capture)
    for linkedid, rows in cdr_by_linkedid(capture).items():
        call = ours[linkedid]
        start = min(float(r[21]) for r in rows)
        end = max(float(r[23]) for r in rows)
        assert call.end is not None
        assert abs(call.end - end) < 1.0, linkedid
        assert abs(call.start - start) < (2.0 if late else 1.0), linkedid
        assert call.duration == pytest.approx(call.end - call.start)
        if not verdict:
            continue
        answers = [cdr_answer_time(rows)] if cdr_answered(rows) else []
        if linkedid in entered:
            answers.append(entered[linkedid])
        assert (call.answer is not None) == bool(answers), linkedid
        if call.answer is None:
            assert call.billsec == 0.0
            continue
        assert call.disposition == "ANSWERED"
        if call.joined_late:
            continue  # answered before we connected: the time is not knowable
        answer = min(answers)
        assert abs(call.answer - answer) < 1.0, linkedid
        assert abs(call.billsec - (end - answer)) < 1.0, linkedid


@pytest.mark.parametrize(
    "capture",
    [c for c in CAPTURES if c != "md5_login.fail.ami" and c.split(".")[0] not in INTENDED],
)
def test_unanswered_disposition_agrees_with_cdr(capture: str) -> None:
    ours = records(capture)
    entered = conference_entries(capture)
    compared = 0
    for linkedid, rows in cdr_by_linkedid(capture).items():
        if cdr_answered(rows) or linkedid in entered:
            continue
        expected = cdr_disposition(rows)
        if expected is None:
            continue
        compared += 1
        assert ours[linkedid].disposition == expected, linkedid
    if capture == "unanswered.ami":
        assert compared >= 6  # BUSY, CONGESTION, NO ANSWER (x3), FAILED
