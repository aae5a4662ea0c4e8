"""Frame -> typed item for the reader, which must never die on a decoder bug.

``tracker.events.decode_frame`` never raises on received data; should it ever raise anyway, the
frame degrades to a generic item (``UnknownEvent`` with every header, ``AmiResponse``,
``SessionStarted`` or ``ProtocolAnomaly``) and the bug is logged, so nothing received is lost.
"""

from __future__ import annotations

import logging

from ..ami import Frame, FrameKind
from ..events import decode_frame
from ..events.base import AmiResponse, ProtocolAnomaly, SessionStarted, UnknownEvent
from ..events.envelope import Item

log = logging.getLogger(__name__)


def fallback_decode(frame: Frame) -> Item:
    kind = frame.kind
    if kind is FrameKind.BANNER:
        return SessionStarted(banner=frame.name)
    if kind is FrameKind.RESPONSE:
        return AmiResponse(
            response=frame.name,
            action_id=frame.action_id,
            message=frame.get("Message"),
            event_list=frame.get("EventList"),
            headers=frame.headers,
        )
    if kind in (FrameKind.EVENT, FrameKind.LIST_ITEM):
        return UnknownEvent(name=frame.name, headers=frame.headers, action_id=frame.action_id)
    return ProtocolAnomaly(problem=frame.problem or f"unexpected {kind.value} frame", raw=frame.raw)


def decode(frame: Frame) -> Item:
    """Typed item for ``frame``; a decoder bug degrades to the fallback, never kills the reader."""
    try:
        return decode_frame(frame)
    except Exception:
        log.exception("typed decoding failed for %r; using the generic item", frame)
        return fallback_decode(frame)
