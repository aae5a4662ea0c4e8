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
    """``Frame.problem``: an anomaly's (also in its ``ProtocolAnomaly`` item), or what the
    codec noted on a frame that still carries its item (a list over its bounds), which the
    fold records as an anomaly."""
