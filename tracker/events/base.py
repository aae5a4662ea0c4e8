"""Base classes of the typed AMI vocabulary.

Every Asterisk event is a frozen msgspec Struct whose class name is the wire name (``Newexten``,
``DTMFBegin``; ``AOC-D`` is ``AOC_D`` with ``tag="AOC-D"``) and whose fields are the snake_case
header names with an explicit rename to the exact wire spelling. The envelope headers every
event may carry live here.
"""

from __future__ import annotations

import msgspec


class AmiEvent(
    msgspec.Struct, tag_field="Event", kw_only=True, frozen=True, omit_defaults=True, gc=False
):
    """Base of every typed event (``Event:`` frames)."""

    privilege: str | None = msgspec.field(default=None, name="Privilege")
    timestamp: float | None = msgspec.field(default=None, name="Timestamp")
    action_id: str | None = msgspec.field(default=None, name="ActionID")
    system_name: str | None = msgspec.field(default=None, name="SystemName")
    extra: dict[str, str] = msgspec.field(default_factory=dict, name="__extra__")
    """Headers this class does not model, so nothing received is lost (repeats joined by LF)."""
    scoped_vars: dict[str, dict[str, str]] = msgspec.field(
        default_factory=dict, name="__scoped_vars__"
    )
    """``ChanVariable(<channel>): NAME=value`` headers: channel -> {NAME: value}."""


class UnknownEvent(AmiEvent, tag="__unknown__", frozen=True):
    """An event whose name is not in the vocabulary: every header kept, in order."""

    name: str
    headers: tuple[tuple[str, str], ...] = ()


class UndecodableEvent(AmiEvent, tag="__undecodable__", frozen=True):
    """A known event whose headers did not fit its type (recorded as an anomaly)."""

    name: str
    error: str
    headers: tuple[tuple[str, str], ...] = ()


class AmiResponse(msgspec.Struct, kw_only=True, frozen=True, gc=False):
    """A ``Response:`` frame (the answer to an action)."""

    response: str
    action_id: str | None = None
    message: str | None = None
    event_list: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    output: list[str] = msgspec.field(default_factory=list)
    """``Output:`` lines (``Command`` answers), in order; also kept in ``headers``."""

    @property
    def ok(self) -> bool:
        return self.response in ("Success", "Follows", "Goodbye")


class SessionStarted(msgspec.Struct, kw_only=True, frozen=True, gc=False):
    """A new AMI session began (the banner line): state seen so far may be stale."""

    banner: str


class ProtocolAnomaly(msgspec.Struct, kw_only=True, frozen=True, gc=False):
    """Bytes that did not form a valid frame; ``raw`` holds them exactly."""

    problem: str
    raw: bytes
