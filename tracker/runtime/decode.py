"""Frame -> typed item, using ``tracker.events.decode_frame`` when the vocabulary provides it.

The fallback keeps the runtime usable on its own: events become ``UnknownEvent`` with every
header, responses ``AmiResponse``, the banner ``SessionStarted``.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from typing import cast

from ..ami import Frame, FrameKind
from ..events.base import AmiResponse, ProtocolAnomaly, SessionStarted, UnknownEvent
from ..events.envelope import Item

Decoder = Callable[[Frame], Item]
log = logging.getLogger(__name__)


def _vocabulary_decoder() -> Decoder | None:
    try:
        module = importlib.import_module("tracker.events")
    except ImportError:  # pragma: no cover - the package exists, its __init__ may not yet
        return None
    found = getattr(module, "decode_frame", None)
    return cast(Decoder, found) if callable(found) else None


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


_decoder: Decoder | None = None


def decode(frame: Frame) -> Item:
    """Typed item for ``frame``; a decoder bug degrades to the fallback, never kills the reader."""
    global _decoder
    if _decoder is None:
        _decoder = _vocabulary_decoder() or fallback_decode
    try:
        return _decoder(frame)
    except Exception:
        log.exception("typed decoding failed for %r; using the generic item", frame)
        return fallback_decode(frame)
