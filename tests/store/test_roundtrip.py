"""Import every fixture into SQLite and PostgreSQL, then read it back: the worlds, the bytes.

The world rebuilt from the store must equal folding the capture file, at the end of the log
and right after every snapshot taken along the way; an export gives the imported bytes back.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.helpers import CAPTURES, capture_id
from tracker.capture import read_bytes
from tracker.events import AmiEvent
from tracker.reducer import Reducer
from tracker.replay import import_capture, iter_envelopes, replay
from tracker.state import encode_world
from tracker.store import FrameBlock, Snapshot, SnapshotPolicy, open_store
from tracker.store.blocks import decode_snapshot

pytestmark = pytest.mark.parametrize("capture", CAPTURES, ids=capture_id)


def _reference_worlds(capture: Path, seqs: set[int]) -> dict[int, bytes]:
    reducer = Reducer()
    out: dict[int, bytes] = {}
    for env in iter_envelopes(capture):
        reducer.apply(env)
        if env.seq in seqs:
            out[env.seq] = encode_world(reducer.world)
    return out


def test_world_from_the_store_equals_folding_the_file(store_url: str, capture: Path) -> None:
    policy = SnapshotPolicy(every_frames=500, every_seconds=60.0)
    with open_store(store_url) as store:
        stats = import_capture(store, capture, server="pbx", policy=policy)
        expected = replay(capture)
        assert stats.frames == stats.written == expected.events
        at_end = store.world_at("pbx")
        assert at_end.seq == expected.events - 1
        assert encode_world(at_end.world) == encode_world(expected.world)

        with store.engine.connect() as conn:
            snaps = conn.execute(select(Snapshot.seq, Snapshot.codec, Snapshot.data)).all()
        assert len(snaps) == stats.snapshots
        assert len(snaps) >= min(expected.events // 500, 1)
        seqs = {s.seq for s in snaps}
        probes = seqs | {s + 1 for s in seqs} | {s + 7 for s in seqs} | {0, expected.events // 2}
        probes = {p for p in probes if p < expected.events}
        reference = _reference_worlds(capture, probes)
        for snap in snaps:  # the stored snapshot itself
            assert encode_world(decode_snapshot(snap.codec, snap.data)) == reference[snap.seq]
        for seq in sorted(probes):  # nearest snapshot + the frames after it
            got = store.world_at("pbx", seq=seq)
            assert got.seq == seq
            assert got.snapshot_seq == max((s for s in seqs if s <= seq), default=None)
            assert encode_world(got.world) == reference[seq], f"world after seq {seq}"


def test_world_at_a_time_equals_replay_until(store_url: str, capture: Path) -> None:
    with open_store(store_url) as store:
        import_capture(store, capture, server="pbx", policy=SnapshotPolicy(every_frames=300))
        clocks: list[float] = [
            e.item.timestamp
            for e in iter_envelopes(capture)
            if isinstance(e.item, AmiEvent) and e.item.timestamp is not None
        ]
        cuts = {0.0}
        if clocks:
            cuts = {clocks[len(clocks) // 3], clocks[(2 * len(clocks)) // 3], clocks[-1] - 0.5}
        for cut in cuts:
            expected = replay(capture, until=cut)
            got = store.world_at("pbx", time=cut)
            assert got.seq == expected.world.seq
            assert encode_world(got.world) == encode_world(expected.world)


def test_export_gives_the_imported_bytes_back(store_url: str, capture: Path) -> None:
    with open_store(store_url) as store:
        import_capture(store, capture, server="pbx")
        server_id = store.server("pbx").id
        data = b"".join(b"".join(raws) for _, _, raws in store.iter_raw(server_id))
    assert data == read_bytes(capture)


def test_reimport_is_idempotent(store_url: str, capture: Path) -> None:
    with open_store(store_url) as store:
        first = import_capture(store, capture, server="pbx")
        with store.engine.connect() as conn:
            blocks = conn.execute(select(func.count()).select_from(FrameBlock)).scalar_one()
            snaps = conn.execute(select(func.count()).select_from(Snapshot)).scalar_one()
        again = import_capture(store, capture, server="pbx")
        assert again.written == 0
        assert again.skipped == first.written
        with store.engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(FrameBlock)).scalar_one() == blocks
            assert conn.execute(select(func.count()).select_from(Snapshot)).scalar_one() == snaps
        assert store.server("pbx").next_seq == first.frames
        assert math.isfinite(store.world_at("pbx").world.clock)
