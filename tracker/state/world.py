"""The World: everything the fold knows. Mutable inside the reducer, copied out as snapshots."""

from __future__ import annotations

import msgspec

from .bridge import Bridge
from .call import Call
from .changes import Change
from .channel import Channel
from .conference import Conference
from .device import DeviceStates
from .gap import Gap
from .parking import ParkingLot
from .queue import Queue


class ListProgress(msgspec.Struct, kw_only=True, gc=False):
    """A list reply being received (resync): which ids it named so far."""

    start_seq: int
    """Seq of the list's ``Response`` (or its first item): objects touched later are not judged."""
    kind: str = ""
    seen: list[str] = msgspec.field(default_factory=list)
    gone: list[str] = msgspec.field(default_factory=list)
    """Ids that ended while the list was in flight (a late item must not revive them)."""
    types: list[str] = msgspec.field(default_factory=list)
    """Bridge types named by a BridgeList (it may have been filtered by type)."""


class SessionBegan(Change, frozen=True):
    """A new AMI session (banner): what we know may be stale until the next resync."""

    session: int
    banner: str = ""


class ListReconciled(Change, frozen=True):
    """A resync list completed: ``closed`` were gone (ended while we were not looking)."""

    kind: str
    listed: int
    closed: tuple[str, ...] = ()
    periodic: bool = False
    """Not the session's first channel list: a reconciliation while connected."""
    unlisted: tuple[str, ...] = ()
    """Periodic: not named, closed by the next list unless they show up alive meanwhile."""


class World(msgspec.Struct, kw_only=True, gc=False):
    clock: float = 0.0
    """Latest event time seen (epoch seconds): the fold's only notion of 'now'."""
    clock_candidate: float | None = None
    """Last event time that jumped far from ``clock`` and was not adopted (reducer.clock)."""
    clock_votes: int = 0
    """Consecutive events that agreed with ``clock_candidate``."""
    seq: int = -1
    """Sequence number of the last frame applied."""
    sessions: int = 0
    """AMI sessions seen (banners)."""
    channels: dict[str, Channel] = msgspec.field(default_factory=dict)
    """Live channels by Uniqueid."""
    bridges: dict[str, Bridge] = msgspec.field(default_factory=dict)
    """Live bridges by BridgeUniqueid."""
    calls: dict[str, Call] = msgspec.field(default_factory=dict)
    """Active calls by Linkedid."""
    calls_ended: int = 0
    queues: dict[str, Queue] = msgspec.field(default_factory=dict)
    conferences: dict[str, Conference] = msgspec.field(default_factory=dict)
    """ConfBridge (and MeetMe) rooms by name."""
    parking: dict[str, ParkingLot] = msgspec.field(default_factory=dict)
    """Parking lots by name."""
    devices: DeviceStates = msgspec.field(default_factory=lambda: DeviceStates())
    anomalies: int = 0
    session_seq: int = -1
    """Seq of the banner of the current AMI session."""
    listed_session: int = 0
    """Session (``sessions``) in which the last channel list completed: a later list in the
    same session is a periodic reconciliation, not a resync."""
    unlisted: dict[str, int] = msgspec.field(default_factory=dict)
    """Channels a periodic list did not name -> that list's start seq: the next periodic list
    closes them unless it names them or an event touched them since (their Hangup may just
    have been on its way when the list was taken)."""
    lists: dict[str, ListProgress] = msgspec.field(default_factory=dict)
    """List replies in flight by ActionID (resync)."""
    channel_counter: int = -1
    """Highest Uniqueid counter of a channel seen (``tracker.reducer.gaps``)."""
    gap: Gap | None = None
    """The gap before the current session (None before a second session): the resync's
    findings about it are added as they come (``tracker.reducer.gaps``)."""
    gone: dict[str, float] = msgspec.field(default_factory=dict)
    """Recently hung-up Uniqueids -> hangup time (bounded): Asterisk sends a few events for a
    channel after its Hangup (e.g. NewCallerid while it is destroyed); they must not revive it."""


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(World)


def snapshot(world: World) -> World:
    """A deep, independent copy (the reducer keeps mutating its own World)."""
    return _decoder.decode(_encoder.encode(world))


def encode_world(world: World) -> bytes:
    return _encoder.encode(world)


def decode_world(blob: bytes) -> World:
    return _decoder.decode(blob)
