"""Queue machine vs Asterisk's own queue_log (ground truth), on every capture with queue calls.

Rules: queue_log names a member by interface on ADDMEMBER/REMOVEMEMBER/PENALTY and by MemberName on
CONNECT/PAUSE/UNPAUSE/RINGNOANSWER/COMPLETE*; queue_log times are whole seconds (truncated), so
times and waits agree within 1 s. ``wait`` is our own measure (connect or abandon time minus the
join time we saw), checked against queue_log's hold time, not copied from the event.
"""

from __future__ import annotations

import functools
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tracker.capture import iter_frames
from tracker.events import envelopes
from tracker.reducer import Reducer
from tracker.reducer import queues as queues_machine
from tracker.state import Anomaly, Change, World
from tracker.state.queue import (
    AgentCompleted,
    AgentConnected,
    AgentRingNoAnswer,
    QueueCallerAbandoned,
    QueueCallerJoined,
    QueueCallerLeft,
    QueueMemberAdded,
    QueueMemberPaused,
    QueueMemberPenaltyChanged,
    QueueMemberRemoved,
)

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
CAPTURES = {
    "queue": "queue.ami",
    "lists": "lists.ami",
    "reconnect": "reconnect.ami",
    "load": "load.ami.gz",
}


@functools.cache
def fold(capture: str) -> tuple[World, tuple[Change, ...]]:
    reducer = Reducer()
    changes: list[Change] = []
    for env in envelopes(iter_frames(FIXTURES / capture)):
        changes.extend(reducer.apply(env))
    return reducer.world, tuple(changes)


def queue_log(name: str) -> list[list[str]]:
    lines = (FIXTURES / f"{name}.queue_log").read_text().splitlines()
    return [line.split("|") for line in lines if line]


def ours(capture: str, cls: type[Any]) -> list[Any]:
    return [c for c in fold(capture)[1] if type(c) is cls]


def lines(name: str, *events: str) -> list[list[str]]:
    return [r for r in queue_log(name) if r[4] in events]


def near(at: float, epoch: str) -> bool:
    return abs(at - int(epoch)) <= 1.0


NAMES = sorted(CAPTURES)


@pytest.mark.parametrize("name", NAMES)
def test_joins_match_enterqueue(name: str) -> None:
    truth = {(r[2], r[1]): r for r in lines(name, "ENTERQUEUE")}
    joins = {(c.queue, c.uniqueid): c for c in ours(CAPTURES[name], QueueCallerJoined)}
    assert truth, "ground truth has callers"
    assert set(joins) == set(truth)
    for key, c in joins.items():
        r = truth[key]
        assert c.position == int(r[7])
        assert c.caller_id_num == r[6]
        assert near(c.at, r[0])


@pytest.mark.parametrize("name", NAMES)
def test_connects_match(name: str) -> None:
    truth = {(r[2], r[1]): r for r in lines(name, "CONNECT")}
    got = {(c.queue, c.uniqueid): c for c in ours(CAPTURES[name], AgentConnected)}
    assert set(got) == set(truth)
    member_names = {
        (c.queue, c.interface): c.member_name for c in ours(CAPTURES[name], QueueMemberAdded)
    }
    for key, c in got.items():
        _, _, queue, agent, _, hold, agent_uid, _ring = truth[key]
        assert c.member_name == agent
        assert member_names[(queue, c.interface)] == agent
        assert c.agent_uniqueid == agent_uid
        assert c.hold_time == int(hold)
        assert c.wait is not None
        assert abs(c.wait - int(hold)) <= 1.0
        assert near(c.at, truth[key][0])


@pytest.mark.parametrize("name", NAMES)
def test_caller_left_wait_matches_connect_hold_time(name: str) -> None:
    """The wait measured at QueueCallerLeave (our own clock) agrees with queue_log's hold time."""
    truth = {(r[2], r[1]): int(r[5]) for r in lines(name, "CONNECT")}
    left = {(c.queue, c.uniqueid): c for c in ours(CAPTURES[name], QueueCallerLeft)}
    for key, hold in truth.items():
        wait = left[key].wait
        assert wait is not None
        assert abs(wait - hold) <= 1.0


@pytest.mark.parametrize("name", NAMES)
def test_abandons_match(name: str) -> None:
    truth = {(r[2], r[1]): r for r in lines(name, "ABANDON")}
    got = {(c.queue, c.uniqueid): c for c in ours(CAPTURES[name], QueueCallerAbandoned)}
    assert set(got) == set(truth)
    for key, c in got.items():
        _, _, _, _, _, pos, orig, wait = truth[key]
        assert c.position == int(pos)
        assert c.original_position == int(orig)
        assert c.wait is not None
        assert abs(c.wait - int(wait)) <= 1.0
        assert c.hold_time is not None
        assert abs(c.hold_time - int(wait)) <= 1


