"""Sans-IO AMI framing: bytes in (any chunking), :class:`Frame` objects out.

Frames are split on bytes (``\\r\\n\\r\\n``) before any decoding, so a read boundary can never
corrupt a multi-byte character; each frame is then decoded as UTF-8, or latin-1 when that fails
(``Frame.fallback``). Every received byte ends up in exactly one frame's ``raw``.
"""

from __future__ import annotations

from . import speedups
from .frame import Frame, FrameKind, Headers

TERMINATOR = b"\r\n\r\n"
DEFAULT_MAX_FRAME_SIZE = 1 << 20
MIN_FRAME_SIZE = 16
"""Below this the oversized-frame rule (hand out all but the last 3 bytes) makes no sense."""
_BATCH_MIN = 4096
"""Buffered bytes after a frame from which the framer cuts the next frames in one split."""
_BATCH_MAX = 1 << 18
"""Bytes one split looks at: bounds its copy, and the work is linear whatever the input."""
_STRAY = "line breaks between frames"
_LINE_CACHE_SIZE = 8192
_LINE_CACHE_MAX_LEN = 512
"""Longer lines are parsed but not cached, so the cache holds at most ~4 MiB whatever the stream."""
"""Distinct header lines a parser remembers (then it starts afresh): bounds its memory."""

_KIND_BY_FIRST_KEY = {
    "Event": FrameKind.EVENT,
    "Response": FrameKind.RESPONSE,
    "Action": FrameKind.ACTION,
}
_LEGACY_END = "--END COMMAND--"


def decode_text(body: bytes) -> tuple[str, bool]:
    """Decode one frame: UTF-8, else latin-1 (which never fails). Returns (text, fallback)."""
    try:
        return body.decode("utf-8"), False
    except UnicodeDecodeError:
        return body.decode("latin-1"), True


def parse_headers(text: str) -> tuple[Headers, str | None]:
    """Split a frame's text (without its terminator) into ordered ``(key, value)`` pairs.

    Returns the headers and a problem description (None when the frame is well formed).
    """
    if text.count("\n") != text.count("\r\n"):
        return _parse_slow(text)
    headers: list[tuple[str, str]] = []
    append = headers.append
    for line in text.split("\r\n"):
        key, sep, value = line.partition(": ")
        if sep:
            append((key, value))
        else:
            return _parse_slow(text)
    return tuple(headers), None


def _parse_slow(text: str) -> tuple[Headers, str | None]:
    """Bare LFs, legacy ``Response: Follows`` output and malformed lines."""
    headers: list[tuple[str, str]] = []
    problem: str | None = None
    follows = text.startswith("Response: Follows")
    in_output = False
    for crlf_line in text.split("\r\n"):
        parts = crlf_line.split("\n")
        last = len(parts) - 1
        for i, part in enumerate(parts):
            if in_output:
                if part == _LEGACY_END or (part == "" and i == last):
                    continue
                headers.append(("Output", part))
                continue
            if part == "" and i == last and i > 0:
                # the line ended in a bare LF: it belongs to the value (e.g. the Park ack)
                if headers:
                    key, value = headers[-1]
                    headers[-1] = (key, value + "\n")
                continue
            key, sep, value = part.partition(": ")
            if sep:
                headers.append((key, value))
            elif part.endswith(":") and " " not in part:
                headers.append((part[:-1], ""))
            elif follows and headers:
                in_output = part != _LEGACY_END
                if in_output:
                    headers.append(("Output", part))
            else:
                headers.append(("", part))
                if problem is None:
                    problem = f"line without ': ': {part[:80]!r}"
    return tuple(headers), problem


def build_frame(raw: bytes, body: bytes) -> Frame:
    """Make a Frame from its exact bytes ``raw`` and its body (``raw`` minus the terminator)."""
    text, fallback = decode_text(body)
    headers, problem = parse_headers(text)
    kind = _KIND_BY_FIRST_KEY.get(headers[0][0]) if headers else None
    if kind is None and problem is None:
        problem = "frame does not start with Event:, Response: or Action:"
    if problem is not None:
        return Frame(FrameKind.ANOMALY, raw, headers, fallback=fallback, problem=problem)
    action_id = None
    for key, value in headers:
        if key == "ActionID":
            action_id = value
            break
    return Frame(kind, raw, headers, fallback=fallback, action_id=action_id)  # type: ignore[arg-type]


def banner_frame(raw: bytes) -> Frame | None:
    """The banner frame for its line ``raw``, or None when the line is a header (no banner)."""
    text, fallback = decode_text(raw.rstrip(b"\r\n"))
    if ": " in text:
        return None
    return Frame(FrameKind.BANNER, raw, (("Banner", text),), fallback=fallback)


def anomaly_frame(raw: bytes, problem: str) -> Frame:
    return Frame(FrameKind.ANOMALY, raw, problem=problem)


