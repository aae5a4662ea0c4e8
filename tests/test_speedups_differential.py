"""Differential tests: the compiled codec (``tracker.ami._speedups``) against the pure-Python
reference, on every capture in every chunking and on Hypothesis-generated hostile streams.

Each test runs the same input through both codecs in one run (``CODECS`` is a parameter where a
test exercises one codec, and a pair otherwise), so the suite checks both whichever codec is
active. "Identical" is strict: frames compare equal (kind, raw, headers, fallback, problem,
ActionID), and typed items, anomalies and the folded World compare by ``repr`` (type, every
field, dict order, NaN included).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

import msgspec
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tests.ami.test_linear import CASES as LINEAR_CASES
from tests.ami.test_linear import MB, stray_crlf
from tests.helpers import CAPTURES, SMALL_CAPTURES, capture_id
from tracker.ami import AmiConnection, Frame, connection, encode_headers, speedups
from tracker.ami.parser import PyFrameParser
from tracker.capture import read_bytes
from tracker.events import decode
from tracker.events.envelope import Envelope
from tracker.events.registry import EVENT_TYPES
from tracker.replay import ReplayResult, fold


@dataclass(frozen=True)
class Codec:
    name: str
    parser: type[Any]
    decode_headers: Callable[[tuple[tuple[str, str], ...]], Any]
    envelopes: Callable[[Iterable[Frame]], Iterator[Envelope]]


def compiled_codec() -> Codec:
    module = speedups.compiled()
    decoder = decode.compiled_decoder
    if module is None or decoder is None:
        pytest.fail(
            "the compiled codec is not built (pip install -e . needs a C compiler): "
            + speedups.speedups_status()
        )
    return Codec("compiled", module.FrameParser, decoder.decode, decoder.envelopes)


PURE = Codec("pure", PyFrameParser, decode.decode_headers_py, decode.envelopes_py)


@pytest.fixture(params=["pure", "compiled"])
def codec(request: pytest.FixtureRequest) -> Codec:
    return PURE if request.param == "pure" else compiled_codec()


# -- running a codec ---------------------------------------------------------------------


def frames_of(codec: Codec, chunks: Iterable[bytes], **kwargs: Any) -> list[Frame]:
    """Frames out of an AmiConnection (ActionID classification included) on ``codec``."""
    with mock.patch.object(connection, "FrameParser", codec.parser):
        conn = AmiConnection(**kwargs)
    assert type(conn._parser) is codec.parser
    out: list[Frame] = []
    for chunk in chunks:
        conn.receive_data(chunk)
        out.extend(conn)
    conn.receive_data(b"")
    out.extend(conn)
    return out


def typed(codec: Codec, frames: list[Frame]) -> list[Envelope]:
    return list(codec.envelopes(frames))


def folded(envs: list[Envelope]) -> ReplayResult:
    return fold(envs)


def assert_same_frames(pure: list[Frame], compiled: list[Frame], data: bytes) -> None:
    assert b"".join(f.raw for f in pure) == data
    assert len(pure) == len(compiled)
    for i, (a, b) in enumerate(zip(pure, compiled, strict=True)):
        assert a == b, (i, a, b)
        assert (a.completes is None) == (b.completes is None), i
    assert [type(f) for f in compiled] == [Frame] * len(compiled)


def assert_same_typed(pure: list[Envelope], compiled: list[Envelope]) -> None:
    assert len(pure) == len(compiled)
    for a, b in zip(pure, compiled, strict=True):
        assert type(a) is type(b) is Envelope
        assert type(a.item) is type(b.item)
        assert repr(a) == repr(b)


def assert_same_world(pure: ReplayResult, compiled: ReplayResult) -> None:
    assert repr(pure.anomalies) == repr(compiled.anomalies)
    assert pure.changes == compiled.changes
    assert repr(pure.call_records) == repr(compiled.call_records)
    assert repr(pure.world) == repr(compiled.world)


def both(chunks: list[bytes], data: bytes, **kwargs: Any) -> tuple[list[Frame], list[Envelope]]:
    """Run both codecs; assert identical frames, typed items and World; return pure's."""
    compiled = compiled_codec()
    frames = frames_of(PURE, chunks, **kwargs)
    assert_same_frames(frames, frames_of(compiled, chunks, **kwargs), data)
    # the same frames through both decoders (and the compiled framer's own frames, above)
    envs = typed(PURE, frames)
    assert_same_typed(envs, typed(compiled, frames))
    assert_same_world(folded(envs), folded(typed(compiled, frames)))
    return frames, envs


# -- captures ----------------------------------------------------------------------------


def random_chunks(data: bytes, seed: int, most: int = 700) -> list[bytes]:
    rng = random.Random(seed)
    out, i = [], 0
    while i < len(data):
        n = rng.randint(1, most)
        out.append(data[i : i + n])
        i += n
    return out


