"""Properties of the fold: deterministic, resumable from a snapshot, never raises.

* folding a capture twice gives equal Worlds (and byte-equal encodings) and equal changes;
* folding up to a mid-point, encoding/decoding the World (``tracker.state.snapshot``) and folding
  the rest gives the same World and the same change records as one uninterrupted fold;
* Hypothesis: arbitrary sequences of real events (any order, duplicated, list flags flipped)
  never raise, and the channel/call/bridge cross-references stay consistent.
"""

from __future__ import annotations

import functools
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers import FIXTURES
from tracker.events.envelope import Envelope
from tracker.reducer import Reducer
from tracker.replay import iter_envelopes
from tracker.state import World, decode_world, encode_world, snapshot

CAPTURES = [*sorted(p.name for p in FIXTURES.glob("*.ami")), "load.ami.gz"]
_enc = msgspec.msgpack.Encoder()


@functools.cache
def envelopes(capture: str) -> tuple[Envelope, ...]:
    return tuple(iter_envelopes(FIXTURES / capture))


def fold(envs: Any, reducer: Reducer | None = None) -> tuple[Reducer, list[bytes]]:
    reducer = reducer if reducer is not None else Reducer()
    changes = [_enc.encode(c) for env in envs for c in reducer.apply(env)]
    return reducer, changes


def check_consistent(world: World) -> None:
    for uid, ch in world.channels.items():
        call = world.calls[ch.linkedid]
        assert uid in call.live
        if ch.bridge is not None:
            assert uid in world.bridges[ch.bridge].members
    for lid, call in world.calls.items():
        assert call.live, lid
        assert len(set(call.live)) == len(call.live)
        for uid in call.live:
            assert world.channels[uid].linkedid == lid
            assert uid in call.legs


@pytest.mark.parametrize("capture", CAPTURES)
def test_fold_is_deterministic_and_resumable(capture: str) -> None:
    envs = envelopes(capture)
    first, changes1 = fold(envs)
    second, changes2 = fold(envs)
    assert first.world == second.world
    assert encode_world(first.world) == encode_world(second.world)
    assert changes1 == changes2
    check_consistent(first.world)

    mid = len(envs) // 2
    head, head_changes = fold(envs[:mid])
    check_consistent(head.world)
    restored = Reducer(decode_world(encode_world(head.world)))
    assert restored.world == head.world
    rest, rest_changes = fold(envs[mid:], restored)
    assert rest.world == first.world
    assert head_changes + rest_changes == changes1


def test_snapshot_is_independent() -> None:
    envs = envelopes("basic.ami")
    reducer = Reducer()
    for env in envs[:60]:
        reducer.apply(env)
    snap = snapshot(reducer.world)
    frozen = encode_world(snap)
    assert reducer.world.channels
    for env in envs[60:]:
        reducer.apply(env)
    assert encode_world(snap) == frozen
    assert reducer.world != snap


@functools.cache
def pool() -> tuple[Envelope, ...]:
    out: list[Envelope] = []
    for capture in ("transfers.ami", "reconnect.late.ami", "queue.ami", "lists.ami", "park.ami"):
        out.extend(envelopes(capture))
    return tuple(out)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    st.lists(
        st.tuples(st.integers(min_value=0, max_value=10_000), st.booleans(), st.booleans()),
        max_size=300,
    )
)
def test_arbitrary_real_events_never_raise(picks: list[tuple[int, bool, bool]]) -> None:
    events = pool()
    reducer = Reducer()
    for seq, (i, flip, now) in enumerate(picks):
        env = events[i % len(events)]
        reducer.apply(
            Envelope(seq, env.item, env.list_item != flip, 1795664000.0 + seq if now else None)
        )
    check_consistent(reducer.world)
    decode_world(encode_world(reducer.world))
