"""Resync: list replies reconcile state after (re)connecting; they are never live events.

* ``reconnect.late`` joined while 4 calls were up: once its CoreShowChannels, BridgeList and
  ConfbridgeList are complete (a conference participant's answer comes from the last), its
  channels, bridges and calls equal those of the full session ``reconnect`` at the same
  Timestamp cut, and nothing it later sees for them is an anomaly.
* A disconnection simulated on ``load.ami.gz`` (frames before its mid-run CoreShowChannels are
  dropped and a new session starts): the list closes exactly the channels that hung up during
  the gap ("ended while disconnected") and the state equals the unbroken fold at that point.
* The mid-run list itself closes nothing in the connected session.
"""

from __future__ import annotations

import functools
from typing import Any

from tests.helpers import FIXTURES
from tracker.events import (
    AmiResponse,
    BridgeListComplete,
    ConfbridgeListComplete,
    CoreShowChannelsComplete,
    Hangup,
    SessionStarted,
)
from tracker.events.envelope import Envelope
from tracker.reducer import Reducer
from tracker.replay import iter_envelopes, replay
from tracker.state import Anomaly, World
from tracker.state.call import CallEnded
from tracker.state.channel import ChannelHungUp
from tracker.state.world import ListReconciled

MY_ANOMALIES = {
    "unknown_channel",
    "unknown_bridge",
    "not_in_bridge",
    "duplicate_channel",
    "duplicate_bridge",
    "dial_end_without_begin",
    "transfer_unknown_call",
}


def channel_keys(world: World) -> dict[str, tuple[Any, ...]]:
    return {
        uid: (ch.name, ch.linkedid, ch.state, ch.bridge, ch.caller_num, ch.connected_num)
        for uid, ch in world.channels.items()
    }


def bridge_keys(world: World) -> dict[str, tuple[Any, ...]]:
    return {bid: (b.type, b.technology, sorted(b.members)) for bid, b in world.bridges.items()}


def call_keys(world: World) -> dict[str, tuple[Any, ...]]:
    return {
        lid: (sorted(c.live), c.answer is not None, c.caller.num) for lid, c in world.calls.items()
    }


@functools.cache
def late_after_resync() -> tuple[Reducer, int, list[Any]]:
    """Fold the late session until its first lists completed; then the rest."""
    reducer = Reducer()
    envs = list(iter_envelopes(FIXTURES / "reconnect.late.ami"))
    done: set[type[Any]] = set()
    cut_seq = -1
    for env in envs:
        reducer.apply(env)
        if type(env.item) in (CoreShowChannelsComplete, BridgeListComplete, ConfbridgeListComplete):
            done.add(type(env.item))
            if len(done) == 3:
                cut_seq = env.seq
                break
    return reducer, cut_seq, envs


def test_late_session_equals_full_session_at_the_cut() -> None:
    reducer, _cut_seq, _ = late_after_resync()
    late = reducer.snapshot()
    full = replay(FIXTURES / "reconnect.ami", until=late.clock).world
    assert len(late.channels) == 12
    assert channel_keys(late) == channel_keys(full)
    assert bridge_keys(late) == bridge_keys(full)
    assert call_keys(late) == call_keys(full)
    assert all(ch.from_list for ch in late.channels.values())
    pairs = {uid: ch.local_peer for uid, ch in late.channels.items()}
    assert pairs == {uid: ch.local_peer for uid, ch in full.channels.items()}


def test_late_session_later_events_are_not_anomalies() -> None:
    reducer, cut_seq, envs = late_after_resync()
    reducer = Reducer(reducer.snapshot())
    kinds: list[str] = []
    hangups = 0
    for env in envs[cut_seq + 1 :]:
        hangups += type(env.item) is Hangup
        for c in reducer.apply(env):
            if isinstance(c, Anomaly) and c.kind in MY_ANOMALIES:
                kinds.append(c.kind)
    assert hangups == 16
    assert kinds == []
    assert reducer.world.channels == {}
    assert reducer.world.calls == {}
    assert {b.type for b in reducer.world.bridges.values()} <= {"parking"}


