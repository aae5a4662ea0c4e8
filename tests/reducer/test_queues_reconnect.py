"""Late joiner: ``reconnect.late.ami`` connects while calls are up and seeds queue state from
``QueueStatus``. Right after that resync its queues must equal those of the full session
``reconnect.ami`` at the same moment (the late session's clock, a Timestamp cut), and the rest of
the late session must fold without queue anomalies."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from tracker.capture import iter_frames
from tracker.events import ConfbridgeListComplete, QueueStatusComplete, envelopes
from tracker.reducer import Reducer
from tracker.reducer import queues as queues_machine
from tracker.state import Anomaly, Change, World, snapshot
from tracker.state.queue import AgentCompleted, QueueReconciled

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
RESYNC_DONE = (QueueStatusComplete, ConfbridgeListComplete)
QUEUE_ANOMALIES = queues_machine.ANOMALIES


@functools.cache
def late() -> tuple[World, float, tuple[Change, ...]]:
    """The late session's world just after its last queue/conference list completed, the cut
    time, and the changes of the rest of the session."""
    reducer = Reducer()
    envs = list(envelopes(iter_frames(FIXTURES / "reconnect.late.ami")))
    last = max(i for i, e in enumerate(envs) if e.list_item and isinstance(e.item, RESYNC_DONE))
    for env in envs[: last + 1]:
        reducer.apply(env)
    at_resync = snapshot(reducer.world)
    rest: list[Change] = []
    for env in envs[last + 1 :]:
        rest.extend(reducer.apply(env))
    return at_resync, at_resync.clock, tuple(rest)


def full_until(cut: float) -> World:
    """``reconnect.ami`` folded up to (not past) the cut time."""
    reducer = Reducer()
    for env in envelopes(iter_frames(FIXTURES / "reconnect.ami")):
        ts = getattr(env.item, "timestamp", None)
        if ts is not None and ts > cut:
            break
        reducer.apply(env)
    return reducer.world


def queues_view(world: World) -> dict[str, Any]:
    return {
        name: (
            {i: (m.name, m.paused, m.penalty, m.status) for i, m in q.members.items()},
            {u: (c.position, c.channel) for u, c in q.callers.items()},
        )
        for name, q in world.queues.items()
        if q.members or q.callers
    }


def test_queues_after_resync_equal_full_session_at_same_time() -> None:
    world, cut, _ = late()
    reference = full_until(cut)
    assert queues_view(reference)
    assert queues_view(world) == queues_view(reference)


def test_rest_of_late_session_has_no_queue_anomalies() -> None:
    """The agent that QueueStatus showed in a call completes it: a completion, no anomaly."""
    _, _, rest = late()
    assert [c for c in rest if isinstance(c, AgentCompleted)]
    assert [c for c in rest if isinstance(c, Anomaly) and c.kind in QUEUE_ANOMALIES] == []


def test_resync_created_only_what_the_late_session_had_not_seen() -> None:
    world, _, rest = late()
    assert not [c for c in rest if isinstance(c, QueueReconciled)]
    assert world.queues["sales"].members


def test_joining_queue_ami_mid_call_seeds_the_waiting_caller() -> None:
    """Fold ``queue.ami`` from the last live event before its second QueueStatus (caller 1 talks
    to 601, caller 2 waits): the QueueEntry seeds caller 2 with its join time from ``Wait``; its
    abandon then folds without anomaly and agrees with queue_log.

    List items carry no Timestamp, so the fold dates them at the last live event before the
    list: the join estimate is early by at most the silence around the list (+1 s, ``Wait`` is
    whole seconds), which bounds the comparison."""
    envs = list(envelopes(iter_frames(FIXTURES / "queue.ami")))
    entry = next(i for i, e in enumerate(envs) if type(e.item).__name__ == "QueueEntry")
    start = max(
        i for i, e in enumerate(envs[:entry]) if getattr(e.item, "timestamp", None) is not None
    )
    while envs[start].list_item or getattr(envs[start].item, "timestamp", None) is None:
        start -= 1
    first_list = next(i for i in range(start, entry) if envs[i].list_item)
    start = max(
        i for i in range(first_list) if getattr(envs[i].item, "timestamp", None) is not None
    )
    reducer = Reducer()
    changes: list[Change] = []
    for env in envs[start:]:
        changes.extend(reducer.apply(env))
    log = [
        line.split("|")
        for line in (FIXTURES / "queue.queue_log").read_text().splitlines()
        if "|ENTERQUEUE|" in line or "|ABANDON|" in line
    ]
    seeded = [c for c in changes if isinstance(c, QueueReconciled) and c.subject == "caller"]
    abandoned = [c for c in changes if type(c).__name__ == "QueueCallerAbandoned"]
    assert [c.key for c in seeded] == [r[1] for r in log if r[4] == "ABANDON"]
    join = next(int(r[0]) for r in log if r[1] == seeded[0].key and r[4] == "ENTERQUEUE")
    wait = next(int(r[7]) for r in log if r[4] == "ABANDON")
    assert len(abandoned) == 1
    ours_wait = getattr(abandoned[0], "wait", None)
    assert ours_wait is not None
    before = envs[start].item
    after = next(e.item for e in envs[first_list:] if getattr(e.item, "timestamp", None))
    silence = float(getattr(after, "timestamp", 0.0)) - float(getattr(before, "timestamp", 0.0))
    assert 0 < silence < 5
    assert wait - 1 <= ours_wait <= wait + 1 + silence
    assert abs((abandoned[0].at - ours_wait) - join) <= 1 + silence
    # That QueueStatus was filtered to ``sales``: members of ``support`` first show up in
    # QueueMemberStatus snapshots, the only anomaly allowed (the member is created from it).
    odd = [c for c in changes if isinstance(c, Anomaly) and c.kind in QUEUE_ANOMALIES]
    assert {(c.kind, c.detail.split(" in ")[1].split()[0]) for c in odd} <= {
        ("queue_member_unknown", "support")
    }
    sent = (FIXTURES / "queue.sent").read_bytes().split(b"\r\n\r\n")
    statuses = [b for b in sent if b.startswith(b"Action: QueueStatus")]
    assert b"Queue: sales" in statuses[1]
