"""Call records vs ground truth other than the CDR answer rules (see test_cdr.py for those).

* end: CEL's LINKEDID_END (one per Linkedid) within 50 ms; the same set of Linkedids;
* caller number: CDR ``src`` of the row whose uniqueid is the Linkedid (the originating leg);
* transfers: CEL BLINDTRANSFER/ATTENDEDTRANSFER rows (by Linkedid): kind, transferee, target;
  redirects: every channel of an AMI ``Redirect`` in ``NAME.sent`` (``Channel`` and
  ``ExtraChannel``) is the transferee of one ``redirect`` transfer to ``Exten@Context``;
* queue passage: queue_log ENTERQUEUE/CONNECT/ABANDON by callid (a leg of the call): queue,
  outcome, agent (MemberName) and wait within 1 s (queue_log holds whole seconds);
* parking: CEL PARK_END ``reason`` (ParkedCallUnparked/TimeOut/GiveUp) by Linkedid;
* conference: CEL rows of app ConfBridge name the room in appdata (by Linkedid).
"""

from __future__ import annotations

import csv
import functools
import json
from collections import defaultdict

import pytest

from tests.helpers import FIXTURES, sent_actions
from tracker.replay import ReplayResult, replay
from tracker.state.call import Call

CAPTURES = [
    *sorted(
        p.name
        for p in FIXTURES.glob("*.ami")
        if p.name not in ("md5_login.fail.ami", "reconnect.late.ami")
    ),
    "load.ami.gz",
]


def base(capture: str) -> str:
    return capture.split(".")[0]


@functools.cache
def rows(capture: str, suffix: str) -> list[list[str]]:
    with (FIXTURES / (base(capture) + suffix)).open(encoding="latin-1", newline="") as f:
        return list(csv.reader(f, delimiter="|" if suffix == ".queue_log" else ","))


@functools.cache
def replayed(capture: str) -> ReplayResult:
    return replay(FIXTURES / capture)


def by_linkedid(capture: str) -> dict[str, Call]:
    return {c.linkedid: c for c in replayed(capture).call_records}


def by_leg(capture: str) -> dict[str, Call]:
    return {uid: c for c in replayed(capture).call_records for uid in c.legs}


@pytest.mark.parametrize("capture", CAPTURES)
def test_end_is_cel_linkedid_end(capture: str) -> None:
    ends = {r[16]: float(r[1]) for r in rows(capture, ".cel.csv") if r[0] == "LINKEDID_END"}
    calls = by_linkedid(capture)
    assert set(calls) == set(ends)
    for linkedid, t in ends.items():
        assert calls[linkedid].end == pytest.approx(t, abs=0.05), linkedid


@pytest.mark.parametrize("capture", CAPTURES)
def test_caller_number_is_cdr_src(capture: str) -> None:
    calls = by_linkedid(capture)
    checked = 0
    for r in rows(capture, ".cdr.csv"):
        if r[16] == r[18] and r[18] in calls:
            assert calls[r[18]].caller.num == r[1], r[18]
            assert calls[r[18]].caller.channel == r[5]
            checked += 1
    assert checked >= len(calls) // 2


def test_transfers_match_cel() -> None:
    calls = by_linkedid("transfers.ami")
    found = 0
    for r in rows("transfers.ami", ".cel.csv"):
        if r[0] not in ("BLINDTRANSFER", "ATTENDEDTRANSFER"):
            continue
        found += 1
        extra = json.loads(r[20])
        kind = "blind" if r[0] == "BLINDTRANSFER" else "attended"
        (t,) = [t for t in calls[r[16]].transfers if t.kind == kind]
        assert t.transferee == extra["transferee_channel_name"]
        assert t.at == pytest.approx(float(r[1]), abs=0.05)
        if kind == "blind":
            assert t.target == f"{extra['extension']}@{extra['context']}"
            assert t.transferer == r[10]
        else:
            assert t.target == extra["transfer_target_channel_name"]
    assert found == 2
    assert sum(t.kind in ("blind", "attended") for c in calls.values() for t in c.transfers) == 2


