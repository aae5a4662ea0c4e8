"""Bridge state (by BridgeUniqueid) and its change records."""

from __future__ import annotations

import msgspec

from .changes import Change


class Bridge(msgspec.Struct, kw_only=True, gc=False):
    uniqueid: str
    type: str = ""
    technology: str = ""
    creator: str = ""
    name: str = ""
    members: list[str] = msgspec.field(default_factory=list)
    """Uniqueids of the channels in the bridge, in order of entry."""
    video_source_mode: str = ""
    video_source: str = ""
    created: float = 0.0
    from_list: bool = False
    touched: int = -1


class BridgeCreated(Change, frozen=True):
    uniqueid: str
    bridge_type: str
    technology: str
    from_list: bool = False


class BridgeDestroyed(Change, frozen=True):
    uniqueid: str
    ended_while_disconnected: bool = False
    reconciled: bool = False
    """Emptied by channels that a periodic channel list closed (see ``ChannelHungUp``)."""


class BridgeMerged(Change, frozen=True):
    into: str
    merged: str
    moved: tuple[str, ...] = ()


class BridgeVideoSourceChanged(Change, frozen=True):
    uniqueid: str
    source: str


class EnteredBridge(Change, frozen=True):
    bridge: str
    uniqueid: str
    swapped: str | None = None


class LeftBridge(Change, frozen=True):
    bridge: str
    uniqueid: str
