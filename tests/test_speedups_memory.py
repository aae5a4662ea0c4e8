"""The compiled codec holds no memory beyond its bounded caches: running it again and again
over the same input (frames, hostile bytes, decode fallbacks) does not grow what is allocated."""

from __future__ import annotations

import gc
import tracemalloc

from tests.helpers import FIXTURES
from tests.test_speedups_differential import compiled_codec, frames_of
from tracker.capture import read_bytes
from tracker.events.decode import envelopes_py

HOSTILE = (
    b"Asterisk Call Manager/x\r\n\r\n\r\nEvent: Newexten\nBare: lf\r\n\r\n"
    b"Event: DialBegin\r\nCallerIDName: Jos\xe9\r\n\r\nno colon\r\n\r\n"
    b"Event: Hangup\r\nCause: x\r\nCause: 2\r\nChanVariable(Local/1): A=1\r\n__extra__: y\r\n\r\n"
    b"Event: Huge\r\nData: " + b"z" * 5000 + b"\r\n\r\nEvent: Unterminated\r\n"
)


def run_once(data: bytes) -> int:
    codec = compiled_codec()
    frames = frames_of(codec, [data[i : i + 1000] for i in range(0, len(data), 1000)])
    envs = list(codec.envelopes(frames))
    assert len(envs) == len(list(envelopes_py(frames)))
    return len(envs)


def test_no_growth_over_repeated_runs() -> None:
    data = read_bytes(FIXTURES / "transfers.ami") + HOSTILE
    for _ in range(3):  # warm the caches (bounded: they are part of the baseline)
        run_once(data)
    gc.collect()
    tracemalloc.start()
    try:
        run_once(data)
        gc.collect()
        before, _ = tracemalloc.get_traced_memory()
        for _ in range(30):
            run_once(data)
        gc.collect()
        after, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # a leak of one object per frame would be > 30 runs x 760 frames x 16 B = 360 KB
    assert after - before < 20_000, after - before


def test_long_lines_do_not_fill_the_line_cache() -> None:
    """Distinct long header lines (up to the frame cap) are not kept by the compiled framer's
    line cache: what it holds stays small whatever the stream."""
    frames = [
        b"Event: Big\r\nData-%d: " % i + bytes([65 + i % 26]) * 4000 + b"%d\r\n\r\n" % i
        for i in range(300)
    ]
    parser = compiled_codec().parser(expect_banner=False)
    gc.collect()
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        count = 0
        for frame in frames:  # one at a time: the parser's buffer stays small
            parser.feed(frame)
            while parser.next_frame() is not None:
                count += 1
        gc.collect()
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 300
    assert held - before < 300 * 1000, held - before  # 300 x 8 KB if the lines were kept