class _LineCache(dict[str, tuple[str, str]]):
    """Header line -> ``(key, value)``, bounded; a miss is parsed and checked by ``__missing__``.

    Header lines repeat a lot (``Privilege: call,all``, ``Context: phones``), so frames share
    the pairs and strings. A line is only stored once it passed the check (a ``": "``, no bare
    LF), so a hit is known good; a failing line sets ``bad`` instead. ``Timestamp`` lines are
    unique: never stored.
    """

    __slots__ = ("bad",)

    def __init__(self) -> None:
        super().__init__()
        self.bad = False

    def __missing__(self, line: str) -> tuple[str, str]:
        key, sep, value = line.partition(": ")
        if not sep or "\n" in line:
            self.bad = True
            return ("", line)
        pair = (key, value)
        if key != "Timestamp" and len(line) <= _LINE_CACHE_MAX_LEN:
            if len(self) >= _LINE_CACHE_SIZE:
                self.clear()
            self[line] = pair
        return pair


def _build_terminated(raw: bytes, cache: _LineCache) -> Frame:
    """``build_frame(raw, raw[:-4])`` for a ``raw`` ending in the terminator, faster.

    The hot path of the framer: the whole ``raw`` is decoded (the terminator is ASCII, so
    validity is the same as the body's), split on CRLF and each line looked up in ``cache``
    (C-level ``map``; only misses run Python code). A frame with a line that fails the check
    goes through :func:`build_frame`.
    """
    try:
        text = raw.decode("utf-8")
        fallback = False
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
        fallback = True
    lines = text.split("\r\n")
    del lines[-2:]  # the terminator
    headers: Headers = tuple(map(cache.__getitem__, lines))
    if cache.bad:
        cache.bad = False
        return build_frame(raw, raw[:-4])
    kind = _KIND_BY_FIRST_KEY.get(headers[0][0])
    if kind is None:
        return build_frame(raw, raw[:-4])
    frame = Frame(kind, raw, headers)
    if fallback:
        frame.fallback = True
    # no bare LF and the first line is Event:/Response:/Action:, so "\nActionID: " is a header
    if "\nActionID: " in text:
        at = text.index("\r\nActionID: ") + 12
        frame.action_id = text[at : text.index("\r\n", at)]
    return frame