@pytest.mark.parametrize("name", NAMES)
def test_exits_without_agent_match(name: str) -> None:
    """Callers that left neither connected nor abandoned = queue_log EXIT* lines (none here)."""
    exits = {(r[2], r[1]) for r in queue_log(name) if r[4].startswith("EXIT")}
    left = {(c.queue, c.uniqueid) for c in ours(CAPTURES[name], QueueCallerLeft)}
    connected = {(c.queue, c.uniqueid) for c in ours(CAPTURES[name], AgentConnected)}
    abandoned = {(c.queue, c.uniqueid) for c in ours(CAPTURES[name], QueueCallerAbandoned)}
    assert left - connected - abandoned == exits


@pytest.mark.parametrize("name", NAMES)
def test_completions_match(name: str) -> None:
    truth = {(r[2], r[1]): r for r in lines(name, "COMPLETECALLER", "COMPLETEAGENT")}
    got = {(c.queue, c.uniqueid): c for c in ours(CAPTURES[name], AgentCompleted)}
    assert set(got) == set(truth)
    connects = {(c.queue, c.uniqueid): c for c in ours(CAPTURES[name], AgentConnected)}
    for key, c in got.items():
        when, _, _, agent, event, hold, talk, _orig = truth[key]
        assert c.member_name == agent
        assert c.reason == event.removeprefix("COMPLETE").lower()
        assert c.hold_time == int(hold)
        talked = c.at - connects[key].at
        assert abs(talked - int(talk)) <= 1.0
        assert near(c.at, when)


@pytest.mark.parametrize("name", NAMES)
def test_ring_no_answer_match(name: str) -> None:
    truth = sorted((r[2], r[1], r[3], int(r[5])) for r in lines(name, "RINGNOANSWER"))
    got = sorted(
        (c.queue, c.uniqueid, c.member_name, c.ring_time)
        for c in ours(CAPTURES[name], AgentRingNoAnswer)
    )
    assert got == truth


@pytest.mark.parametrize("name", NAMES)
def test_member_set_over_time(name: str) -> None:
    """ADDMEMBER/REMOVEMEMBER in order, PAUSED flag on add, and the final member set."""
    truth = [
        (r[2], r[3], r[4], r[5] == "PAUSED" if r[4] == "ADDMEMBER" else None)
        for r in lines(name, "ADDMEMBER", "REMOVEMEMBER")
    ]
    got = [
        (c.queue, c.interface, "ADDMEMBER", c.paused)
        if isinstance(c, QueueMemberAdded)
        else (c.queue, c.interface, "REMOVEMEMBER", None)
        for c in fold(CAPTURES[name])[1]
        if isinstance(c, QueueMemberAdded | QueueMemberRemoved)
    ]
    assert got == truth
    members: Counter[tuple[str, str]] = Counter()
    for queue, interface, event, _ in truth:
        members[(queue, interface)] += 1 if event == "ADDMEMBER" else -1
    world = fold(CAPTURES[name])[0]
    final = {(q.name, m) for q in world.queues.values() for m in q.members}
    assert final == {k for k, v in members.items() if v > 0}


@pytest.mark.parametrize("name", NAMES)
def test_pause_and_penalty_match(name: str) -> None:
    """PAUSE/UNPAUSE (by member name, with reason) and PENALTY (by interface), in order.

    Our QueueMemberPaused is emitted per QueueMemberPause event and whenever a member snapshot
    shows a different pause state; consecutive repeats of the same state are collapsed.
    """
    truth_pause = [
        (r[2], r[3], r[4] == "PAUSE", r[5] if r[4] == "PAUSE" else "")
        for r in lines(name, "PAUSE", "UNPAUSE")
    ]
    got_pause: list[tuple[str, str, bool, str]] = []
    last: dict[tuple[str, str], tuple[bool, str]] = {}
    for c in ours(CAPTURES[name], QueueMemberPaused):
        state = (c.paused, c.reason if c.paused else "")
        if last.get((c.queue, c.member_name)) != state:
            got_pause.append((c.queue, c.member_name, *state))
        last[(c.queue, c.member_name)] = state
    assert got_pause == truth_pause
    truth_penalty = [(r[2], r[3], int(r[5])) for r in lines(name, "PENALTY")]
    got_penalty = [
        (c.queue, c.interface, c.penalty) for c in ours(CAPTURES[name], QueueMemberPenaltyChanged)
    ]
    assert got_penalty == truth_penalty


def test_queue_scenario_has_every_kind() -> None:
    """Guard: the ground truth really exercises pause, penalty, abandon and both completions."""
    kinds = {r[4] for r in queue_log("queue")}
    assert {"PAUSE", "UNPAUSE", "PENALTY", "ABANDON", "COMPLETEAGENT", "COMPLETECALLER"} <= kinds


@pytest.mark.parametrize("name", NAMES)
def test_no_queue_anomalies(name: str) -> None:
    kinds = Counter(
        c.kind
        for c in fold(CAPTURES[name])[1]
        if isinstance(c, Anomaly) and c.kind in queues_machine.ANOMALIES
    )
    assert not kinds
