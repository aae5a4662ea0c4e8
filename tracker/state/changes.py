"""Change records: what a fold step did, in the past tense (the store and live API follow these)."""

from __future__ import annotations

import msgspec


class Change(msgspec.Struct, tag=True, kw_only=True, frozen=True, gc=False):
    """Base of every change record. ``seq`` is the frame that caused it, ``at`` its time."""

    seq: int
    at: float


class Anomaly(Change, frozen=True):
    """An event that did not fit the current state (never an exception)."""

    kind: str
    detail: str = ""
    event: str = ""
