"""Frame blocks: consecutive frames <-> one compressed payload (pure: no SQL, no I/O).

Payload (before compression): ``u32`` header length, a msgpack header, then every frame's exact
bytes concatenated. The header keeps what the bytes alone cannot say once cut out of their
stream: each frame's length, its kind as the codec classified it (a list item is an ``Event:``
frame answering a list action; a banner or an anomaly depends on the position in the stream),
an anomaly's problem (or the problem the codec noted on another frame: a list over its
bounds), and the receive time the fold consumed (only in sessions without
``Timestamp`` headers; otherwise absent).

Codec 1 is zstd: on ``load.ami.gz`` it compresses blocks as well as zlib at its default level
and ~7x faster (0.5 us vs 3.2 us per frame), and level 6 makes them 20% smaller than zlib -9.
"""

from __future__ import annotations

import array
import itertools
import operator
import struct
import sys
import threading
from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple

import msgspec
import zstandard

from ..ami import Frame, FrameKind, FrameParser, build_frame
from ..ami import parser as _parser
from ..ami.parser import _LineCache, decode_text
from ..errors import StoreError
from ..events import decode_frame, envelopes
from ..events.decode import decode_headers
from ..events.envelope import Envelope, Item
from ..state import World
from ..state.world import decode_world, encode_world

ZSTD = 1
LEVEL = 3
"""zstd level: 3 keeps import fast; the log stays well under its size budget (about 25 B/frame)."""

KIND_CODES: dict[FrameKind, int] = {
    FrameKind.EVENT: 0,
    FrameKind.LIST_ITEM: 1,
    FrameKind.RESPONSE: 2,
    FrameKind.BANNER: 3,
    FrameKind.ANOMALY: 4,
    FrameKind.ACTION: 5,
}
KINDS: tuple[FrameKind, ...] = tuple(sorted(KIND_CODES, key=KIND_CODES.__getitem__))
_PARSED = frozenset((0, 1, 2, 5))
"""Kinds whose frames re-parse alone to the same headers (they end with the terminator)."""

_U32 = struct.Struct("<I")


class BlockError(StoreError, ValueError):
    """A stored payload that cannot be decoded (corrupt, or from an unknown codec)."""


class _Header(msgspec.Struct, array_like=True):
    lengths: bytes
    kinds: bytes
    clocks: bytes
    """float64 per frame: the fold's clock after it (zstd squeezes these to ~1.6 B/frame)."""
    problems: dict[int, str] = {}
    received: list[float | None] | None = None


_enc = msgspec.msgpack.Encoder()
_dec = msgspec.msgpack.Decoder(_Header)
_zstd = threading.local()
"""Per-thread zstd contexts: a context used by two threads at once crashes the process (the
store reads blocks in a worker thread, the persister writes from another)."""


def compress(data: bytes) -> bytes:
    try:
        ctx: zstandard.ZstdCompressor = _zstd.compressor
    except AttributeError:
        ctx = _zstd.compressor = zstandard.ZstdCompressor(level=LEVEL)
    return ctx.compress(data)


def decompress(codec: int, data: bytes) -> bytes:
    if codec != ZSTD:
        raise BlockError(f"unknown block codec {codec}")
    try:
        ctx: zstandard.ZstdDecompressor = _zstd.decompressor
    except AttributeError:
        ctx = _zstd.decompressor = zstandard.ZstdDecompressor()
    try:
        return ctx.decompress(data)
    except zstandard.ZstdError as exc:
        raise BlockError(f"corrupt block: {exc}") from exc


def encode_block(
    frames: Sequence[Frame],
    clocks: Sequence[float],
    received: Sequence[float | None] | None = None,
) -> bytes:
    """Compressed payload of ``frames``: ``clocks`` is the fold's clock after each frame,
    ``received`` the receive times the fold used (None or all None: not stored)."""
    if len(clocks) != len(frames):
        raise ValueError("one clock per frame")
    raws, kinds, problems = frame_columns(frames)
    return encode_payload(
        raws,
        _le(array.array("I", map(len, raws))),
        kinds,
        _le(array.array("d", clocks)),
        problems,
        received,
    )


