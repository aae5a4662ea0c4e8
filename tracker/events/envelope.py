"""What the fold consumes: one decoded frame with its position, kind and receive time."""

from __future__ import annotations

from typing import NamedTuple

from .base import AmiEvent, AmiResponse, ProtocolAnomaly, SessionStarted

Item = AmiEvent | AmiResponse | SessionStarted | ProtocolAnomaly


class Envelope(NamedTuple):
    seq: int
    """Position of the frame in its log (0-based, counts every frame incl. banner/anomalies)."""
    item: Item
    list_item: bool = False
    """True when the frame answers a list action (it reuses a live event name)."""
    received_at: float | None = None
    """Receive time stamped by the runtime (None for bare captures): used when no Timestamp."""
    problem: str | None = None
    """What the codec noted on a frame that still carries its item (``Frame.problem`` of a
    non-anomaly frame: a list over its bounds); the fold records it as an anomaly."""
