"""Hypothesis: however batches are cut, retried and re-delivered (as after crashes and lost
acknowledgements), the log holds every frame once and folds to the same World."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers import FIXTURES
from tracker.capture import read_bytes
from tracker.replay import capture_batches, plan_import, replay
from tracker.state import encode_world
from tracker.store import BatchWriter, SnapshotPolicy, migrate, open_store

CAPTURE = FIXTURES / "transfers.ami"
EXPECTED = encode_world(replay(CAPTURE).world)
DATA = read_bytes(CAPTURE)


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    size=st.integers(1, 400),
    block=st.sampled_from([7, 64, 1024]),
    steps=st.lists(st.tuples(st.integers(0, 6), st.integers(1, 8)), min_size=1, max_size=30),
    restarts=st.lists(st.booleans(), min_size=30, max_size=30),
)
def test_retried_and_recut_batches_store_each_frame_once(
    tmp_path_factory: object,
    size: int,
    block: int,
    steps: list[tuple[int, int]],
    restarts: list[bool],
) -> None:

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 's.sqlite'}"
        migrate.upgrade(url)
        with open_store(url) as store:
            info = store.ensure_server("pbx")
            plan = plan_import(store, info.id, CAPTURE)
            batches = list(
                capture_batches(CAPTURE, plan, SnapshotPolicy(every_frames=97), batch_frames=size)
            )
            writer = BatchWriter(store.engine, info.id, block_frames=block)
            done = 0  # batches acknowledged
            for (back, ahead), restart in zip(steps, restarts, strict=False):
                if restart:  # a new process: nothing in memory, the same database
                    writer = BatchWriter(store.engine, info.id, block_frames=block)
                start = max(0, done - back)  # re-deliver some acknowledged batches, then more
                end = min(len(batches), done + ahead)
                writer.write(batches[start:end])
                done = max(done, end)
            writer.write(batches[max(0, done - 2) :])
            assert store.server("pbx").next_seq == replay(CAPTURE).events
            got = b"".join(b"".join(r) for _, _, r in store.iter_raw(info.id))
            assert got == DATA
            assert encode_world(store.world_at("pbx").world) == EXPECTED