def frame_columns(frames: Sequence[Frame]) -> tuple[list[bytes], bytes, dict[int, str]]:
    """The frames' bytes, kind codes, and problems by index (an anomaly's, or one the codec
    noted on another frame), in C-level passes."""
    raws = list(map(_RAW, frames))
    kinds = bytes(map(_KIND, map(id, map(_KIND_OF, frames))))
    problems = {i: frames[i].problem or "" for i in _positions(kinds, _ANOMALY)}
    carried = list(map(_PROBLEM, frames))
    if carried.count(None) != len(frames):  # rare: a frame that is not an anomaly has one too
        problems.update({i: p for i, p in enumerate(carried) if p})
    return raws, kinds, problems


def encode_payload(
    raws: Sequence[bytes | memoryview],
    lengths: bytes,
    kinds: bytes,
    clocks: bytes,
    problems: dict[int, str],
    received: Sequence[float | None] | None,
) -> bytes:
    """Compressed payload of frames given as columns: their bytes (in pieces: joined once),
    u32 lengths and f64 clocks (little-endian), kind codes, problems by frame index and the
    receive times the fold used (None or all None: not stored)."""
    if received is not None and received.count(None) < len(received):
        recv: list[float | None] | None = list(received)
    else:
        recv = None
    header = _enc.encode(_Header(lengths, kinds, clocks, problems, recv))
    # one join: ``a + b + c`` of ~0.5 MB costs ~1 us per frame (two large copies)
    return compress(b"".join([_U32.pack(len(header)), header, *raws]))


_RAW = operator.attrgetter("raw")
_KIND_OF = operator.attrgetter("kind")
_PROBLEM = operator.attrgetter("problem")
_KIND = {id(kind): code for kind, code in KIND_CODES.items()}.__getitem__
"""By the member's id: hashing an Enum member runs Python code (``Enum.__hash__``), an
``int`` does not, and this runs for every stored frame."""
_ANOMALY = KIND_CODES[FrameKind.ANOMALY]


def _positions(data: bytes, byte: int) -> Iterator[int]:
    """Indexes of ``byte`` in ``data`` (a C-level scan; anomalies are rare)."""
    i = data.find(byte)
    while i >= 0:
        yield i
        i = data.find(byte, i + 1)


def _le(values: array.array[Any]) -> bytes:
    """Little-endian bytes of an array (the stored byte order)."""
    if sys.byteorder != "little":  # pragma: no cover (x86-64 and arm64 are little-endian)
        values = array.array(values.typecode, values)
        values.byteswap()
    return values.tobytes()


class Block(NamedTuple):
    """A decoded payload: the frames' bytes and what is needed to rebuild them."""

    raws: list[bytes]
    kinds: bytes
    clocks: tuple[float, ...]
    problems: dict[int, str]
    received: list[float | None] | None

    @property
    def data(self) -> bytes:
        return b"".join(self.raws)


class Payload(NamedTuple):
    """A decompressed payload whose frames are not cut apart yet (replay reads it in runs)."""

    payload: bytes
    start: int
    """Offset of the first frame's bytes."""
    lengths: array.array[int]
    kinds: bytes
    clocks: bytes
    problems: dict[int, str]
    received: list[float | None] | None

    def offset(self, i: int) -> int:
        """Offset of frame ``i``'s bytes."""
        return self.start + sum(self.lengths[:i])

    def block(self) -> Block:
        raws: list[bytes] = []
        at = self.start
        payload = self.payload
        for n in self.lengths:
            raws.append(payload[at : at + n])
            at += n
        n = len(self.kinds)
        clocks: tuple[float, ...] = struct.unpack(f"<{n}d", self.clocks)
        return Block(raws, self.kinds, clocks, self.problems, self.received)


def open_block(codec: int, data: bytes) -> Payload:
    """Decompress a payload and read its header (the frames stay one ``bytes``)."""
    payload = decompress(codec, data)
    try:
        (size,) = _U32.unpack_from(payload)
        header = _dec.decode(payload[4 : 4 + size])
    except (struct.error, msgspec.DecodeError) as exc:
        raise BlockError(f"corrupt block header: {exc}") from exc
    n = len(header.kinds)
    if len(header.lengths) != 4 * n or len(header.clocks) != 8 * n:
        raise BlockError("corrupt block header: one length and one clock per frame")
    lengths = array.array("I")
    lengths.frombytes(header.lengths)
    if sys.byteorder != "little":  # pragma: no cover (x86-64 and arm64 are little-endian)
        lengths.byteswap()
    start = 4 + size
    if start + sum(lengths) != len(payload):
        raise BlockError("corrupt block: frame lengths do not match the payload")
    return Payload(
        payload, start, lengths, header.kinds, header.clocks, header.problems, header.received
    )


