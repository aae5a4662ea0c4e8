"""Hypothesis: generated frames survive encode -> any chunking -> parse exactly."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.helpers import feed
from tracker.ami import FrameKind, encode_headers

KEY = st.from_regex(r"[A-Za-z][A-Za-z0-9_()-]{0,20}", fullmatch=True)
VALUE = st.text(
    alphabet=st.characters(exclude_categories=["Cs"], exclude_characters="\r\n"),
    max_size=40,
).map(lambda v: v.strip(" ") if v.startswith(" ") else v)
HEADER = st.tuples(KEY, VALUE)
FRAME = st.tuples(
    st.sampled_from(["Event", "Response"]),
    VALUE.filter(lambda v: v != "Follows"),
    st.lists(HEADER, max_size=12),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(FRAME, min_size=1, max_size=8), st.data())
def test_generated_frames_round_trip_in_any_chunking(frames: list, data: st.DataObject) -> None:  # type: ignore[type-arg]
    banner = b"Asterisk Call Manager/11.0.0\r\n"
    encoded = [encode_headers([(first, name), *rest]) for first, name, rest in frames]
    stream = banner + b"".join(encoded)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=20)))
    chunks = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
    out = feed(stream, chunks)
    assert out[0].kind is FrameKind.BANNER
    assert [f.raw for f in out[1:]] == encoded
    for f, (first, name, rest) in zip(out[1:], frames, strict=True):
        assert f.headers == ((first, name), *rest)
        assert f.problem is None


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400), st.integers(1, 50))
def test_arbitrary_bytes_never_lose_anything(blob: bytes, step: int) -> None:
    chunks = [blob[i : i + step] for i in range(0, len(blob), step)]
    feed(blob, chunks)  # asserts that the frames' raw bytes concatenate to the input
