"""What one fold step sees: the world, the envelope's position and time, and the change sink."""

from __future__ import annotations

from typing import Any

from ..state import Anomaly, Change, World


class Context:
    __slots__ = (
        "at",
        "before",
        "changes",
        "confirm",
        "event",
        "list_item",
        "max_jump",
        "seq",
        "world",
    )

    def __init__(self, world: World, *, max_jump: float, confirm: int) -> None:
        self.world = world
        self.max_jump = max_jump
        """Seconds the clock may jump between two events without evidence (``clock``)."""
        self.confirm = confirm
        """Consecutive events that confirm a clock step."""
        self.seq = -1
        self.at = 0.0
        self.before = 0.0
        """The clock before this envelope moved it (a banner's receive time may)."""
        self.list_item = False
        self.event: Any = None
        """The item being folded."""
        self.changes: list[Change] = []

    @property
    def event_name(self) -> str:
        return type(self.event).__name__ if self.event is not None else ""

    def emit(self, change: Change) -> None:
        self.changes.append(change)

    def anomaly(self, kind: str, detail: str = "") -> None:
        """Record an event that does not fit the state; never raise."""
        self.world.anomalies += 1
        self.changes.append(
            Anomaly(seq=self.seq, at=self.at, kind=kind, detail=detail, event=self.event_name)
        )