def decode_block(codec: int, data: bytes) -> Block:
    return open_block(codec, data).block()


class FrameRebuilder:
    """Rebuilds Frames from stored bytes exactly as the codec produced them.

    Runs of ordinary frames go through one long-lived :class:`FrameParser` (its header-line
    cache makes re-parsing as fast as reading the capture); banners and anomalies, whose meaning
    depends on their place in the original stream, come from the stored kind and problem.
    """

    def __init__(self) -> None:
        self._parser = FrameParser(expect_banner=False)

    def parser(self) -> FrameParser:
        """The long-lived parser, with nothing buffered: a reader that stopped halfway left
        its bytes in it, and keeps that parser; a fresh one (cold cache) takes its place."""
        if self._parser.buffered:
            self._parser = FrameParser(expect_banner=False)
        return self._parser

    def frames(self, block: Block) -> Iterator[Frame]:
        raws, kinds = block.raws, block.kinds
        i, n = 0, len(raws)
        while i < n:
            code = kinds[i]
            if code not in _PARSED:
                yield self._special(raws[i], code, block.problems.get(i))
                i += 1
                continue
            j = i
            while j < n and kinds[j] in _PARSED:
                j += 1
            parser = self.parser()
            parser.feed(b"".join(raws[i:j]))
            for k in range(i, j):
                frame = parser.next_frame()
                if frame is None or frame.raw != raws[k]:
                    raise BlockError("stored frames do not re-parse to their own bytes")
                if kinds[k] == 1:
                    frame.kind = FrameKind.LIST_ITEM
                if block.problems:
                    frame.problem = block.problems.get(k)
                yield frame
            i = j

    def one(self, raw: bytes, code: int, problem: str | None) -> Frame:
        """The frame of one stored frame's bytes."""
        if code not in _PARSED:
            return self._special(raw, code, problem)
        parser = self.parser()
        parser.feed(raw)
        frame = parser.next_frame()
        if frame is None or frame.raw != raw:
            self._parser = FrameParser(expect_banner=False)
            raise BlockError("stored frames do not re-parse to their own bytes")
        if code == 1:
            frame.kind = FrameKind.LIST_ITEM
        frame.problem = problem
        return frame

    @staticmethod
    def _special(raw: bytes, code: int, problem: str | None) -> Frame:
        kind = KINDS[code]
        if kind is FrameKind.BANNER:
            text, fallback = decode_text(raw.rstrip(b"\r\n"))
            return Frame(kind, raw, (("Banner", text),), fallback=fallback)
        return Frame(kind, raw, problem=problem or "anomaly")


def block_envelopes(
    rebuilder: FrameRebuilder, block: Block, first_seq: int
) -> Iterator[tuple[Frame, Envelope]]:
    """(frame, envelope) pairs of a block, envelopes as the fold consumed them."""
    received = block.received
    list_item = FrameKind.LIST_ITEM
    for i, frame in enumerate(rebuilder.frames(block)):
        kind = frame.kind
        item: Item
        if kind is FrameKind.EVENT or kind is list_item:
            item = decode_headers(frame.headers)
        else:
            item = decode_frame(frame)
        at = received[i] if received is not None else None
        yield frame, Envelope(first_seq + i, item, kind is list_item, at, frame.problem)


_COMPILED_CODEC = getattr(_parser, "PyFrameParser", FrameParser) is not FrameParser
"""The codec's compiled framer is in use (then the codec's own path is the fastest)."""
_ODD = bytes(0 if code in (0, 2, 5) else 1 for code in range(256))
"""``bytes.translate`` table: 1 for the kinds a plain re-parse does not give back (list items,
banners, anomalies), 0 for the rest."""


