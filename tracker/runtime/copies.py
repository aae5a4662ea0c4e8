"""Later copies of a capture's stream, as the same PBX would send them hours later.

The simulator's ``copies`` serve a capture's stream several times in one session (soak tests:
hours of traffic from a minute of capture). Copy ``k`` is copy 0 moved on by ``k`` periods
(the capture's time span, rounded up): every epoch second in it (``Timestamp``, and the
``<epoch>.<counter>`` of ``Uniqueid``, ``Linkedid``, ``DestUniqueid``, ...) grows by
``k * period``, so time runs on without a jump and no channel id repeats; the first 8 hex
digits of every UUID (bridges) are moved by ``k`` too. The rewrite keeps every frame's length.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

from ..ami import Frame

_EPOCH = re.compile(rb"(?<![0-9.])[0-9]{10}(?=\.[0-9])")
_UUID = re.compile(
    rb"(?<![0-9a-f])[0-9a-f]{8}(?=-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})"
)
_MARGIN = 86_400
"""Epochs up to a day around the capture's ``Timestamp``s are its times (older channels)."""
_UUID_STEP = 0x9E3779B1
"""Odd step: copies' UUID prefixes stay apart."""


class CopyShift:
    """Rewrites copy 0's bytes into copy ``k``'s; ``period`` is the seconds between copies."""

    def __init__(self, stream: Sequence[Frame]) -> None:
        stamps = [t for t in map(timestamp, stream) if t is not None]
        first, last = (min(stamps), max(stamps)) if stamps else (0.0, 0.0)
        self.period = max(1, math.ceil(last - first) + 1)
        self._low = int(first) - _MARGIN
        self._high = int(last) + _MARGIN

    def __call__(self, data: bytes, copy: int) -> bytes:
        if not copy:
            return data
        shift = copy * self.period
        low, high = self._low, self._high

        def epoch(m: re.Match[bytes]) -> bytes:
            value = int(m.group())
            return b"%d" % (value + shift) if low <= value <= high else m.group()

        def uuid(m: re.Match[bytes]) -> bytes:
            return b"%08x" % ((int(m.group(), 16) + copy * _UUID_STEP) % (1 << 32))

        return _UUID.sub(uuid, _EPOCH.sub(epoch, data))

    def seconds(self, copy: int) -> int:
        """How far copy ``copy`` is moved on in time."""
        return copy * self.period


def timestamp(frame: Frame) -> float | None:
    """The frame's ``Timestamp`` (None: none, or not a finite number)."""
    value = frame.get("Timestamp")
    if value is None:
        return None
    try:
        stamp = float(value)
    except ValueError:
        return None
    return stamp if math.isfinite(stamp) else None


__all__ = ["CopyShift", "timestamp"]
