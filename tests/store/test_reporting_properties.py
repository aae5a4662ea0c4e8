"""Hypothesis: the projection never fails on what the fold emits for arbitrary sequences of real
events (any order, duplicated, list flags flipped, cut into batches anywhere), and the call
records read back are still exactly the fold's."""

from __future__ import annotations

import functools
import itertools
import tempfile
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from tests.helpers import FIXTURES
from tests.store.reporting_support import create_schema, database, new_session
from tracker.events.envelope import Envelope
from tracker.reducer import Reducer
from tracker.replay import iter_envelopes
from tracker.state import Change
from tracker.state.call import Call, CallEnded
from tracker.store.projection import project_batch
from tracker.store.reporting_query import call_records


@functools.cache
def pool() -> tuple[Envelope, ...]:
    out: list[Envelope] = []
    for capture in ("transfers.ami", "reconnect.late.ami", "queue.ami", "lists.ami", "park.ami"):
        out.extend(iter_envelopes(FIXTURES / capture))
    return tuple(out)


@pytest.fixture(scope="module")
def engine() -> Iterator[Engine]:
    with tempfile.TemporaryDirectory() as tmp, database("sqlite", Path(tmp)) as db:
        create_schema(db)
        yield db


_servers = itertools.count(1)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
    ],
)
@given(
    picks=st.lists(
        st.tuples(st.integers(min_value=0, max_value=10_000), st.booleans(), st.booleans()),
        max_size=250,
    ),
    cuts=st.lists(st.integers(min_value=1, max_value=60), min_size=1, max_size=20),
)
def test_projection_of_arbitrary_real_events(
    engine: Engine, picks: list[tuple[int, bool, bool]], cuts: list[int]
) -> None:
    events = pool()
    name = f"h{next(_servers)}"
    server_id, session_id = new_session(engine, name)
    reducer = Reducer()
    envs = [
        Envelope(
            seq,
            events[i % len(events)].item,
            events[i % len(events)].list_item != flip,
            1795664000.0 + seq if now else None,
        )
        for seq, (i, flip, now) in enumerate(picks)
    ]
    ended: list[Call] = []
    start = 0
    for size in itertools.cycle(cuts):
        batch = envs[start : start + size]
        if not batch:
            break
        changes: list[Change] = [c for env in batch for c in reducer.apply(env)]
        ended.extend(c.record for c in changes if type(c) is CallEnded)
        with engine.begin() as conn:
            project_batch(
                conn, server_id=server_id, session_id=session_id, envelopes=batch, changes=changes
            )
        start += size
    with engine.connect() as conn:
        stored = list(call_records(conn, server=name))
    expected = sorted(ended, key=lambda c: c.start)
    assert [msgspec.to_builtins(c) for c in stored] == [msgspec.to_builtins(c) for c in expected]