class EnvelopeDecoder:
    """Envelopes straight from a block's bytes, for replay.

    With the compiled codec, each run of plain frames (events, responses; no list item, banner,
    anomaly or noted problem) is fed whole to the codec's framer and its frames go straight
    into the compiled ``envelopes``: no Python code runs per frame, as when reading a capture.
    The other frames are rebuilt one by one. With the pure codec, event frames are split and
    their header lines looked up in a cache, without building Frame objects; any other frame
    (and an event frame with an unusual line) takes the exact codec path.
    """

    def __init__(self) -> None:
        self._lines = _LineCache()  # the parser's own line rule and cache
        self._rebuilder = FrameRebuilder()

    def payload_envelopes(
        self, payload: Payload, first_seq: int, lo: int = 0, hi: int | None = None
    ) -> Iterator[Envelope]:
        """Envelopes of frames ``lo`` (included) to ``hi`` (excluded) of a payload."""
        n = len(payload.kinds)
        hi = n if hi is None else max(lo, min(hi, n))
        if not _COMPILED_CODEC or payload.received is not None:
            return itertools.islice(self.envelopes(payload.block(), first_seq, lo), hi - lo)
        return itertools.chain.from_iterable(self._runs(payload, first_seq, lo, hi))

    def _runs(
        self, payload: Payload, first_seq: int, lo: int, hi: int
    ) -> Iterator[Iterator[Envelope]]:
        """One envelope iterator per run of frames, made when the previous one is used up
        (the runs share the parser)."""
        kinds, lengths, problems = payload.kinds, payload.lengths, payload.problems
        odd = bytearray(kinds[lo:hi].translate(_ODD))
        for k in problems:
            if lo <= k < hi:
                odd[k - lo] = 1
        rebuilder = self._rebuilder
        data = memoryview(payload.payload)
        at = payload.offset(lo)
        i = lo
        while i < hi:
            flag = odd[i - lo]
            j = odd.find(1 - flag, i - lo)
            j = hi if j < 0 else j + lo
            if flag:
                frames: list[Frame] = []
                for k in range(i, j):
                    size = lengths[k]
                    frames.append(
                        rebuilder.one(bytes(data[at : at + size]), kinds[k], problems.get(k))
                    )
                    at += size
                yield envelopes(frames, first_seq + i)
            else:
                size = sum(lengths[i:j])
                parser = rebuilder.parser()
                parser.feed(data[at : at + size])
                # A plain stored frame ends at its terminator, so re-parsing can only cut one
                # in two: a frame too many is then left in the parser (the check below).
                # next_frame is called j - i times from C (``iter(next_frame, None)`` would
                # compare every Frame with None: a call of Frame.__eq__ per frame).
                run = filter(None, map(operator.call, itertools.repeat(parser.next_frame, j - i)))
                yield envelopes(run, first_seq + i)
                if parser.buffered:
                    raise BlockError(
                        f"frames {first_seq + i}..{first_seq + j - 1} do not re-parse to their "
                        "stored bytes"
                    )
                at += size
            i = j

    def envelopes(self, block: Block, first_seq: int, lo: int = 0) -> Iterator[Envelope]:
        """Envelopes of the block's frames from index ``lo`` on."""
        raws, kinds, received, problems = block.raws, block.kinds, block.received, block.problems
        if _COMPILED_CODEC and received is None:
            envs = envelopes(self._rebuilder.frames(block), first_seq)
            yield from itertools.islice(envs, lo, None) if lo else envs
            return
        cache = self._lines
        lookup = cache.__getitem__
        new = tuple.__new__
        for i in range(lo, len(raws)):
            raw = raws[i]
            code = kinds[i]
            at = received[i] if received is not None else None
            if code <= 1:  # Event: (0 live, 1 list item)
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError:
                    text = raw.decode("latin-1")
                lines = text.split("\r\n")
                del lines[-2:]
                headers = tuple(map(lookup, lines))
                if not cache.bad:
                    item: Item = decode_headers(headers)
                    problem = problems.get(i) if problems else None
                    yield new(Envelope, (first_seq + i, item, code == 1, at, problem))
                    continue
                cache.bad = False
            frame = self._one(raw, code, problems.get(i))
            item = decode_frame(frame)
            yield new(Envelope, (first_seq + i, item, code == 1, at, frame.problem))

    def _one(self, raw: bytes, code: int, problem: str | None) -> Frame:
        if code in _PARSED:
            frame = build_frame(raw, raw[:-4])
            if code == 1:
                frame.kind = FrameKind.LIST_ITEM
            frame.problem = problem
            return frame
        return FrameRebuilder._special(raw, code, problem)


def encode_snapshot(world: World) -> bytes:
    return compress(encode_world(world))


def decode_snapshot(codec: int, data: bytes) -> World:
    try:
        return decode_world(decompress(codec, data))
    except msgspec.DecodeError as exc:
        raise BlockError(f"snapshot does not decode: {exc}") from exc
