"""Packed batches keep what storing a batch takes, and nothing a projection reads is lost."""

from __future__ import annotations

import itertools
from pathlib import Path

import msgspec
import pytest

from tests.helpers import FIXTURES
from tracker.events import CEL, Cdr
from tracker.events.base import AmiEvent, SessionStarted
from tracker.replay import capture_batches, plan_import
from tracker.state import Anomaly
from tracker.state.call import CallEnded
from tracker.store import Batch, SnapshotPolicy, open_store
from tracker.store.models import default_projections
from tracker.store.packed import (
    EVERYTHING,
    Needs,
    Packed,
    frame_envelopes,
    needs_of,
    pack,
)

CAPTURES = sorted(p.name for p in FIXTURES.glob("*.ami"))


def _batches(path: Path, tmp_path: Path) -> list[Batch]:
    url = f"sqlite:///{tmp_path / 'plan.sqlite'}"
    from tracker.store import migrate

    migrate.upgrade(url)
    with open_store(url) as store:
        plan = plan_import(store, store.ensure_server("pbx").id, path)
    return list(capture_batches(path, plan, SnapshotPolicy(every_frames=300), batch_frames=500))


def _old_versions(batch: Batch) -> list[str]:
    """The rule the writer applied to frames before batches were packed."""
    found = []
    for frame, env in zip(batch.frames, batch.envelopes, strict=True):
        if type(env.item) is SessionStarted and env.item.banner:
            found.append(env.item.banner)
        elif frame.kind.name == "RESPONSE" and frame.get("AsteriskVersion"):
            found.append(f"Asterisk {frame.get('AsteriskVersion')}")
    return found


@pytest.mark.parametrize("capture", CAPTURES)
def test_a_packed_batch_keeps_the_bytes_counts_and_the_frames_projections_read(
    capture: str, tmp_path: Path
) -> None:
    needs = needs_of(default_projections())
    assert needs.changes is not None and CallEnded in needs.changes and Anomaly in needs.changes
    for batch in _batches(FIXTURES / capture, tmp_path):
        packed = msgspec.msgpack.decode(msgspec.msgpack.encode(pack(batch, needs)), type=Packed)
        envs = batch.envelopes
        assert packed.count == len(batch.frames)
        assert packed.raw == b"".join(f.raw for f in batch.frames)
        assert list(packed.length_array()) == [len(f.raw) for f in batch.frames]
        assert list(packed.clock_array()) == list(batch.clocks)
        assert packed.first_seq == (envs[0].seq if envs else batch.session.first_seq)
        # live events and those with a time, by the rule the writer applied to envelopes
        live = [e for e in envs if isinstance(e.item, AmiEvent) and not e.list_item]
        assert packed.live == len(live)
        assert packed.stamped == sum(
            e.item.timestamp is not None or e.received_at is not None
            for e in live
            if isinstance(e.item, AmiEvent)
        )
        assert [v for _, v in packed.versions] == _old_versions(batch)
        kept = [c for c in batch.changes if type(c) in needs.changes]
        assert packed.change_records() == kept
        # the frames the reporting projection reads: Asterisk's records and the causes of
        # the changes it handles, decoded again from the bytes exactly as the fold saw them
        assert packed.records is not None
        wanted = {e.seq - packed.first_seq for e in envs if type(e.item) in (Cdr, CEL)} | {
            c.seq - packed.first_seq for c in kept if 0 <= c.seq - packed.first_seq < len(envs)
        }
        assert packed.records == sorted(wanted)
        assert frame_envelopes(packed, packed.records) == [envs[i] for i in packed.records]


def test_everything_keeps_every_change_and_every_envelope(tmp_path: Path) -> None:
    batches = _batches(FIXTURES / "reconnect.ami", tmp_path)
    for batch in batches:
        packed = pack(batch, EVERYTHING)
        assert packed.records is None
        assert packed.change_records() == list(batch.changes)
        assert frame_envelopes(packed) == list(batch.envelopes)
    assert any(batch.notes for batch in batches)
    notes = pack(batches[-1], EVERYTHING)
    assert msgspec.msgpack.decode(msgspec.msgpack.encode(notes), type=Packed).notes == dict(
        batches[-1].notes
    )


def test_needs_combine() -> None:
    a = Needs(frozenset({CallEnded}), frozenset({Cdr}))
    b = Needs(frozenset({Anomaly}), frozenset({CEL}), causes=True)
    assert a | b == Needs(frozenset({CallEnded, Anomaly}), frozenset({Cdr, CEL}), True)
    assert (a | EVERYTHING) == Needs(None, None, False)
    # a projection that does not say what it reads gets everything
    assert needs_of([lambda *a, **k: None]) == Needs(None, None, False)
    assert list(itertools.islice(needs_of([]).changes or (), 2)) == [Anomaly]


@pytest.mark.parametrize("capture", CAPTURES)
def test_the_compiled_columns_equal_the_python_ones(
    capture: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tracker.store import packed as module

    if module._compiled is None:
        pytest.fail("the compiled codec is not built (pip install -e . builds it)")
    needs = needs_of(default_projections())
    batches = _batches(FIXTURES / capture, tmp_path)
    compiled = [pack(b, needs) for b in batches] + [pack(b, EVERYTHING) for b in batches]
    monkeypatch.setattr(module, "_compiled", None)
    pure = [pack(b, needs) for b in batches] + [pack(b, EVERYTHING) for b in batches]
    assert compiled == pure


def test_the_compiled_columns_refuse_what_they_do_not_know() -> None:
    from tracker.ami import speedups
    from tracker.store.blocks import KINDS

    compiled = speedups.compiled()
    assert compiled is not None
    with pytest.raises(TypeError, match="not a Frame"):
        compiled.frame_columns(["not a frame"], KINDS, 4)
    with pytest.raises(ValueError, match="one code per envelope"):
        compiled.envelope_columns([], b"x", 0, None)
    assert compiled.frame_columns([], KINDS, 4) == (b"", b"", b"", {})
    assert compiled.envelope_columns([], b"", 0, frozenset()) == (None, 0, 0, [])