@functools.cache
def load_envelopes() -> list[Envelope]:
    return list(iter_envelopes(FIXTURES / "load.ami.gz"))


def list_bounds(envs: list[Envelope]) -> tuple[int, int]:
    """Indexes of the mid-run CoreShowChannels' Response and of its Complete."""
    end = next(i for i, e in enumerate(envs) if type(e.item) is CoreShowChannelsComplete)
    action_id = envs[end].item.action_id  # type: ignore[union-attr]
    start = next(
        i
        for i, e in enumerate(envs)
        if isinstance(e.item, AmiResponse) and e.item.action_id == action_id
    )
    return start, end


def test_mid_run_list_closes_nothing_while_connected() -> None:
    envs = load_envelopes()
    reducer = Reducer()
    closed: list[str] = []
    for env in envs:
        for c in reducer.apply(env):
            if type(c) is ListReconciled:
                closed.extend(c.closed)
            elif type(c) is ChannelHungUp:
                assert not c.ended_while_disconnected
    assert closed == []
    assert reducer.world.lists == {}  # every list answer (QueueStatus too) was closed


def test_list_after_a_gap_closes_what_ended_meanwhile() -> None:
    envs = load_envelopes()
    start, end = list_bounds(envs)
    gap_from = start - 2000  # ~6 s of load traffic lost
    full = Reducer()
    for env in envs[: end + 1]:
        full.apply(env)
    broken = Reducer()
    for env in envs[:gap_from]:
        broken.apply(env)
    before = set(broken.world.channels)
    hung_in_gap = {e.item.uniqueid for e in envs[gap_from:start] if type(e.item) is Hangup} & before
    assert len(hung_in_gap) > 20
    broken.apply(Envelope(gap_from, SessionStarted(banner="Asterisk Call Manager/11.0.0")))
    calls_before = set(broken.world.calls)
    closed: set[str] = set()
    ended: list[CallEnded] = []
    for env in envs[start : end + 1]:
        for c in broken.apply(env):
            if type(c) is ChannelHungUp and c.ended_while_disconnected:
                closed.add(c.uniqueid)
            elif type(c) is CallEnded:
                ended.append(c)
    assert closed == hung_in_gap
    # Calls whose every leg ended in the gap are closed by the list and say so.
    disconnected = [c.record for c in ended if c.seq == end]
    assert disconnected
    assert all(r.ended_while_disconnected for r in disconnected)
    assert {r.linkedid for r in disconnected} <= calls_before
    assert channel_keys(broken.world).keys() == channel_keys(full.world).keys()
    for uid, ch in broken.world.channels.items():
        other = full.world.channels[uid]
        assert (ch.name, ch.linkedid, ch.state) == (other.name, other.linkedid, other.state)
    assert set(broken.world.calls) == set(full.world.calls)
    for lid, call in broken.world.calls.items():
        assert sorted(call.live) == sorted(full.world.calls[lid].live)


def test_late_conference_participant_answered_from_the_list() -> None:
    """A participant met only in ConfbridgeList is answered ``AnsweredTime`` before the list,
    with the room as callee, like its record in the full session (whole seconds, list items have
    no Timestamp: within 2 s)."""
    late = {c.linkedid: c for c in replay(FIXTURES / "reconnect.late.ami").call_records}
    full = {c.linkedid: c for c in replay(FIXTURES / "reconnect.ami").call_records}
    listed = [c for c in late.values() if c.conference is not None and c.joined_late]
    assert listed
    for call in listed:
        real = full[call.linkedid]
        assert call.callee is not None and real.callee is not None
        assert call.callee.num == real.callee.num == call.conference
        assert call.answer is not None and real.answer is not None
        assert abs(call.answer - real.answer) < 2.0
