"""Queue machine against what Asterisk itself reports in its QueueStatus/QueueSummary replies.

Each list reply in a capture is Asterisk's own view of the queue at that moment; just before the
reply is applied, the state we built from live events must say the same (counters, members,
waiting callers and their positions). List items are reconciliation: they never produce live
change records.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tracker.capture import iter_frames
from tracker.events import QueueEntry, QueueMember, QueueParams, QueueSummary, envelopes
from tracker.events.envelope import Envelope
from tracker.reducer import Reducer
from tracker.state import Change, World
from tracker.state.queue import Caller, Member, Queue, QueueCallerJoined, QueueReconciled

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
LIVE = ["queue.ami", "lists.ami", "reconnect.ami", "load.ami.gz"]
"""Captures whose session saw every queue event from the start."""
LISTED = ["queue.ami", "lists.ami", "load.ami.gz"]
"""Those of them that also took a QueueStatus."""


def steps(capture: str) -> Iterator[tuple[Envelope, World, list[Change]]]:
    """Yield (envelope, world before it, changes it caused) — the world is the live one."""
    reducer = Reducer()
    for env in envelopes(iter_frames(FIXTURES / capture)):
        world = reducer.world
        yield env, world, reducer.apply(env)


@functools.cache
def checks(capture: str) -> dict[str, list[Any]]:
    """(ours, Asterisk's) pairs taken at each list item, BEFORE applying it (the state Asterisk
    describes), plus the change kinds list items caused."""
    out: dict[str, list[Any]] = {k: [] for k in ("params", "member", "entry", "summary", "list")}
    reducer = Reducer()
    for env in envelopes(iter_frames(FIXTURES / capture)):
        if not env.list_item:
            reducer.apply(env)
            continue
        item = env.item
        q = reducer.world.queues.get(str(getattr(item, "queue", "")))
        match item:
            case QueueParams():
                out["params"].append((_params_view(q), _params_view(item)))
            case QueueMember():
                m = None if q is None else q.members.get(str(item.location))
                out["member"].append((_member_view(m), _member_view(item)))
            case QueueEntry():
                c = None if q is None else q.callers.get(str(item.uniqueid))
                out["entry"].append((_entry_view(c), _entry_view(item)))
            case QueueSummary():
                ours = None if q is None else (len(q.members), len(q.callers))
                out["summary"].append((ours, (item.logged_in, item.callers)))
        out["list"].extend(
            (type(c).__name__, getattr(c, "action", None))
            for c in reducer.apply(env)
            if type(c).__module__ == "tracker.state.queue"
        )
    return out


def _params_view(q: Queue | QueueParams | None) -> tuple[int, ...] | None:
    if q is None:
        return None
    if isinstance(q, Queue):
        return (q.calls, q.holdtime, q.talktime, q.completed, q.abandoned)
    return (q.calls or 0, q.holdtime or 0, q.talk_time or 0, q.completed or 0, q.abandoned or 0)


def _member_view(m: Member | QueueMember | None) -> tuple[Any, ...] | None:
    if m is None:
        return None
    if isinstance(m, Member):
        return (m.name, m.penalty, m.paused, m.paused_reason, m.calls_taken, m.status)
    return (
        m.name_,
        m.penalty,
        bool(m.paused),
        m.paused_reason or "",
        m.calls_taken,
        m.status,
    )


def _entry_view(c: Caller | QueueEntry | None) -> tuple[Any, ...] | None:
    if c is None:
        return None
    if isinstance(c, Caller):
        return (c.position, c.channel, c.caller_id_num)
    return (c.position, c.channel, None if c.caller_id_num is None else str(c.caller_id_num))


@pytest.mark.parametrize("capture", LISTED)
def test_counters_equal_asterisk_queue_params(capture: str) -> None:
    """Waiting calls, app_queue's weighted hold/talk time averages, completed and abandoned
    (a queue with no live event yet is unknown to us: None)."""
    seen = checks(capture)["params"]
    assert seen
    for ours, theirs in seen:
        assert ours is None or ours == theirs
    assert any(ours is not None and theirs[1] > 0 for ours, theirs in seen)


@pytest.mark.parametrize("capture", LISTED)
def test_members_equal_asterisk_queue_member(capture: str) -> None:
    pairs = checks(capture)["member"]
    assert pairs
    for ours, theirs in pairs:
        assert ours == theirs


@pytest.mark.parametrize("capture", ["queue.ami", "lists.ami", "load.ami.gz"])
def test_waiting_callers_and_positions_equal_asterisk_queue_entry(capture: str) -> None:
    pairs = checks(capture)["entry"]
    assert pairs
    for ours, theirs in pairs:
        assert ours == theirs


@pytest.mark.parametrize("capture", ["queue.ami", "lists.ami"])
def test_queue_summary_counts(capture: str) -> None:
    pairs = checks(capture)["summary"]
    assert pairs
    for ours, theirs in pairs:
        assert ours == theirs


@pytest.mark.parametrize("capture", LISTED)
def test_list_items_change_nothing_we_track(capture: str) -> None:
    """QueueStatus over a live-tracked session only creates what had no live events (a static
    queue without members); it never updates or removes, and never emits live changes."""
    kinds = set(checks(capture)["list"])
    assert kinds <= {("QueueReconciled", "created")}


@pytest.mark.parametrize("capture", LIVE)
def test_everything_drains(capture: str) -> None:
    reducer = Reducer()
    world = reducer.fold(envelopes(iter_frames(FIXTURES / capture)))
    for q in world.queues.values():
        assert not q.callers
        assert not q.sessions
        assert q.calls == 0
        assert all(m.connected is None and m.ringing is None for m in q.members.values())


def test_positions_renumber_when_someone_leaves() -> None:
    """In load.ami up to 9 callers wait at once; every join reports Asterisk's position, which
    must be our count of callers ahead + 1 (so our renumbering on leave is right)."""
    checked = 0
    for _env, world, changes in steps("load.ami.gz"):
        for c in changes:
            if isinstance(c, QueueCallerJoined):
                q = world.queues[c.queue]
                assert c.position == len(q.callers)
                assert sorted(x.position for x in q.callers.values()) == list(
                    range(1, len(q.callers) + 1)
                )
                checked += 1
    assert checked == 61


def test_reconciled_is_a_change() -> None:
    assert issubclass(QueueReconciled, Change)
