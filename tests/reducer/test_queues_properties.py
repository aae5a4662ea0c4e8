"""Robustness of the queue, conference, parking and device machines: arbitrary orders of real
events (live or re-flagged as list items) never raise, and folding the same envelopes twice
gives equal worlds. Events that do not fit become anomalies."""

from __future__ import annotations

import functools
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from tracker.capture import iter_frames
from tracker.events import envelopes
from tracker.events.envelope import Envelope
from tracker.reducer import Reducer, conferences, devices, parking, queues
from tracker.state import encode_world

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
MINE = queues.EVENTS | conferences.EVENTS | parking.EVENTS | devices.EVENTS


@functools.cache
def pool() -> tuple[Envelope, ...]:
    out: list[Envelope] = []
    for name in ("queue", "confbridge", "park", "lists", "reconnect.late"):
        out.extend(
            env
            for env in envelopes(iter_frames(FIXTURES / f"{name}.ami"))
            if type(env.item) in MINE
        )
    return tuple(out)


def test_pool_covers_every_machine() -> None:
    kinds = {type(env.item) for env in pool()}
    for machine in (queues, conferences, parking, devices):
        assert kinds & machine.EVENTS


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(min_value=0, max_value=10_000), st.booleans()),
        min_size=1,
        max_size=120,
    )
)
def test_any_order_never_raises_and_is_deterministic(picks: list[tuple[int, bool]]) -> None:
    events = pool()
    stream = [
        Envelope(seq, events[i % len(events)].item, flip != events[i % len(events)].list_item)
        for seq, (i, flip) in enumerate(picks)
    ]
    first, second = Reducer(), Reducer()
    for env in stream:
        first.apply(env)
    for env in stream:
        second.apply(env)
    assert encode_world(first.world) == encode_world(second.world)
    for q in first.world.queues.values():
        assert q.calls == len(q.callers)
