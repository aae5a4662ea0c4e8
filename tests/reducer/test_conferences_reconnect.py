"""Late joiner: after ``reconnect.late.ami``'s ConfbridgeListRooms/ConfbridgeList resync, its
conference rooms and participants equal those of ``reconnect.ami`` at the same Timestamp cut, and
the later ConfbridgeLeave/ConfbridgeEnd for them fold without anomalies."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from tracker.capture import iter_frames
from tracker.events import ConfbridgeListComplete, envelopes
from tracker.reducer import Reducer
from tracker.reducer import conferences as conferences_machine
from tracker.state import Anomaly, Change, World, snapshot
from tracker.state.conference import ConferenceEnded, ParticipantLeft

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"


@functools.cache
def late() -> tuple[World, tuple[Change, ...]]:
    reducer = Reducer()
    envs = list(envelopes(iter_frames(FIXTURES / "reconnect.late.ami")))
    last = max(
        i for i, e in enumerate(envs) if e.list_item and isinstance(e.item, ConfbridgeListComplete)
    )
    for env in envs[: last + 1]:
        reducer.apply(env)
    at_resync = snapshot(reducer.world)
    rest: list[Change] = []
    for env in envs[last + 1 :]:
        rest.extend(reducer.apply(env))
    return at_resync, tuple(rest)


def full_until(cut: float) -> World:
    reducer = Reducer()
    for env in envelopes(iter_frames(FIXTURES / "reconnect.ami")):
        ts = getattr(env.item, "timestamp", None)
        if ts is not None and ts > cut:
            break
        reducer.apply(env)
    return reducer.world


def rooms_view(world: World) -> dict[str, Any]:
    return {
        name: {
            u: (p.channel, p.admin, p.muted, p.caller_id_num) for u, p in room.participants.items()
        }
        for name, room in world.conferences.items()
    }


def test_participants_after_resync_equal_full_session_at_same_time() -> None:
    world, _ = late()
    reference = full_until(world.clock)
    assert rooms_view(reference)
    assert rooms_view(world) == rooms_view(reference)


def test_join_times_estimated_from_answered_time() -> None:
    """ConfbridgeList's AnsweredTime (whole seconds) dates a participant we never saw join."""
    world, _ = late()
    reference = full_until(world.clock)
    for name, room in world.conferences.items():
        for uid, p in room.participants.items():
            joined = reference.conferences[name].participants[uid].joined_at
            assert p.joined_at is not None
            assert joined is not None
            assert abs(p.joined_at - joined) <= 1.0


def test_later_leaves_and_end_fold_cleanly() -> None:
    world, rest = late()
    leaves = [c for c in rest if isinstance(c, ParticipantLeft)]
    assert {c.uniqueid for c in leaves} == {
        u for room in world.conferences.values() for u in room.participants
    }
    ended = [c for c in rest if isinstance(c, ConferenceEnded)]
    assert [c.participants_left for c in ended] == [0]
    mine = conferences_machine.ANOMALIES
    assert [c for c in rest if isinstance(c, Anomaly) and c.kind in mine] == []