@pytest.mark.parametrize("path", CAPTURES, ids=capture_id)
def test_captures_whole_and_random_chunks(path: Path) -> None:
    data = read_bytes(path)
    frames, envs = both([data], data)
    assert len(frames) == len(envs) > 0
    for seed in (1, 2):
        chunks = random_chunks(data, seed, most=70_000 if len(data) > 1_000_000 else 700)
        assert_same_frames(frames, frames_of(compiled_codec(), chunks), data)
        assert_same_frames(frames, frames_of(PURE, chunks), data)


@pytest.mark.parametrize("path", SMALL_CAPTURES, ids=capture_id)
def test_small_captures_one_byte_at_a_time(path: Path) -> None:
    data = read_bytes(path)
    bytewise = [data[i : i + 1] for i in range(len(data))]
    both(bytewise, data)


def test_load_capture_one_byte_at_a_time() -> None:
    data = read_bytes(CAPTURES[-1])
    assert CAPTURES[-1].name == "load.ami.gz"
    compiled = compiled_codec()
    whole = frames_of(PURE, [data])
    for codec in (PURE, compiled):
        parser = codec.parser()
        out: list[Frame] = []
        for i in range(len(data)):
            parser.feed(data[i : i + 1])
            while (frame := parser.next_frame()) is not None:
                out.append(frame)
        parser.feed(b"")
        assert parser.next_frame() is None
        assert len(out) == len(whole)
        # AmiConnection only reclassifies list items; compare what the framer decides
        for a, b in zip(whole, out, strict=True):
            assert (a.raw, a.headers, a.fallback, a.problem, a.action_id) == (
                b.raw,
                b.headers,
                b.fallback,
                b.problem,
                b.action_id,
            )


def test_captures_replay_to_the_same_world(codec: Codec) -> None:
    """The whole replay (all captures in a row) on one codec equals the pure one's."""
    results = []
    for c in (PURE, codec):
        envs: list[Envelope] = []
        for path in CAPTURES:
            frames = frames_of(c, [read_bytes(path)])
            envs.extend(c.envelopes(frames))
        results.append(folded([e._replace(seq=i) for i, e in enumerate(envs)]))
    assert_same_world(*results)
    assert results[1].events > 30_000


# -- hostile streams ---------------------------------------------------------------------

NAMES = sorted(EVENT_TYPES)
WIRE_KEYS = sorted({f.encode_name for c in EVENT_TYPES.values() for f in msgspec.structs.fields(c)})
ODD_VALUES = [
    "", "null", "None", "nan", "inf", "-0", "-0.0", "0", "007", "+5", "1e3", "5.0", "5.", ".5",
    " 5", "1_000", "99999999999999999999", "9007199254740993", "1795664000.110605",
    "0.30000000000000004", "-12.5", "Up", "Ring", "Down", "none", "talker", "Yes", "No",
    "A=1", "A", "=", "A=b=c", "é", "日本",
]  # fmt: skip
VALUE = st.one_of(
    st.sampled_from(ODD_VALUES),
    st.from_regex(r"-?[0-9]{1,20}(\.[0-9]{1,20})?", fullmatch=True),
    st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\r\n"), max_size=12),
)
KEY = st.one_of(
    st.sampled_from(WIRE_KEYS),
    st.sampled_from(["ChanVariable", "Event", "__extra__", "__scoped_vars__", "Timestamp"]),
    st.sampled_from(["ChanVariable(PJSIP/1-0001)", "ChanVariable()", "X-Custom", "ActionID"]),
    st.from_regex(r"[A-Za-z][A-Za-z0-9_()-]{0,12}", fullmatch=True),
)
EVENT_NAME = st.one_of(
    st.sampled_from(NAMES), st.sampled_from(NAMES).map(str.lower), st.sampled_from(["Nope", ""])
)
HEADERS = st.builds(
    lambda name, rest: (("Event", name), *rest),
    EVENT_NAME,
    st.lists(st.tuples(KEY, VALUE), max_size=25),
)


@settings(max_examples=600, deadline=None)
@given(HEADERS)
@example((("Event", "Newexten"), ("Priority", "-0"), ("Timestamp", "-0")))
@example((("Event", "Hangup"), ("Cause", "16"), ("Cause", "17")))
@example((("Event", "VarSet"), ("ChanVariable", "A"), ("ChanVariable", "A=2"), ("X", "1")))
@example((("Event", "newchannel"), ("Channel", "x")))
@example((("Event", "Newchannel"), ("__extra__", "x")))
@example((("Event", "Newchannel"), ("X", "1"), ("X", "2")))
@example((("Event", "Newchannel"), ("ChanVariable", "LONG=" + "v" * 600), ("ChanVariable", "B")))
@example((("Event", "OriginateResponse"), ("ChanVariable(PJSIP/1)", "A=" + "w" * 600)))
@example((("Action", "Newchannel"),))
def test_decode_headers_identical(headers: tuple[tuple[str, str], ...]) -> None:
    a = decode.decode_headers_py(headers)
    b = compiled_codec().decode_headers(headers)
    assert type(a) is type(b)
    assert repr(a) == repr(b)


