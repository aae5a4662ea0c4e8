"""Each report against figures computed here, independently, from Asterisk's own records of the
same calls: ``NAME.cdr.csv`` (calls), ``NAME.queue_log`` (queues, agents) and ``NAME.cel.csv``
(conferences), on SQLite and PostgreSQL, one server per capture.

queue_log times are whole seconds, so waits and talk times agree within 1 s per call; CDR
answer times follow the rule of tests/reducer/test_cdr.py (the callee's handset answer).
"""

from __future__ import annotations

import csv
import functools
import json
from collections import Counter, defaultdict
from datetime import UTC, datetime
from statistics import mean
from typing import Any

import pytest
from sqlalchemy import Engine

from tests.helpers import FIXTURES
from tests.store.reporting_support import BACKENDS, CAPTURES, filled_database, member_names
from tracker.store.reports import REPORTS, Params, run_report

CALL_CAPTURES = [c for c in CAPTURES if c != "md5_login.fail.ami"]
QUEUE_CAPTURES = ["queue.ami", "lists.ami", "reconnect.ami", "load.ami.gz"]
CONFERENCE_CAPTURES = [
    "confbridge.ami",
    "conference_late.ami",
    "transfers.ami",
    "reconnect.ami",
    "lists.ami",
]
Row = list[str]