class FrameParser:
    """Resumable framer. ``feed(bytes)`` then call ``next_frame()`` until it returns None.

    ``feed(b"")`` marks the end of the stream: leftover bytes become an anomaly frame.
    """

    def __init__(
        self, *, max_frame_size: int = DEFAULT_MAX_FRAME_SIZE, expect_banner: bool = True
    ) -> None:
        if max_frame_size < MIN_FRAME_SIZE:
            raise ValueError(f"max_frame_size must be at least {MIN_FRAME_SIZE}")
        self.max_frame_size = max_frame_size
        self._buf = bytearray()
        self._pos = 0  # start of the unconsumed data in _buf
        self._scan = 0  # where the terminator search resumes
        self._await_banner = expect_banner
        self._discarding = False  # inside an oversized frame: skip to the next terminator
        self._eof = False
        self._lines = _LineCache()
        self._ready: list[bytes | Frame] = []  # frames cut ahead of _pos, last one first
        self.bytes_received = 0

    @property
    def buffered(self) -> int:
        return len(self._buf) - self._pos

    @property
    def at_eof(self) -> bool:
        return self._eof

    def feed(self, data: bytes | memoryview) -> None:
        if not data:
            self._eof = True
            return
        self.bytes_received += len(data)
        if self._pos and self._pos > len(self._buf) // 2:
            del self._buf[: self._pos]
            self._scan -= self._pos
            self._pos = 0
        self._buf += data

    def next_frame(self) -> Frame | None:
        ready = self._ready
        if ready:
            item = ready.pop()
            if type(item) is bytes:
                self._pos = self._scan = self._pos + len(item)
                return _build_terminated(item, self._lines)
            assert isinstance(item, Frame)
            self._pos = self._scan = self._pos + len(item.raw)
            return item
        buf = self._buf
        start = self._pos
        if start >= len(buf):
            return None
        if self._await_banner:
            return self._next_banner()
        if buf[start] in (13, 10) and not self._discarding:
            stray = self._stray_line_breaks()
            if stray is not None:
                return stray
            return None
        end = buf.find(TERMINATOR, max(self._scan, start))
        if end < 0:
            return self._no_terminator_yet()
        stop = end + 4
        raw = bytes(buf[start:stop])
        self._pos = self._scan = stop
        if self._discarding:
            self._discarding = False
            return Frame(FrameKind.ANOMALY, raw, problem="tail of an oversized frame")
        if stop - start > self.max_frame_size:
            return Frame(FrameKind.ANOMALY, raw, problem=self._too_big)
        if len(buf) - stop >= _BATCH_MIN:
            self._split_ready(stop)
        return _build_terminated(raw, self._lines)

    def _split_ready(self, start: int) -> None:
        """Cut the complete frames from ``start`` on with one ``bytes.split`` (C) into ``_ready``.

        Looks at most ``_BATCH_MAX`` bytes ahead and takes every piece up to the last complete
        frame there, giving exactly what the careful path would give for these bytes: ordinary
        frames (their raw bytes), runs of stray line breaks and oversized frames (anomaly
        frames). A run of line breaks still open at the end stays for the careful path (it
        may go on). So a split hands out everything it looked at and parsing stays linear.
        ``_pos`` advances as the pieces are handed out, so ``buffered`` and compaction are
        unchanged.
        """
        buf = self._buf
        last = buf.rfind(TERMINATOR, start, start + _BATCH_MAX)
        if last < 0:
            return
        pieces = bytes(buf[start : last + 4]).split(TERMINATOR)
        pieces.pop()  # empty: the region ends with a terminator
        limit = self.max_frame_size - 4
        ready: list[bytes | Frame] = []
        stray = b""  # line breaks since the last frame (they may span several pieces)
        for piece in pieces:
            if stray or not piece or piece[0] in (13, 10):
                body = piece.lstrip(b"\r\n")
                if not body:
                    stray += piece + TERMINATOR
                    continue
                ready.extend(self._stray_frames(stray + piece[: len(piece) - len(body)]))
                stray = b""
                piece = body
            if len(piece) > limit:
                ready.append(Frame(FrameKind.ANOMALY, piece + TERMINATOR, problem=self._too_big))
            else:
                ready.append(piece + TERMINATOR)
        ready.reverse()
        self._ready = ready

    @property
    def _too_big(self) -> str:
        return f"frame larger than {self.max_frame_size} bytes"

    def _stray_frames(self, run: bytes) -> list[bytes | Frame]:
        """Anomaly frames for a run of line breaks: at most ``max_frame_size`` bytes each."""
        size = self.max_frame_size
        return [
            Frame(FrameKind.ANOMALY, run[i : i + size], problem=_STRAY)
            for i in range(0, len(run), size)
        ]

    def _next_banner(self) -> Frame | None:
        buf = self._buf
        start = self._pos
        nl = buf.find(b"\n", start)
        if nl < 0:
            if self._eof or len(buf) - start > 1024:
                raw = bytes(buf[start:])
                self._pos = self._scan = len(buf)
                self._await_banner = False
                return Frame(FrameKind.ANOMALY, raw, problem="no banner line")
            return None
        stop = nl + 1
        raw = bytes(buf[start:stop])
        self._pos = self._scan = stop
        self._await_banner = False
        frame = banner_frame(raw)
        if frame is None:
            # no banner: this stream starts with a frame. Re-frame from the start.
            self._pos = self._scan = start
            return self.next_frame()
        return frame

    def _stray_line_breaks(self) -> Frame | None:
        """One anomaly for a run of CR/LF bytes between frames (``max_frame_size`` at most).

        While the run reaches the end of the buffer it may go on: ``_scan`` remembers how far
        it was checked, so a run arriving in small pieces is scanned once.
        """
        buf = self._buf
        start = self._pos
        i = max(self._scan, start)
        stop = min(len(buf), start + self.max_frame_size)
        step = 16  # look ahead in growing steps: the work follows the run, not the buffer
        while i < stop:
            seg = bytes(buf[i : min(stop, i + step)])
            breaks = len(seg) - len(seg.lstrip(b"\r\n"))
            i += breaks
            if breaks < len(seg):
                break
            step *= 2
        if i == len(buf) and i - start < self.max_frame_size and not self._eof:
            self._scan = i
            return None  # wait: these may be the start of more line breaks
        raw = bytes(buf[start:i])
        self._pos = self._scan = i
        return Frame(FrameKind.ANOMALY, raw, problem=_STRAY)

    def _no_terminator_yet(self) -> Frame | None:
        buf = self._buf
        start = self._pos
        pending = len(buf) - start
        if self._eof:
            raw = bytes(buf[start:])
            self._pos = self._scan = len(buf)
            self._discarding = False
            return Frame(FrameKind.ANOMALY, raw, problem="incomplete frame at end of stream")
        if (self._discarding and pending > 3) or pending > self.max_frame_size:
            # keep the bytes, but hand them out now so memory stays bounded
            keep = 3  # a terminator may straddle this boundary
            raw = bytes(buf[start : len(buf) - keep])
            self._pos = self._scan = len(buf) - keep
            first = not self._discarding
            self._discarding = True
            problem = f"frame larger than {self.max_frame_size} bytes" if first else None
            return Frame(FrameKind.ANOMALY, raw, problem=problem or "oversized frame (continued)")
        self._scan = max(start, len(buf) - 3)
        return None


# -- the compiled twin (tracker/ami/_speedups.c); this module stays the reference ----------
PyFrameParser = FrameParser
"""The pure-Python framer, whichever one ``FrameParser`` is."""
_compiled = speedups.compiled()
if _compiled is not None:
    _compiled.configure(Frame, _KIND_BY_FIRST_KEY, build_frame, banner_frame, anomaly_frame)
    if speedups.ENABLED:
        FrameParser = _compiled.FrameParser  # type: ignore[misc]
