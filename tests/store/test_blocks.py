"""Frame blocks without a database: every capture's frames survive encode -> decode exactly,
and both replay paths (the pure one, the compiled codec's) give the capture's envelopes."""

from __future__ import annotations

import itertools
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import msgspec
import pytest

from tests.helpers import CAPTURES, capture_id
from tracker.ami import FrameKind
from tracker.capture import iter_frames
from tracker.events import decode_frame
from tracker.events.envelope import Envelope
from tracker.replay import iter_envelopes
from tracker.store import blocks
from tracker.store.blocks import (
    BlockError,
    EnvelopeDecoder,
    FrameRebuilder,
    decode_block,
    encode_block,
    open_block,
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
        payload = open_block(blocks.ZSTD, encode_block(chunk, clocks))
        whole = list(decoder.payload_envelopes(payload, start))
        assert _plain(whole) == _plain(list(decoder.envelopes(block, start)))
        lo, hi = len(chunk) // 3, 2 * len(chunk) // 3
        middle = list(decoder.payload_envelopes(payload, start, lo, hi))
        assert _plain(middle) == _plain(whole[lo:hi])
    assert len(got) == len(expected)
    for a, b in zip(got, expected, strict=True):
        assert (a.seq, a.list_item, a.received_at) == (b.seq, b.list_item, b.received_at)
        assert msgspec.to_builtins(a.item) == msgspec.to_builtins(b.item)
        assert type(a.item) is type(b.item)


def _plain(envs: list[Envelope]) -> list[object]:
    return [
        (e.seq, e.list_item, e.received_at, e.problem, msgspec.to_builtins(e.item)) for e in envs
    ]


def test_a_reader_that_stops_halfway_leaves_the_next_one_exact() -> None:
    """The decoder's parser is shared by its readers: bytes a reader left in it (it stopped
    in the middle of a run) must not leak into the next one."""
    frames = list(iter_frames(CAPTURES[0]))
    payload = open_block(blocks.ZSTD, encode_block(frames, [0.0] * len(frames)))
    decoder = EnvelopeDecoder()
    expected = _plain(list(decoder.payload_envelopes(payload, 0)))
    first = decoder.payload_envelopes(payload, 0)
    assert _plain([next(first) for _ in range(3)]) == expected[:3]
    assert _plain(list(decoder.payload_envelopes(payload, 0))) == expected
    assert _plain(list(first)) == expected[3:]  # the one that stopped carries on unharmed


def test_frames_that_do_not_reparse_to_their_bytes_are_an_error() -> None:
    """A run of stored frames whose bytes cut into more frames than stored (one lost its
    place) is reported, not replayed with shifted seqs."""
    frames = list(itertools.islice(iter_frames(CAPTURES[0]), 1, 6))  # after the banner
    payload = open_block(blocks.ZSTD, encode_block(frames, [0.0] * 5))
    merged = payload._replace(kinds=payload.kinds[:4], lengths=payload.lengths[:3])
    merged.lengths.append(payload.lengths[3] + payload.lengths[4])
    with pytest.raises(BlockError, match="do not re-parse"):
        list(EnvelopeDecoder().payload_envelopes(merged, 0))


def test_a_problem_noted_on_an_event_frame_comes_back_on_its_envelope() -> None:
    frames = list(itertools.islice(iter_frames(CAPTURES[0]), 12))
    noted = next(i for i, f in enumerate(frames) if f.kind is FrameKind.EVENT and i > 3)
    frames[noted].problem = "list 'x' has more than 10 items"
    payload = open_block(blocks.ZSTD, encode_block(frames, [0.0] * len(frames)))
    envs = list(EnvelopeDecoder().payload_envelopes(payload, 100))
    assert [e.seq for e in envs] == list(range(100, 100 + len(frames)))
    assert [e.problem for e in envs] == [f.problem for f in frames]
    assert msgspec.to_builtins(envs[noted].item) == msgspec.to_builtins(decode_frame(frames[noted]))


def test_zstd_contexts_are_per_thread() -> None:
    """A zstd context used by two threads at once crashes the process (the store decompresses
    in a worker thread while the persister compresses in another)."""
    data = b"".join(f.raw for f in iter_frames(CAPTURES[0])) * 20

    def roundtrip() -> bool:
        return all(blocks.decompress(blocks.ZSTD, blocks.compress(data)) == data for _ in range(30))

    with ThreadPoolExecutor(4) as pool:
        assert all(pool.map(lambda _: roundtrip(), range(8)))


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
