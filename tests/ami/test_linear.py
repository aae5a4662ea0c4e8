"""The framer's work is linear in its input, whatever the input (no wall-clock assertion).

The parser's buffer is swapped for a ``bytearray`` that counts the bytes each search, slice and
deletion touches; that work must stay within a small multiple of the input size. The inputs are
the known worst cases: a stray CRLF after every frame (once quadratic: the rest of the buffer
was split again after each frame), back-to-back oversized frames, long runs of line breaks.
"""

from __future__ import annotations

from typing import Any, SupportsIndex

import pytest

from tests.helpers import FIXTURES, load
from tracker.ami import FrameKind, FrameParser
from tracker.ami.parser import PyFrameParser

BANNER = b"Asterisk Call Manager/22.0.0\r\n"
MB = 1 << 20


class CountingBuffer(bytearray):
    """A bytearray that adds up the bytes its searches, slices and deletions touch."""

    work = 0

    def find(self, sub: Any, start: Any = None, end: Any = None) -> int:
        at = super().find(sub, start, end)
        lo, hi = _bounds(self, start, end)
        self.work += (at - lo + len(sub)) if at >= 0 else hi - lo
        return at

    def rfind(self, sub: Any, start: Any = None, end: Any = None) -> int:
        at = super().rfind(sub, start, end)
        lo, hi = _bounds(self, start, end)
        self.work += (hi - at) if at >= 0 else hi - lo
        return at

    def __getitem__(self, key: Any) -> Any:
        got = super().__getitem__(key)
        self.work += len(got) if isinstance(key, slice) else 1
        return got

    def __delitem__(self, key: SupportsIndex | slice) -> None:
        super().__delitem__(key)
        self.work += len(self)  # the memmove of what is left, at most


def _bounds(buf: bytearray, start: int | None, end: int | None) -> tuple[int, int]:
    lo = 0 if start is None else max(0, start)
    hi = len(buf) if end is None else min(len(buf), end)
    return lo, max(lo, hi)


def work(data: bytes, step: int, **kwargs: Any) -> tuple[int, int]:
    """(counted work, frames) of framing ``data`` fed in pieces of ``step`` bytes.

    The pure-Python framer (its buffer is instrumented); the compiled one counts its own work:
    tests/test_speedups_differential.py runs the same cases on it.
    """
    parser = PyFrameParser(**kwargs)
    buf = parser._buf = CountingBuffer()
    frames = 0
    raw = []
    for i in range(0, len(data), step):
        parser.feed(data[i : i + step])
        while (frame := parser.next_frame()) is not None:
            frames += 1
            raw.append(frame.raw)
    parser.feed(b"")
    while (frame := parser.next_frame()) is not None:
        frames += 1
        raw.append(frame.raw)
    assert b"".join(raw) == data
    return buf.work, frames


def stray_crlf(size: int) -> bytes:
    """Tiny frames, each followed by a stray CRLF: the worst case of the old split."""
    return BANNER + b"Event: Ping\r\nA: b\r\n\r\n\r\n" * (size // 24)


def load_with_stray_crlf(size: int) -> bytes:
    data = load(FIXTURES / "load.ami.gz")[:size]
    return data.replace(b"\r\n\r\n", b"\r\n\r\n\r\n")


def oversized(size: int) -> bytes:
    """Frames just over a 1 KB limit, back to back, with normal ones in between."""
    big = b"Event: Big\r\nData: " + b"x" * 1100 + b"\r\n\r\n"
    small = b"Event: Small\r\nA: b\r\n\r\n"
    return BANNER + (big + small * 3) * (size // (len(big) + 3 * len(small)))


def line_breaks(size: int) -> bytes:
    """Runs of line breaks longer than the frame limit between frames."""
    unit = b"Event: A\r\n\r\n" + b"\r\n" * 3000 + b"\n\r" * 10
    return BANNER + unit * (size // len(unit))


CASES = {
    "stray CRLF": (stray_crlf, {}),
    "load with stray CRLF": (load_with_stray_crlf, {}),
    "oversized frames": (oversized, {"max_frame_size": 1024}),
    "line-break runs": (line_breaks, {"max_frame_size": 1024}),
}


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("step", [MB, 1 << 16, 1 << 12])
def test_work_is_linear(case: str, step: int) -> None:
    make, kwargs = CASES[case]
    data = make(MB)
    counted, frames = work(data, step, **kwargs)
    assert frames > 1000
    assert counted <= 4 * len(data), f"{counted / len(data):.1f} bytes of work per input byte"
    # and 8x the input costs about 8x the work (quadratic would be ~64x)
    eight, _ = work(make(8 * MB), step, **kwargs)
    assert eight <= 9 * counted


def test_one_byte_at_a_time_stays_linear() -> None:
    data = stray_crlf(64 * 1024)
    counted, _ = work(data, 1)
    assert counted <= 8 * len(data)


def test_line_break_runs_are_capped_at_the_frame_limit() -> None:
    """A run of line breaks is handed out in pieces of max_frame_size, whatever the chunking."""
    data = b"Event: A\r\n\r\n" + b"\r\n" * 1500 + b"Event: B\r\n\r\n"
    for step, parser_cls in (
        (s, p) for s in (len(data), 7, 1) for p in (FrameParser, PyFrameParser)
    ):
        parser = parser_cls(max_frame_size=1024, expect_banner=False)
        out = []
        for i in range(0, len(data), step):
            parser.feed(data[i : i + step])
            while (frame := parser.next_frame()) is not None:
                out.append(frame)
        parser.feed(b"")
        while (frame := parser.next_frame()) is not None:
            out.append(frame)
        assert [len(f.raw) for f in out] == [12, 1024, 1024, 952, 12]
        assert [f.kind for f in out] == [FrameKind.EVENT, *[FrameKind.ANOMALY] * 3, FrameKind.EVENT]
        assert out[-1].name == "B"
