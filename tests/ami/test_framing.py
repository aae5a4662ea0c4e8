"""Framing: every capture gives identical frames however it is chunked (h11-style feeding)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import CAPTURES, SMALL_CAPTURES, bytewise, feed, load, random_chunks, whole
from tracker.ami import FrameKind, encode_headers
from tracker.ami.parser import build_frame


@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: p.name)
def test_whole_and_random_chunks_agree(path: Path) -> None:
    data = load(path)
    reference = feed(data, whole(data))
    assert reference[0].kind is FrameKind.BANNER
    assert reference[0].name.startswith("Asterisk Call Manager/")
    for seed in (1, 2):
        assert feed(data, random_chunks(data, seed)) == reference
    assert not [f for f in reference if f.kind is FrameKind.ANOMALY]


@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: p.name)
def test_one_byte_at_a_time(path: Path) -> None:
    data = load(path)
    assert feed(data, bytewise(data)) == feed(data, whole(data))


def test_frame_counts_match_raw_terminators() -> None:
    """Independent count: one frame per CRLFCRLF, plus the banner line."""
    for path in CAPTURES:
        data = load(path)
        frames = feed(data, whole(data))
        assert len(frames) == data.count(b"\r\n\r\n") + 1, path.name


@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: p.name)
def test_round_trip_frame_bytes_frame(path: Path) -> None:
    data = load(path)
    for frame in feed(data, whole(data))[1:]:
        again = build_frame(encode_headers(frame.headers), encode_headers(frame.headers)[:-4])
        assert again.headers == frame.headers
        assert again.kind is frame.kind or frame.kind is FrameKind.LIST_ITEM
        if not frame.fallback and b"\n\r\n" not in frame.raw.replace(b"\r\n", b"\r\r"):
            # canonical CRLF frames re-encode to their exact bytes
            assert encode_headers(frame.headers) == frame.raw


def test_utf8_split_across_reads_and_latin1_fallback() -> None:
    data = load(SMALL_CAPTURES[0].parent / "encoding.ami")
    frames = feed(data, bytewise(data))
    names = {v for f in frames for k, v in f.headers if k == "CallerIDName"}
    assert "Zoë Ñúñez 日本" in names
    assert "José Müller" in names  # latin-1 bytes decoded by the per-frame fallback
    fallback = [f for f in frames if f.fallback]
    assert fallback and all(b"Jos\xe9" in f.raw for f in fallback)
    # frames that are valid UTF-8 never fall back
    for f in frames:
        try:
            f.raw.decode("utf-8")
        except UnicodeDecodeError:
            assert f.fallback
        else:
            assert not f.fallback
