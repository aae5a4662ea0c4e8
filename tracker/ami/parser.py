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
_LINE_CACHE_SIZE = 8192
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
        if key != "Timestamp":
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
        self._ready: list[bytes] = []  # complete frames cut ahead of _pos, last one first
        self.bytes_received = 0

    @property
    def buffered(self) -> int:
        return len(self._buf) - self._pos

    @property
    def at_eof(self) -> bool:
        return self._eof

    def feed(self, data: bytes) -> None:
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
            raw = ready.pop()
            self._pos = self._scan = self._pos + len(raw)
            return _build_terminated(raw, self._lines)
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
            return Frame(
                FrameKind.ANOMALY, raw, problem=f"frame larger than {self.max_frame_size} bytes"
            )
        if len(buf) - stop >= _BATCH_MIN:
            self._split_ready(stop)
        return _build_terminated(raw, self._lines)

    def _split_ready(self, start: int) -> None:
        """Cut the complete frames from ``start`` on with one ``bytes.split`` (C) into ``_ready``.

        Only ordinary frames are taken, in order, up to the first piece that needs the careful
        path (a stray line break, an oversized frame) or the incomplete tail; ``_pos`` advances
        as they are handed out, so ``buffered`` and compaction are unchanged.
        """
        buf = self._buf
        last = buf.rfind(TERMINATOR, start)
        if last < 0:
            return
        pieces = bytes(buf[start : last + 4]).split(TERMINATOR)
        pieces.pop()  # the tail after the last terminator: not a complete frame
        limit = self.max_frame_size - 4
        ready = []
        for piece in pieces:
            if not piece or piece[0] in (13, 10) or len(piece) > limit:
                break
            ready.append(piece + TERMINATOR)
        ready.reverse()
        self._ready = ready

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
        buf = self._buf
        i = self._pos
        n = len(buf)
        while i < n and buf[i] in (13, 10):
            i += 1
        if i == n and not self._eof:
            return None  # wait: these may be the start of more line breaks
        raw = bytes(buf[self._pos : i])
        self._pos = self._scan = i
        return Frame(FrameKind.ANOMALY, raw, problem="line breaks between frames")

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
