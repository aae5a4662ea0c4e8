"""The unit the codec produces: one AMI frame with its exact received bytes."""

from __future__ import annotations

import enum
from collections.abc import Iterator

Headers = tuple[tuple[str, str], ...]


class FrameKind(enum.Enum):
    BANNER = "banner"
    """The ``Asterisk Call Manager/x.y.z`` line sent once on connect."""
    RESPONSE = "response"
    """First header is ``Response:`` (an action's answer)."""
    EVENT = "event"
    """First header is ``Event:`` and it is a broadcast (live) event."""
    LIST_ITEM = "list_item"
    """An ``Event:`` frame that answers a list action (it carries that action's ActionID)."""
    ACTION = "action"
    """First header is ``Action:`` (only seen when parsing what a client sent)."""
    ANOMALY = "anomaly"
    """Bytes that do not form a valid frame; kept verbatim in ``raw``."""


class Frame:
    """One frame. ``raw`` is exactly the bytes received, terminator included.

    Concatenating ``raw`` of every frame a parser produced gives back the input stream.
    """

    __slots__ = ("action_id", "completes", "fallback", "headers", "kind", "problem", "raw")

    def __init__(
        self,
        kind: FrameKind,
        raw: bytes,
        headers: Headers = (),
        *,
        fallback: bool = False,
        problem: str | None = None,
        action_id: str | None = None,
    ) -> None:
        self.kind = kind
        self.raw = raw
        self.headers = headers
        self.fallback = fallback
        """True when the bytes were not valid UTF-8 and were decoded as latin-1."""
        self.problem = problem
        """For ``ANOMALY`` frames: what was wrong."""
        self.action_id = action_id
        """ActionID header value, if any."""
        self.completes: ActionResult | None = None
        """Set on the frame that completes an action's answer (response or list end)."""

    # -- header access -------------------------------------------------------------
    @property
    def name(self) -> str:
        """Event name, response status, action name, or banner text."""
        if self.kind is FrameKind.BANNER:
            return self.headers[0][1] if self.headers else ""
        return self.headers[0][1] if self.headers else ""

    def get(self, key: str, default: str | None = None) -> str | None:
        """First value of header ``key`` (exact, case-sensitive match)."""
        for k, v in self.headers:
            if k == key:
                return v
        return default

    def get_all(self, key: str) -> list[str]:
        """Every value of a repeated header, in order."""
        return [v for k, v in self.headers if k == key]

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self.headers)

    @property
    def is_list_end(self) -> bool:
        return self.kind is FrameKind.LIST_ITEM and self.get("EventList") == "Complete"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Frame):
            return NotImplemented
        return (
            self.kind is other.kind
            and self.raw == other.raw
            and self.headers == other.headers
            and self.fallback == other.fallback
            and self.problem == other.problem
            and self.action_id == other.action_id
        )

    def __hash__(self) -> int:
        return hash((self.kind, self.raw))

    def __repr__(self) -> str:
        extra = f" problem={self.problem!r}" if self.problem else ""
        return f"<Frame {self.kind.value} {self.name!r} {len(self.raw)}B{extra}>"


class ActionResult:
    """The complete answer to one action: its response and, for list actions, the items."""

    __slots__ = ("action", "action_id", "complete", "dropped", "items", "response")

    def __init__(
        self,
        action_id: str,
        action: str | None,
        response: Frame,
        items: list[Frame] | None = None,
        complete: Frame | None = None,
        *,
        dropped: int = 0,
    ) -> None:
        self.action_id = action_id
        self.action = action
        """Action name when we sent it through this connection, else None."""
        self.response = response
        self.items: list[Frame] = items if items is not None else []
        """The list items, kept only for actions sent through this connection."""
        self.complete = complete
        """The ``...Complete`` event that closed a list (None for single responses)."""
        self.dropped = dropped
        """List items received but not in ``items`` (an answer nobody asked for, or over the
        connection's ``max_list_items``)."""

    @property
    def ok(self) -> bool:
        return self.response.name in ("Success", "Follows", "Goodbye")

    @property
    def message(self) -> str | None:
        return self.response.get("Message")

    def __repr__(self) -> str:
        dropped = f" dropped={self.dropped}" if self.dropped else ""
        return (
            f"<ActionResult {self.action or '?'} id={self.action_id!r} "
            f"{self.response.name} items={len(self.items)}{dropped}>"
        )
