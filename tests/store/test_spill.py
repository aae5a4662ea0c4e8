"""The persister's spill file keeps batches exactly: frames, envelopes, clocks, every kind of
change record, snapshots and session notes, in order, consumed only when acknowledged."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import msgspec
import pytest

from tests.helpers import CAPTURES, capture_id
from tracker.replay import ImportPlan, capture_batches
from tracker.runtime.persister import default_spill_path
from tracker.runtime.spill import SpillFile
from tracker.state import World
from tracker.store import Batch, Packed, SessionInfo, SnapshotPolicy
from tracker.store.packed import EVERYTHING, pack


def _same(a: Batch, b: Batch) -> None:
    assert a.session == b.session
    assert [f.raw for f in a.frames] == [f.raw for f in b.frames]
    assert [f.kind for f in a.frames] == [f.kind for f in b.frames]
    assert [(e.seq, e.list_item, e.received_at) for e in a.envelopes] == [
        (e.seq, e.list_item, e.received_at) for e in b.envelopes
    ]
    assert msgspec.to_builtins([e.item for e in a.envelopes]) == msgspec.to_builtins(
        [e.item for e in b.envelopes]
    )
    assert list(a.clocks) == list(b.clocks)
    assert [type(c) for c in a.changes] == [type(c) for c in b.changes]
    assert msgspec.to_builtins(list(a.changes)) == msgspec.to_builtins(list(b.changes))
    assert a.snapshot == b.snapshot
    assert dict(a.notes) == dict(b.notes)


@pytest.mark.parametrize("capture", CAPTURES, ids=capture_id)
def test_spilled_batches_come_back_exactly(capture: Path, tmp_path: Path) -> None:
    plan = ImportPlan(SessionInfo("k", "live", 0, "x"), World(), 0)
    batches = list(capture_batches(capture, plan, SnapshotPolicy(every_frames=300)))
    notes = {"connected_at": datetime(2026, 11, 26, tzinfo=UTC), "disconnect_reason": "x"}
    batches[0] = batches[0]._replace(notes=notes)
    spill = SpillFile(tmp_path / "spill.bin")
    half = len(batches) // 2
    spill.append(batches[:half])
    spill.append(batches[half:])
    frames = sum(len(b.frames) for b in batches)
    assert spill.frames == frames
    # a reopened file (a restart) knows what it holds
    again = SpillFile(tmp_path / "spill.bin")
    assert (again.frames, again.batches) == (frames, len(batches))
    got: list[Batch | Packed] = []
    while again.batches:
        chunk, offset = again.read(500)
        assert chunk
        got.extend(chunk)
        again.advance(offset, chunk)
    assert not (tmp_path / "spill.bin").exists()
    assert len(got) == len(batches)
    for a, b in zip(got, batches, strict=True):
        assert isinstance(a, Batch)
        _same(a, b)


def test_rewrite_keeps_the_order(tmp_path: Path) -> None:
    plan = ImportPlan(SessionInfo("k", "live", 0, None), World(), 0)
    batches = list(capture_batches(CAPTURES[0], plan, SnapshotPolicy(), batch_frames=20))
    assert len(batches) >= 5
    spill = SpillFile(tmp_path / "spill.bin")
    spill.append(batches[1:3])
    chunk, _ = spill.read(1)
    assert len(chunk) == 1  # read, not acknowledged: still there
    spill.rewrite([batches[0]], batches[3:])
    got, _ = SpillFile(tmp_path / "spill.bin").read(10**9)
    assert all(isinstance(b, Batch) for b in got)
    assert [b.envelopes[0].seq if isinstance(b, Batch) and b.envelopes else None for b in got] == [
        b.envelopes[0].seq if b.envelopes else None for b in batches
    ]


def test_default_spill_path_is_per_server_and_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Frames spilled for one database are never picked up by a persister of another one."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    a = default_spill_path("pbx", "sqlite:///a.sqlite")
    assert a.parent == tmp_path / "ami-tracker"
    assert a == default_spill_path("pbx", f"sqlite:///{tmp_path / 'a.sqlite'}")
    assert a != default_spill_path("pbx", "sqlite:///b.sqlite")
    assert a != default_spill_path("other", "sqlite:///a.sqlite")
    pg = "postgresql+psycopg://user:s3cret@db:5432/calls"
    assert default_spill_path("pbx", pg) == default_spill_path(
        "pbx", "postgresql+psycopg://user:other@db:5432/calls"
    )
    assert "s3cret" not in str(default_spill_path("pbx", pg))


def test_packed_batches_are_kept_as_they_are(tmp_path: Path) -> None:
    """An import's batches are packed already: spilled and read back unchanged, counted by
    their frames, in order with batches of the other kind."""
    plan = ImportPlan(SessionInfo("k", "import", 0, None), World(), 0)
    batches = list(capture_batches(CAPTURES[0], plan, SnapshotPolicy(), batch_frames=50))
    packed = [pack(b, EVERYTHING) for b in batches]
    mixed: list[Batch | Packed] = [x for pair in zip(packed, batches, strict=True) for x in pair]
    spill = SpillFile(tmp_path / "spill.bin")
    spill.append(mixed)
    again = SpillFile(tmp_path / "spill.bin")
    assert again.frames == 2 * sum(len(b.frames) for b in batches)
    got, _ = again.read(10**9)
    assert got[0::2] == packed
    for a, b in zip(got[1::2], batches, strict=True):
        assert isinstance(a, Batch)
        _same(a, b)