def frame_bytes(headers: tuple[tuple[str, str], ...], encoding: str) -> bytes:
    return b"".join(f"{k}: {v}\r\n".encode(encoding, "replace") for k, v in headers) + b"\r\n"


SEGMENT = st.one_of(
    HEADERS.map(lambda h: frame_bytes(h, "utf-8")),
    HEADERS.map(lambda h: frame_bytes(h, "latin-1")),  # invalid UTF-8 when not ASCII
    st.builds(
        lambda aid, n: (
            encode_headers([("Response", "Success"), ("ActionID", aid)])
            if n == 0
            else encode_headers(
                [("Response", "Success"), ("ActionID", aid), ("EventList", "start")]
            )
        ),
        st.sampled_from(["a-1", "a-2"]),
        st.integers(0, 1),
    ),
    st.builds(
        lambda aid, done: encode_headers(
            [("Event", "QueueMember"), ("ActionID", aid)]
            + ([("EventList", "Complete")] if done else [])
        ),
        st.sampled_from(["a-1", "a-2"]),
        st.booleans(),
    ),
    st.just(
        b"Response: Follows\r\nPrivilege: Command\r\nline one\nline two\n--END COMMAND--\r\n\r\n"
    ),
    st.binary(max_size=60),  # garbage
    st.integers(1, 4).map(lambda n: b"\r\n" * n),  # stray line breaks
    st.integers(30, 700).map(lambda n: b"\r\n\n" * n),  # runs longer than the frame cap
    st.sampled_from([b"\n", b"\r", b"\r\n\r\n\r\n"]),
    st.integers(100, 3000).map(lambda n: b"Event: Huge\r\nData: " + b"x" * n + b"\r\n\r\n"),
    st.integers(100, 3000).map(lambda n: b"Event: Huge\r\nData: " + b"y" * n),  # unterminated
    st.just(b"Event: Newexten\nChannel: bare-LF\r\n\r\n"),
    st.just(b"Event: Park\r\nMessage: ok\n\r\n\r\n"),
    st.just(b"Event: DialBegin\r\nCallerIDName: Jos\xe9\r\n\r\n"),
    st.just(b"Event: DialBegin\r\nCallerIDName: Jos\xc3\xa9\r\n\r\n"),
    st.just(b"no colon here\r\n\r\n"),
    st.just(b"Event: X\r\nKey:\r\n\r\n"),
    HEADERS.map(lambda h: frame_bytes(h, "utf-8")[: len(h) * 3]),  # truncated
)
BANNER = st.sampled_from([b"", b"Asterisk Call Manager/11.0.0\r\n", b"Asterisk Call Manager/x\n"])


@settings(max_examples=300, deadline=None)
@given(
    BANNER,
    st.lists(SEGMENT, max_size=12),
    st.sampled_from([64, 512, 1024, 1 << 20]),
    st.booleans(),
    st.data(),
)
def test_hostile_streams_identical(
    banner: bytes,
    segments: list[bytes],
    max_frame_size: int,
    expect_banner: bool,
    data: st.DataObject,
) -> None:
    stream = banner + b"".join(segments)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=12)))
    chunks = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
    chunks = [c for c in chunks if c]  # b"" would mean the end of the stream
    kwargs = {"max_frame_size": max_frame_size, "expect_banner": expect_banner}
    both(chunks, stream, **kwargs)
    # and one byte at a time
    bytewise = [stream[i : i + 1] for i in range(len(stream))]
    assert_same_frames(
        frames_of(PURE, bytewise, **kwargs), frames_of(compiled_codec(), bytewise, **kwargs), stream
    )


@settings(max_examples=50, deadline=None)
@given(st.integers(1, 9), st.integers(0, 3))
def test_huge_lines_and_oversized_frames(lines_k: int, extra: int) -> None:
    """Lines far longer than the cap, frames just under/at/over it, in 4 KiB reads."""
    cap = 4096
    body = b"Event: Big\r\nData: " + b"z" * (lines_k * 1000) + b"\r\n\r\n"
    edge = b"Event: Edge\r\nD: " + b"e" * (cap - 21 + extra) + b"\r\n\r\n"
    stream = b"Asterisk Call Manager/11.0.0\r\n" + body + edge + body * 2 + b"Event: End\r\n\r\n"
    chunks = [stream[i : i + 4096] for i in range(0, len(stream), 4096)]
    frames, _ = both(chunks, stream, max_frame_size=cap)
    assert frames[-1].headers == (("Event", "End"),)