@pytest.fixture(scope="session", params=BACKENDS)
def filled(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Engine:
    return filled_database(request, tmp_path_factory)


def report(engine: Engine, name: str, **params: Any) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        columns, rows = run_report(conn, name, Params(**params))
    return [dict(zip(columns, row, strict=True)) for row in rows]


def stem(capture: str) -> str:
    return capture.split(".")[0]


@functools.cache
def cdr(capture: str) -> dict[str, list[Row]]:
    out: dict[str, list[Row]] = defaultdict(list)
    with (FIXTURES / f"{stem(capture)}.cdr.csv").open(encoding="latin-1", newline="") as f:
        for row in csv.reader(f):
            out[row[18]].append(row)  # linkedid
    return dict(out)


def cdr_answered(rows: list[Row]) -> bool:
    """A row with a destination channel that was ANSWERED (a Dial/Queue/bridge connected)."""
    return any(r[14] == "ANSWERED" and r[6] for r in rows)


def cdr_answer(rows: list[Row]) -> float:
    """The callee's answer: the dstchannel's handset half (``;1`` -> ``;2``) if answered."""
    by_channel = {r[5]: r for r in rows}
    times = []
    for r in rows:
        if r[14] == "ANSWERED" and r[6]:
            handset = by_channel.get(r[6][:-2] + ";2") if r[6].endswith(";1") else None
            ok = handset is not None and handset[14] == "ANSWERED"
            times.append(float(handset[22]) if handset is not None and ok else float(r[22]))
    return min(times)


def cdr_disposition(rows: list[Row]) -> str | None:
    """Unanswered: the last destination's disposition, else the one all rows share."""
    with_dst = sorted((r for r in rows if r[6]), key=lambda r: float(r[21]))
    if with_dst:
        return with_dst[-1][14]
    found = {r[14] for r in rows}
    return found.pop() if len(found) == 1 and "ANSWERED" not in found else None


@functools.cache
def conference_entries(capture: str) -> dict[str, float]:
    """Linkedid -> first time one of its channels entered a ConfBridge room (CEL)."""
    out: dict[str, float] = {}
    for r in cel(capture):
        if r[0] == "BRIDGE_ENTER" and r[11] == "ConfBridge":
            out.setdefault(r[16], float(r[1]))
    return out


def intended(capture: str) -> dict[str, dict[str, Any]] | None:
    """The lab's intended outcome per linkedid (``NAME.calls.json``), where it wrote one."""
    path = FIXTURES / f"{stem(capture)}.calls.json"
    if not path.exists():
        return None
    return {c["linkedid"]: c["intended"] for c in json.loads(path.read_text())["calls"]}


def call_truth(capture: str) -> dict[str, tuple[str | None, float | None]]:
    """Linkedid -> (disposition or None if undetermined, talk seconds if answered).

    From the intended outcomes where the lab wrote them (click-to-dial, screening: the CDR
    judges those by A's phone); else from the CDR (an ANSWERED row with a destination, the
    callee's handset answer) and CEL (entering a ConfBridge room answers the caller).
    """
    wanted = intended(capture)
    if wanted is not None:
        return {
            lid: (w["disposition"], w["talk_s"] if w["disposition"] == "ANSWERED" else None)
            for lid, w in wanted.items()
        }
    entered = conference_entries(capture)
    out: dict[str, tuple[str | None, float | None]] = {}
    for lid, rows in cdr(capture).items():
        answers = [cdr_answer(rows)] if cdr_answered(rows) else []
        if lid in entered:
            answers.append(entered[lid])
        if answers:
            out[lid] = ("ANSWERED", max(float(r[23]) for r in rows) - min(answers))
        else:
            out[lid] = (cdr_disposition(rows), None)
    return out


@pytest.mark.parametrize("capture", CALL_CAPTURES)
def test_calls_report_matches_cdr(filled: Engine, capture: str) -> None:
    (got,) = report(filled, "calls", server=capture)
    truth = call_truth(capture)
    talks = [talk for _, talk in truth.values() if talk is not None]
    assert got["server"] == capture and got["period"] is None
    assert got["calls"] == len(truth)
    assert got["answered"] == len(talks)
    assert got["asr"] == pytest.approx(100.0 * len(talks) / len(truth))
    if talks and capture != "reconnect.late.ami":  # answered before it connected: unknown
        assert abs(got["acd"] - mean(talks)) < 1.0
        assert abs(got["billsec"] - sum(talks)) < len(talks)
    dispositions = Counter(disposition for disposition, _ in truth.values())
    undetermined = dispositions.pop(None, 0)
    names = {"answered": "ANSWERED", "no_answer": "NO ANSWER", "busy": "BUSY"}
    names |= {"failed": "FAILED", "congestion": "CONGESTION"}
    assert sum(got[k] for k in names) == got["calls"]
    for key, disposition in names.items():
        assert dispositions[disposition] <= got[key] <= dispositions[disposition] + undetermined
    if capture == "unanswered.ami":
        assert got["busy"] >= 1 and got["congestion"] >= 1 and got["failed"] >= 1


def queue_log(capture: str) -> list[Row]:
    lines = (FIXTURES / f"{stem(capture)}.queue_log").read_text().splitlines()
    return [line.split("|") for line in lines if line]


def queue_truth(capture: str) -> dict[str, dict[str, Any]]:
    """Per queue: offered, answered, abandoned, exited, waits (s), holds of answers, talks."""
    out: dict[str, dict[str, Any]] = defaultdict(
        lambda: (
            {"offered": 0, "answered": 0, "abandoned": 0, "exited": 0, "waits": []}
            | {"holds": [], "talks": []}
        )
    )
    for r in queue_log(capture):
        q, kind = out[r[2]], r[4]
        if kind == "ENTERQUEUE":
            q["offered"] += 1
        elif kind == "CONNECT":
            q["answered"] += 1
            q["waits"].append(int(r[5]))
            q["holds"].append(int(r[5]))
        elif kind == "ABANDON":
            q["abandoned"] += 1
            q["waits"].append(int(r[7]))
        elif kind in ("EXITWITHTIMEOUT", "EXITEMPTY"):
            q["exited"] += 1
            q["waits"].append(int(r[7]))
        elif kind == "EXITWITHKEY":
            q["exited"] += 1
            q["waits"].append(int(r[8]))
        elif kind in ("COMPLETECALLER", "COMPLETEAGENT"):
            q["talks"].append(int(r[6]))
    return {name: q for name, q in out.items() if q["offered"]}


@pytest.mark.parametrize("capture", QUEUE_CAPTURES)
def test_queues_report_matches_queue_log(filled: Engine, capture: str) -> None:
    truth = queue_truth(capture)
    got = {r["queue"]: r for r in report(filled, "queues", server=capture)}
    assert set(got) == set(truth)
    for name, q in truth.items():
        r = got[name]
        for key in ("offered", "answered", "abandoned", "exited"):
            assert r[key] == q[key], (name, key)
        assert abs(r["avg_wait"] - mean(q["waits"])) <= 1.0
        assert abs(r["max_wait"] - max(q["waits"])) <= 1.0
        if q["talks"]:
            assert abs(r["avg_talk"] - mean(q["talks"])) <= 1.0


@pytest.mark.parametrize("capture", ["queue.ami", "load.ami.gz"])
def test_service_level_matches_queue_log(filled: Engine, capture: str) -> None:
    """Answered within N s / offered; queue_log's whole-second hold times bound our figure."""
    for name, q in queue_truth(capture).items():
        for threshold in range(0, 31, 3):
            (r,) = (
                r
                for r in report(filled, "queues", server=capture, service_level=threshold)
                if r["queue"] == name
            )
            within = round(r["service_level"] * q["offered"] / 100)
            low = sum(h <= threshold - 1 for h in q["holds"])
            high = sum(h <= threshold + 1 for h in q["holds"])
            assert low <= within <= high, (name, threshold)
            if low == high:
                assert r["service_level"] == pytest.approx(100.0 * low / q["offered"])


def agent_truth(capture: str) -> dict[tuple[str, str], dict[str, Any]]:
    """Per (queue, member name): calls, talk seconds, rings not answered, paused seconds."""
    out: dict[tuple[str, str], dict[str, Any]] = defaultdict(
        lambda: {"calls": 0, "talk": 0, "ring_no_answer": 0, "paused": 0, "intervals": 0}
    )
    paused_since: dict[tuple[str, str], int] = {}
    names = member_names(capture)
    for r in queue_log(capture):
        when, queue, kind = int(r[0]), r[2], r[4]
        if r[3] in ("NONE", ""):
            continue
        key = (queue, names.get(r[3], r[3]))
        if kind == "CONNECT":
            out[key]["calls"] += 1
        elif kind in ("COMPLETECALLER", "COMPLETEAGENT"):
            out[key]["talk"] += int(r[6])
        elif kind == "RINGNOANSWER":
            out[key]["ring_no_answer"] += 1
        elif kind == "PAUSE" or (kind == "ADDMEMBER" and r[5:6] == ["PAUSED"]):
            paused_since.setdefault(key, when)
        elif kind in ("UNPAUSE", "REMOVEMEMBER") and key in paused_since:
            out[key]["paused"] += when - paused_since.pop(key)
            out[key]["intervals"] += 1
    return dict(out)


@pytest.mark.parametrize("capture", QUEUE_CAPTURES)
def test_agents_report_matches_queue_log(filled: Engine, capture: str) -> None:
    truth = agent_truth(capture)
    got = {(r["queue"], r["agent"]): r for r in report(filled, "agents", server=capture)}
    assert set(got) == set(truth)
    for key, t in truth.items():
        r = got[key]
        assert r["calls"] == t["calls"], key
        assert r["ring_no_answer"] == t["ring_no_answer"], key
        assert abs(r["talk"] - t["talk"]) <= max(1, t["calls"]), key
        assert abs(r["paused"] - t["paused"]) <= max(1, t["intervals"]), key
    if capture == "queue.ami":
        assert sum(t["intervals"] for t in truth.values()) >= 3


def cel(capture: str) -> list[Row]:
    with (FIXTURES / f"{stem(capture)}.cel.csv").open(encoding="latin-1", newline="") as f:
        return list(csv.reader(f))


@pytest.mark.parametrize("capture", CONFERENCE_CAPTURES)
def test_conferences_report_matches_cel(filled: Engine, capture: str) -> None:
    entered: dict[str, float] = {}
    rooms, stays = set(), []
    for r in cel(capture):
        if r[11] != "ConfBridge":
            continue
        if r[0] == "BRIDGE_ENTER":
            entered[r[15]] = float(r[1])
            rooms.add(r[12].split(",")[0])
        elif r[0] == "BRIDGE_EXIT":
            stays.append(float(r[1]) - entered.pop(r[15]))
    (got,) = report(filled, "conferences", server=capture)
    assert got["rooms"] == len(rooms) >= 1
    assert got["participants"] == len(stays)
    assert got["minutes"] == pytest.approx(sum(stays) / 60, abs=0.01)


def hour_of(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:00")


@pytest.mark.parametrize("by", ["hour", "day"])
def test_periods_split_the_totals(filled: Engine, by: str) -> None:
    for name in set(REPORTS) - {"gaps"}:  # no gap in the filled database: test_gaps_report
        whole = report(filled, name)
        split = report(filled, name, by=by)
        assert split, name
        # only what a resync found (its start unseen: reconnect.late) has no period
        assert all(r["period"] or r["server"] == "reconnect.late.ami" for r in split), name
        key = {"calls": "calls", "queues": "offered", "agents": "calls"}.get(name, "participants")
        assert sum(r[key] for r in split) == sum(r[key] for r in whole), name


def test_calls_by_hour_match_cdr_start_hours(filled: Engine) -> None:
    starts = {
        capture: [min(float(r[21]) for r in rows) for rows in cdr(capture).values()]
        for capture in CALL_CAPTURES
    }
    for capture, times in starts.items():
        if capture == "reconnect.late.ami":
            continue  # starts before the session are estimates
        truth = Counter(hour_of(t) for t in times)
        got = {r["period"]: r["calls"] for r in report(filled, "calls", server=capture, by="hour")}
        assert got == dict(truth), capture


def test_range_filters_split_the_calls(filled: Engine) -> None:
    starts = sorted(min(float(r[21]) for r in rows) for rows in cdr("load.ami.gz").values())
    middle = (starts[len(starts) // 2 - 1] + starts[len(starts) // 2]) / 2
    assert starts[len(starts) // 2] - middle > 0.01
    cut = datetime.fromtimestamp(middle, UTC)
    (before,) = report(filled, "calls", server="load.ami.gz", until=cut)
    (after,) = report(filled, "calls", server="load.ami.gz", start=cut)
    assert before["calls"] == len(starts) // 2
    assert after["calls"] == len(starts) - len(starts) // 2
    assert report(filled, "calls", server="no such server") == []
