"""The pure codec's caches stay small whatever the stream (long distinct lines are not kept)."""

from __future__ import annotations

from tracker.ami.parser import PyFrameParser
from tracker.events import decode


def test_line_cache_keeps_no_long_lines() -> None:
    parser = PyFrameParser(expect_banner=False)
    for i in range(2000):
        value = f"{i:08d}" + "x" * 20_000
        parser.feed(f"Event: UserEvent\r\nUserEvent: Big\r\nData: {value}\r\n\r\n".encode())
        frame = parser.next_frame()
        assert frame is not None
        assert frame.headers[-1] == ("Data", value)
    held = sum(len(line) for line in parser._lines)
    assert held < 64 * 1024, held


def test_variable_cache_keeps_no_long_lists() -> None:
    decode._VARS.clear()
    for i in range(500):
        values = [f"LONG={i:06d}" + "y" * 5_000, "SHORT=1"]
        assert decode._cached_var_dict(values)["LONG"].startswith(f"{i:06d}")
    assert len(decode._VARS) == 0
    assert decode._cached_var_dict(["A=1", "B=2"]) == {"A": "1", "B": "2"}
    assert len(decode._VARS) == 1
