"""Frame blocks without a database: every capture's frames survive encode -> decode exactly,
and both replay paths (the pure one, the compiled codec's) give the capture's envelopes."""

from __future__ import annotations

import itertools
from pathlib import Path

import msgspec
import pytest

from tests.helpers import CAPTURES, capture_id
from tracker.ami import FrameKind
from tracker.capture import iter_frames
from tracker.events.envelope import Envelope
from tracker.replay import iter_envelopes
from tracker.store import blocks
from tracker.store.blocks import (
    BlockError,
    EnvelopeDecoder,
    FrameRebuilder,
    decode_block,
    encode_block,
)


@pytest.mark.parametrize("capture", CAPTURES, ids=capture_id)
@pytest.mark.parametrize("compiled_path", [False, True])
def test_blocks_give_back_frames_and_envelopes(
    capture: Path, compiled_path: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(blocks, "_COMPILED_CODEC", compiled_path)
    frames = list(iter_frames(capture))
    expected = list(iter_envelopes(capture))
    rebuilder, decoder = FrameRebuilder(), EnvelopeDecoder()
    got: list[Envelope] = []
    for start in range(0, len(frames), 700):
        chunk = frames[start : start + 700]
        clocks = [float(i) for i in range(len(chunk))]
        block = decode_block(blocks.ZSTD, encode_block(chunk, clocks))
        assert block.data == b"".join(f.raw for f in chunk)
        assert block.clocks == tuple(clocks)
        for fa, fb in zip(rebuilder.frames(block), chunk, strict=True):
            assert (fa.kind, fa.raw, fa.problem) == (fb.kind, fb.raw, fb.problem)
            if fb.kind is not FrameKind.ANOMALY:
                assert fa.headers == fb.headers
        got.extend(decoder.envelopes(block, start))
        tail = list(decoder.envelopes(block, start, lo=len(chunk) // 2))
        assert [e.seq for e in tail] == list(range(start + len(chunk) // 2, start + len(chunk)))
    assert len(got) == len(expected)
    for a, b in zip(got, expected, strict=True):
        assert (a.seq, a.list_item, a.received_at) == (b.seq, b.list_item, b.received_at)
        assert msgspec.to_builtins(a.item) == msgspec.to_builtins(b.item)
        assert type(a.item) is type(b.item)


def test_receive_times_are_kept_when_the_fold_used_them() -> None:
    frames = list(itertools.islice(iter_frames(CAPTURES[0]), 50))
    received = [1000.0 + i for i in range(50)]
    block = decode_block(blocks.ZSTD, encode_block(frames, [0.0] * 50, received))
    assert block.received == received
    envs = list(EnvelopeDecoder().envelopes(block, 0))
    assert [e.received_at for e in envs] == received
    without = decode_block(blocks.ZSTD, encode_block(frames, [0.0] * 50, [None] * 50))
    assert without.received is None


def test_corrupt_blocks_are_errors_not_crashes() -> None:
    frames = list(itertools.islice(iter_frames(CAPTURES[0]), 10))
    data = encode_block(frames, [0.0] * 10)
    with pytest.raises(BlockError):
        decode_block(blocks.ZSTD, data[: len(data) // 2])
    with pytest.raises(BlockError):
        decode_block(99, data)
    with pytest.raises(BlockError):
        decode_block(blocks.ZSTD, blocks.compress(b"\x05\x00\x00\x00nonsense"))
