"""Call records vs the caller's intended outcome (``NAME.calls.json``), call by call.

The lab driver recorded, for every call of ``click_to_dial``, ``screening`` and
``conference_late``, what a user expects the record to say (fixtures/README.md, "Scenarios with an
intended outcome"): caller, callee, disposition and talk time. Asterisk's own CDR disagrees for
several of them (click-to-dial answered by A's phone, screened calls FAILED or ANSWERED, the last
conference participant 0 s), so these captures are judged here and not by test_cdr.py.

Per call: disposition, caller and callee number, talk time (billsec, within 1 s), no transfer and
no queue passage (none of these calls had one), ``origin == "originate"`` (every lab call is an
Originate), the answer time (B's BridgeEnter with the caller, or the ConfbridgeJoin) and, for
click-to-dial, A's answer time (``caller_answer``), both within 50 ms of the AMI timestamps the
driver recorded. Also: every capture in fixtures/ (all are ordinary traffic) folds with no anomaly.
"""

from __future__ import annotations

import functools
import json
from typing import Any

import msgspec
import pytest

from tests.helpers import CAPTURES, FIXTURES, capture_id
from tracker.events import QueueCallerJoin
from tracker.query import call_record
from tracker.replay import ReplayResult, iter_envelopes, replay
from tracker.state.call import Call
from tracker.state.world import decode_world

INTENDED = sorted(p.name.split(".")[0] for p in FIXTURES.glob("*.calls.json"))


@functools.cache
def intent(name: str) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = json.loads((FIXTURES / f"{name}.calls.json").read_text())["calls"]
    return calls


@functools.cache
def replayed(name: str) -> ReplayResult:
    return replay(FIXTURES / f"{name}.ami")


def records(name: str) -> dict[str, Call]:
    return {c.linkedid: c for c in replayed(name).call_records}


def test_the_three_scenarios_are_there() -> None:
    assert INTENDED == ["click_to_dial", "conference_late", "screening"]


@pytest.mark.parametrize("name", INTENDED)
def test_one_record_per_intended_call(name: str) -> None:
    assert sorted(records(name)) == sorted(c["linkedid"] for c in intent(name))
    assert len(replayed(name).call_records) == len(intent(name))


@pytest.mark.parametrize("name", INTENDED)
def test_every_call_reads_as_intended(name: str) -> None:
    ours = records(name)
    for c in intent(name):
        want = c["intended"]
        call = ours[c["linkedid"]]
        where = f"{name} #{c['seq']} {c['kind']}"
        assert call.disposition == want["disposition"], where
        assert call.caller.num == want["caller"], where
        assert call.callee is not None, where
        assert call.callee.num == want["callee"], where
        assert abs(call.billsec - want["talk_s"]) < 1.0, where
        assert (call.answer is not None) == (want["disposition"] == "ANSWERED"), where
        assert call.transfers == [], where
        assert call.queue is None, where
        assert call.origin == "originate", where


@pytest.mark.parametrize("name", INTENDED)
def test_answer_times_are_the_connection(name: str) -> None:
    """Answered when the caller was connected: B's bridge with the caller, or the room join."""
    ours = records(name)
    for c in intent(name):
        call = ours[c["linkedid"]]
        connected = c["ami"].get("connected", c["ami"].get("conf_join"))
        if connected is None:
            assert call.answer is None
        else:
            assert call.answer == pytest.approx(connected, abs=0.05)


def test_click_to_dial_keeps_a_answer_time() -> None:
    ours = records("click_to_dial")
    for c in intent("click_to_dial"):
        call = ours[c["linkedid"]]
        row = call_record(call)  # the ``calls --format jsonl`` record carries both
        assert (row["origin"], row["caller_answer"]) == (call.origin, call.caller_answer)
        if c["ami"]["a_dial_status"] == "ANSWER":
            assert call.caller_answer == pytest.approx(c["ami"]["a_dial_end"], abs=0.05)
            assert call.caller_answer is not None
            assert call.answer is None or call.answer > call.caller_answer
        else:
            assert call.caller_answer is None
            assert c["intended"]["b_rang"] is False
            assert call.callee is not None and not call.callee.channel  # from OriginateResponse


def test_screened_callee_answered_but_caller_never_connected() -> None:
    ours = records("screening")
    declined = [c for c in intent("screening") if not c["intended"]["caller_connected"]]
    assert len(declined) == 4
    for c in declined:
        call = ours[c["linkedid"]]
        assert c["intended"]["b_handset_answered"]
        assert call.dial_status == c["ami"]["b_dial_status"] == "ABORT"
        assert call.answer is None


@pytest.mark.parametrize("capture", CAPTURES, ids=capture_id)
def test_ordinary_traffic_folds_without_anomalies(capture: Any) -> None:
    """Every capture in fixtures/ is ordinary Asterisk traffic: no event is an anomaly."""
    assert [(a.kind, a.detail) for a in replay(capture).anomalies] == []


def test_snapshots_without_the_new_fields_still_decode() -> None:
    """A World encoded before ``origin``, ``caller_answer``, ``joined_late`` (queue) and
    ``caller_side`` existed decodes with their defaults."""
    world = replay(FIXTURES / "queue.ami", until=intent_cut()).world
    assert world.calls and world.channels
    old = msgspec.to_builtins(world)
    assert any(call["queue"] is not None for call in old["calls"].values())
    for call in old["calls"].values():
        del call["origin"], call["caller_answer"]
        if call["queue"] is not None:
            del call["queue"]["joined_late"]
    for ch in old["channels"].values():
        del ch["caller_side"]
    back = decode_world(msgspec.msgpack.encode(old))
    assert set(back.calls) == set(world.calls)
    assert all(c.origin == "" and c.caller_answer is None for c in back.calls.values())
    assert not any(ch.caller_side for ch in back.channels.values())


def intent_cut() -> float:
    """A moment in ``queue`` with a caller waiting in the queue."""
    for env in iter_envelopes(FIXTURES / "queue.ami"):
        if isinstance(env.item, QueueCallerJoin):
            return float(env.item.timestamp or 0.0) + 0.5
    raise AssertionError("no QueueCallerJoin")
