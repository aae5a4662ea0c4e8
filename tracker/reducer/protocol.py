"""Frames that never became usable events are anomalies of the fold too.

The codec keeps malformed bytes as ``ProtocolAnomaly`` and the decoder turns a known event whose
headers do not fit its type into ``UndecodableEvent``; both are counted and reported here, so a
replay or a live session says how much of its input it could not use. A frame that is still
folded but on which the codec noted a problem (``Envelope.problem``: a list answer over the
connection's bounds, whose further items are not kept) is one too.
"""

from __future__ import annotations

from typing import Any

from ..events.base import ProtocolAnomaly, UndecodableEvent
from .context import Context

EVENTS: frozenset[type[Any]] = frozenset({ProtocolAnomaly, UndecodableEvent})


def handle(ctx: Context, event: Any) -> None:
    match event:
        case ProtocolAnomaly(problem=problem, raw=raw):
            ctx.anomaly("protocol", f"{problem} ({len(raw)} bytes)")
        case UndecodableEvent(name=name, error=error):
            ctx.anomaly("undecodable", f"{name}: {error}")


def frame_problem(ctx: Context, problem: str) -> None:
    """The codec's note on a frame it delivered (today only list bounds: ``list_overflow``)."""
    ctx.anomaly("list_overflow", problem)
