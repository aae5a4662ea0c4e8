"""Parking lots and parked calls."""

from __future__ import annotations

import msgspec

from .changes import Change


class ParkedCall(msgspec.Struct, kw_only=True, gc=False):
    space: str
    lot: str
    parkee_uniqueid: str | None = None
    parkee_channel: str | None = None
    parkee_caller_id_num: str | None = None
    parkee_caller_id_name: str | None = None
    parker_dial_string: str | None = None
    timeout: int | None = None
    """Seconds left when parked (ParkingTimeout)."""
    parked_at: float | None = None
    seq: int = -1
    listed_by: str | None = None


class ParkingLot(msgspec.Struct, kw_only=True, gc=False):
    name: str
    start_space: int | None = None
    stop_space: int | None = None
    timeout: int | None = None
    calls: dict[str, ParkedCall] = msgspec.field(default_factory=dict)
    """Parked calls by space."""


class CallParked(Change, frozen=True):
    lot: str
    space: str
    parkee_uniqueid: str | None
    parkee_channel: str | None
    parker_dial_string: str | None = None
    timeout: int | None = None


class _ParkingEnded(Change, frozen=True):
    lot: str
    space: str
    parkee_uniqueid: str | None
    parkee_channel: str | None
    duration: int | None = None


class CallUnparked(_ParkingEnded, frozen=True):
    retriever_uniqueid: str | None = None
    retriever_channel: str | None = None
    retriever_caller_id_num: str | None = None


class ParkingTimedOut(_ParkingEnded, frozen=True):
    pass


class ParkedCallGaveUp(_ParkingEnded, frozen=True):
    pass


class ParkedCallSwapped(Change, frozen=True):
    lot: str
    space: str
    parkee_uniqueid: str | None
    previous_uniqueid: str | None


class ParkingReconciled(Change, frozen=True):
    """A list reply (ParkedCalls/Parkinglots) corrected our state: never a live transition."""

    lot: str
    space: str
    """Empty for a lot."""
    action: str
    """``created``, ``updated`` or ``removed``."""
