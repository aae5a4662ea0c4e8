"""Stub of the compiled twin of tracker.ami.parser / tracker.events.decode (_speedups.c)."""

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from .frame import Frame, FrameKind, Headers

def configure(
    frame_cls: type[Frame],
    kind_by_first_key: dict[str, FrameKind],
    build_frame: Callable[[bytes, bytes], Frame],
    banner_frame: Callable[[bytes], Frame | None],
    anomaly_frame: Callable[[bytes, str], Frame],
    /,
) -> None: ...

class FrameParser:
    bytes_received: int
    @property
    def _scanned(self) -> int: ...
    @property
    def max_frame_size(self) -> int: ...
    def __init__(self, *, max_frame_size: int = ..., expect_banner: bool = ...) -> None: ...
    @property
    def buffered(self) -> int: ...
    @property
    def at_eof(self) -> bool: ...
    def feed(self, data: bytes | memoryview, /) -> None: ...
    def next_frame(self) -> Frame | None: ...

class EventDecoder:
    def __init__(
        self,
        spec_of: Callable[[str], tuple[Any, ...] | None],
        nodefault: Any,
        fallback: Callable[[Headers], Any],
        envelope: type[tuple[Any, ...]],
        decode_frame: Callable[[Frame], Any],
        event_kind: FrameKind,
        list_kind: FrameKind,
        /,
    ) -> None: ...
    def decode(self, headers: Headers, /) -> Any: ...
    def envelopes(
        self, frames: Iterable[Frame], start_seq: int = 0, received_at: float | None = None
    ) -> Iterator[Any]: ...

def frame_columns(
    frames: list[Frame], kinds: tuple[FrameKind, ...], anomaly: int, /
) -> tuple[bytes, bytes, bytes, dict[int, str]]: ...
def envelope_columns(
    envelopes: list[Any], codes: bytes, event: int, wanted: frozenset[type[Any]] | None, /
) -> tuple[list[float | None] | None, int, int, list[int] | None]: ...