def redirected_channels(name: str) -> dict[str, str]:
    """Channel -> ``exten@context`` of every AMI Redirect the lab driver sent."""
    out: dict[str, str] = {}
    for a in sent_actions(name):
        if a["Action"] == "Redirect":
            out[a["Channel"]] = f"{a['Exten']}@{a['Context']}"
            if "ExtraChannel" in a:
                extra = f"{a.get('ExtraExten', a['Exten'])}@{a.get('ExtraContext', a['Context'])}"
                out[a["ExtraChannel"]] = extra
    return out


@pytest.mark.parametrize("capture", ["transfers.ami", "park.ami", "hold_moh_mixmonitor.ami"])
def test_redirects_match_sent_actions(capture: str) -> None:
    expected = redirected_channels(base(capture))
    assert expected
    redirects = [
        t for c in replayed(capture).call_records for t in c.transfers if t.kind == "redirect"
    ]
    assert {t.transferee: t.target for t in redirects} == expected
    assert len(redirects) == len(expected)
    assert all(t.result == "Success" and not t.transferer for t in redirects)


@pytest.mark.parametrize("capture", [c for c in CAPTURES if not redirected_channels(base(c))])
def test_no_redirect_without_a_redirect_action(capture: str) -> None:
    kinds = {t.kind for c in replayed(capture).call_records for t in c.transfers}
    assert "redirect" not in kinds


@pytest.mark.parametrize("capture", ["queue.ami", "lists.ami", "reconnect.ami", "load.ami.gz"])
def test_queue_passage_matches_queue_log(capture: str) -> None:
    calls = by_leg(capture)
    entered: dict[str, str] = {}
    outcome: dict[str, tuple[str, str, float]] = {}
    for r in rows(capture, ".queue_log"):
        event, callid = r[4], r[1]
        if event == "ENTERQUEUE":
            entered[callid] = r[2]
        elif event == "CONNECT":
            outcome[callid] = ("answered", r[3], float(r[5]))
        elif event == "ABANDON":
            outcome[callid] = ("abandoned", "", float(r[7]))
        elif event == "EXITWITHTIMEOUT":
            outcome[callid] = ("timeout", "", float(r[7]))
    assert entered
    queued = {c.linkedid for c in calls.values() if c.queue is not None}
    assert queued == {calls[callid].linkedid for callid in entered}
    for callid, queue in entered.items():
        passage = calls[callid].queue
        assert passage is not None
        assert passage.name == queue
        kind, agent, wait = outcome[callid]
        assert passage.outcome == kind, callid
        assert (passage.agent or "") == agent
        assert passage.wait is not None
        assert abs(passage.wait - wait) < 1.0, callid
        if kind == "answered":
            assert calls[callid].answer is not None


@pytest.mark.parametrize("capture", ["park.ami", "lists.ami"])
def test_parking_outcome_matches_cel(capture: str) -> None:
    reasons = {
        "ParkedCallUnparked": "retrieved",
        "ParkedCallTimeOut": "timeout",
        "ParkedCallGiveUp": "giveup",
    }
    calls = by_linkedid(capture)
    ends = [r for r in rows(capture, ".cel.csv") if r[0] == "PARK_END"]
    assert ends
    for r in ends:
        parked = calls[r[16]].parked
        assert parked is not None
        assert parked.outcome == reasons[json.loads(r[20])["reason"]]
    assert sum(c.parked is not None for c in calls.values()) == len(ends)


@pytest.mark.parametrize("capture", ["confbridge.ami", "transfers.ami", "lists.ami"])
def test_conference_room_matches_cel(capture: str) -> None:
    calls = by_linkedid(capture)
    rooms: dict[str, set[str]] = defaultdict(set)
    for r in rows(capture, ".cel.csv"):
        if r[11] == "ConfBridge" and r[0] == "BRIDGE_ENTER":
            rooms[r[16]].add(r[12].split(",")[0])
    assert rooms
    for linkedid, room in rooms.items():
        assert {calls[linkedid].conference} == room