# -- the switch ----------------------------------------------------------------------------


def test_active_codec_is_the_compiled_one_unless_disabled() -> None:
    compiled = compiled_codec()
    from tracker.ami import parser

    if speedups.disabled_by_env():
        assert parser.FrameParser is PyFrameParser
        assert decode.decode_headers is decode.decode_headers_py
        assert "pure Python" in speedups.speedups_status()
    else:
        assert parser.FrameParser is compiled.parser
        assert connection.FrameParser is compiled.parser  # type: ignore[attr-defined]
        assert decode.envelopes == compiled.envelopes
        assert speedups.speedups_status() == "codec: compiled (tracker.ami._speedups)"


@pytest.mark.parametrize("size", [-1, 0, 3, 15])
def test_too_small_frame_cap_is_refused_by_both(codec: Codec, size: int) -> None:
    with pytest.raises(ValueError, match="max_frame_size must be at least 16"):
        codec.parser(max_frame_size=size)
    assert codec.parser(max_frame_size=16).max_frame_size == 16


@pytest.mark.parametrize(
    "case", ["stray CRLF", "load with stray CRLF", "oversized frames", "line-break runs"]
)
@pytest.mark.parametrize("step", [1 << 20, 1 << 12])
def test_compiled_framer_work_is_linear(case: str, step: int) -> None:
    """tests/ami/test_linear.py's worst cases on the compiled framer, which counts the bytes
    it searches or moves (``_scanned``): at most a small multiple of the input, and 8x the
    input costs about 8x the work."""
    make, kwargs = LINEAR_CASES[case]

    def work(data: bytes) -> int:
        parser = compiled_codec().parser(**kwargs)
        out = []
        for i in range(0, len(data), step):
            parser.feed(data[i : i + step])
            while (frame := parser.next_frame()) is not None:
                out.append(frame.raw)
        parser.feed(b"")
        while (frame := parser.next_frame()) is not None:
            out.append(frame.raw)
        assert b"".join(out) == data
        assert len(out) > 1000
        return int(parser._scanned)

    one = work(make(MB))
    assert one <= 3 * MB, f"{one / MB:.1f} bytes of work per input byte"
    assert work(make(8 * MB)) <= 9 * one


def test_compiled_framer_one_byte_at_a_time_stays_linear() -> None:
    data = stray_crlf(64 * 1024)
    parser = compiled_codec().parser()
    for i in range(len(data)):
        parser.feed(data[i : i + 1])
        while parser.next_frame() is not None:
            pass
    assert parser._scanned <= 8 * len(data)


@settings(max_examples=150, deadline=None)
@given(
    BANNER,
    st.lists(SEGMENT, max_size=10),
    st.sampled_from([64, 1024, 1 << 20]),
    st.sampled_from([bytes, bytearray, memoryview]),
    st.data(),
)
def test_parser_state_identical_step_by_step(
    banner: bytes, segments: list[bytes], cap: int, kind: type[Any], data: st.DataObject
) -> None:
    """The framers' visible state (buffered, at_eof, bytes_received) agrees after every feed
    and every frame, whatever bytes-like type is fed."""
    stream = banner + b"".join(segments)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=8)))
    chunks = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
    pure, compiled = PURE.parser(max_frame_size=cap), compiled_codec().parser(max_frame_size=cap)

    def state(p: Any) -> tuple[int, bool, int]:
        return (p.buffered, p.at_eof, p.bytes_received)

    for chunk in [*(c for c in chunks if c), b""]:
        pure.feed(kind(chunk))
        compiled.feed(kind(chunk))
        assert state(pure) == state(compiled)
        while True:
            a, b = pure.next_frame(), compiled.next_frame()
            assert a == b
            assert state(pure) == state(compiled)
            if a is None:
                break
    assert pure.buffered == 0


def test_keyword_construction_path_matches_too() -> None:
    """Classes whose slots may not be filled directly (a ``__post_init__``, GC-tracked) are
    built by calling them with keyword arguments: that path gives the same events too."""

    def spec_of(name: str) -> tuple[Any, ...] | None:
        spec = decode._fast_spec(name)
        return (spec[0], False, spec[2]) if spec else spec

    by_call = decode.new_compiled_decoder(spec_of)
    assert by_call is not None
    for path in CAPTURES:
        frames = frames_of(PURE, [read_bytes(path)])
        assert_same_typed(typed(PURE, frames), list(by_call.envelopes(frames)))
