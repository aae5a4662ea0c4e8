"""A gap between two sessions, folded offline: ``load.ami.gz`` cut in two captures with frames
lost between them (no resync lists: what the fold does with the banner and live events alone).
"""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from tests.helpers import FIXTURES
from tracker.ami import FrameKind
from tracker.capture import iter_frames
from tracker.replay import replay
from tracker.state.call import Call


def _comparable(record: Call) -> dict[str, object]:
    data = msgspec.to_builtins(record)
    assert isinstance(data, dict)
    return {k: v for k, v in data.items() if "seq" not in k}


def _stamp(frame: object) -> float | None:
    value = getattr(frame, "get")("Timestamp")  # noqa: B009 - a Frame
    return None if value is None else float(value)


@pytest.mark.parametrize(("cut", "lost"), [(6000, 900), (15000, 2500)])
def test_a_gap_flags_the_calls_it_cut_and_keeps_the_others_exact(
    tmp_path: Path, cut: int, lost: int
) -> None:
    frames = list(iter_frames(FIXTURES / "load.ami.gz"))
    head = 2  # banner and login response start each session
    first = tmp_path / "first.ami"
    second = tmp_path / "second.ami"
    first.write_bytes(b"".join(f.raw for f in frames[:cut]))
    second.write_bytes(b"".join(f.raw for f in [*frames[:head], *frames[cut + lost :]]))
    whole = {r.linkedid: r for r in replay(FIXTURES / "load.ami.gz").call_records}
    result = replay([first, second])
    gap = result.world.gap
    assert gap is not None
    assert (gap.session, gap.seq, gap.last_seq) == (2, cut, cut - 1)
    stamps = [_stamp(f) if f.kind is FrameKind.EVENT else None for f in frames]
    assert gap.since == max(s for s in stamps[:cut] if s is not None)
    assert gap.until == next(s for s in stamps[cut + lost :] if s is not None)

    # calls up at the cut are flagged (those that are still up, without a resync to close
    # them, have no record yet); a call wholly on one side of the gap is recorded exactly
    up = {k for k, r in whole.items() if r.first_seq < cut <= r.last_seq}
    assert gap.calls_cut == len(up) > 0
    records = {r.linkedid: r for r in result.call_records}
    for k, r in records.items():
        u = whole[k]
        if u.last_seq < cut or u.first_seq >= cut + lost:
            assert not r.gap
            assert _comparable(r) == _comparable(u)
        elif k in up:
            assert r.gap
    assert {k for k, r in records.items() if r.gap} >= up & records.keys()
    before = {k for k, r in whole.items() if r.last_seq < cut}
    after = {k for k, r in whole.items() if r.first_seq >= cut + lost}
    assert before | after <= records.keys()
    assert not records.keys() & {
        k for k, r in whole.items() if cut <= r.first_seq and r.last_seq < cut + lost
    }
