"""Resync: a new AMI session, and list replies as reconciliation (never as live events).

* ``SessionStarted`` (the banner) starts a session; what we know may be stale from now on.
* A list's ``Response`` (``EventList: start``) records where the list began (``start_seq``).
* Items (``CoreShowChannel``, ``Status``, ``BridgeInfoChannel``, ``BridgeListItem``) create the
  channels and bridges we never saw and refresh the ones we know (state, Linkedid, bridge).
* On ``CoreShowChannelsComplete`` / ``BridgeListComplete``, channels/bridges not named by the
  list are closed ("ended while disconnected") -- but only those last touched before the list
  began: a list taken mid-run (``load.ami.gz``) must not close what was created meanwhile.
  Objects that ended while the list was in flight are not revived by a late item, and a listed
  channel whose ``Newchannel`` comes after its item is not created twice.
* The first channel list of a session is its resync: what it closes "ended while disconnected".
  A later one in the same session is a periodic reconciliation (the live tracker asks
  ``CoreShowChannels`` every few minutes). Asterisk takes the list from its channel cache while
  events are still queued, so a channel that hung up just before the list may have its
  ``Hangup`` on the way: a periodic list only notes what it misses (``unlisted``), and the next
  one closes those it misses again and that no event touched meanwhile. They had their
  ``Hangup`` lost and are marked ``reconciled``. An offline fold only reconciles where the
  capture holds such lists.
* ``Status`` may be filtered to one channel and ``BridgeList`` to one bridge type, so a Status
  list never closes anything and a BridgeList only closes bridges of the types it listed (an
  empty BridgeList closes nothing: it may have been filtered). A bridge emptied by channels
  that CoreShowChannels closed is closed with them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..events import (
    AmiResponse,
    BridgeInfoChannel,
    BridgeInfoComplete,
    BridgeListComplete,
    BridgeListItem,
    CoreShowChannel,
    CoreShowChannelsComplete,
    SessionStarted,
    Status,
    StatusComplete,
)
from ..events.registry import EVENT_TYPES
from ..state.bridge import Bridge
from ..state.channel import Channel
from ..state.world import ListProgress, ListReconciled, SessionBegan
from . import bridges, calls, channels, gaps
from .context import Context

CHANNELS = "channels"
BRIDGES = "bridges"
MAX_OPEN_LISTS = 64


def _session(ctx: Context, e: SessionStarted) -> None:
    world = ctx.world
    world.sessions += 1
    world.session_seq = ctx.seq
    world.lists.clear()
    ctx.emit(SessionBegan(seq=ctx.seq, at=ctx.at, session=world.sessions, banner=e.banner))
    gaps.open_gap(ctx, ctx.before)


def _response(ctx: Context, e: AmiResponse) -> None:
    if e.event_list == "start" and e.action_id is not None:
        lists = ctx.world.lists
        lists[e.action_id] = ListProgress(start_seq=ctx.seq)
        if len(lists) > MAX_OPEN_LISTS:  # a list whose end never came
            del lists[next(iter(lists))]


def _list_complete(ctx: Context, e: Any) -> None:
    """Any other list's end: forget it (only channel and bridge lists are reconciled here)."""
    ctx.world.lists.pop(e.action_id or "", None)


def _progress(ctx: Context, e: Any, kind: str) -> ListProgress:
    key = e.action_id or ""
    lp = ctx.world.lists.get(key)
    if lp is None:
        lp = ctx.world.lists[key] = ListProgress(start_seq=ctx.seq)
    lp.kind = kind
    return lp


def _duration(text: str | None) -> float:
    """``HH:MM:SS`` (CoreShowChannel) -> seconds."""
    if not text:
        return 0.0
    total = 0
    for part in text.split(":"):
        if not part.isdigit():
            return 0.0
        total = total * 60 + int(part)
    return float(total)


def _bridge_placeholder(ctx: Context, bid: str) -> Bridge:
    bridge = ctx.world.bridges.get(bid)
    if bridge is None:
        bridge = Bridge(uniqueid=bid, created=ctx.at, from_list=True)
        ctx.world.bridges[bid] = bridge
    return bridge


def _channel_item(ctx: Context, e: CoreShowChannel | Status | BridgeInfoChannel) -> None:
    uid = e.uniqueid
    if not uid:
        return
    lp = _progress(ctx, e, CHANNELS if isinstance(e, CoreShowChannel) else "")
    lp.seen.append(uid)
    world = ctx.world
    ch = world.channels.get(uid)
    if ch is None:
        if uid in lp.gone or uid in world.gone:
            return
        if isinstance(e, CoreShowChannel):
            age = _duration(e.duration)
        elif isinstance(e, Status):
            age = float(e.seconds or 0)
        else:
            age = 0.0
        ch = channels.create(
            ctx,
            uid,
            e.linkedid or uid,
            e.channel or "",
            from_list=True,
            event=e,
            created=ctx.at - age,
        )
        if ch.state == channels.UP:
            ch.answered = ch.created
        _pair_local(ctx, ch)
    else:
        linkedid = e.linkedid
        if linkedid and linkedid != ch.linkedid:
            old = ch.linkedid
            ch.linkedid = linkedid
            calls.leg_moved(ctx, ch, old)
        ch.state = e.channel_state if e.channel_state is not None else ch.state
        ch.state_desc = e.channel_state_desc or ch.state_desc
    bid = None if isinstance(e, BridgeInfoChannel) else e.bridge_id
    if bid and ch.bridge != bid:
        bridge = _bridge_placeholder(ctx, bid)
        bridges.enter(ctx, bridge, uid)
        calls.bridged(ctx, bridge, ch)


def _pair_local(ctx: Context, ch: Channel) -> None:
    """A listed ``Local/x@ctx-N;1`` finds its ``;2`` half by name (no LocalBridge was seen)."""
    name = ch.name
    if not name.startswith("Local/") or name[-2:] not in (";1", ";2"):
        return
    other = name[:-1] + ("2" if name[-1] == "1" else "1")
    for peer in ctx.world.channels.values():
        if peer.name == other and peer.local_peer is None:
            peer.local_peer = ch.uniqueid
            ch.local_peer = peer.uniqueid
            return


def _bridge_item(ctx: Context, e: BridgeListItem | BridgeInfoComplete) -> None:
    bid = e.bridge_uniqueid
    if not bid:
        return
    world = ctx.world
    lp = _progress(ctx, e, BRIDGES if isinstance(e, BridgeListItem) else "")
    bridge = world.bridges.get(bid)
    if bridge is None:
        if bid in lp.gone:
            return
        bridge = bridges.create(ctx, e, from_list=True)
    elif not bridge.type:
        bridge.type = e.bridge_type or ""
        bridge.technology = e.bridge_technology or ""
    if isinstance(e, BridgeListItem):
        lp.seen.append(bid)
        if bridge.type not in lp.types:
            lp.types.append(bridge.type)


def _bridge_info_complete(ctx: Context, e: BridgeInfoComplete) -> None:
    lp = ctx.world.lists.get(e.action_id or "")
    _bridge_item(ctx, e)
    bridge = ctx.world.bridges.get(e.bridge_uniqueid or "")
    if bridge is not None and lp is not None:
        for uid in lp.seen:
            ch = ctx.world.channels.get(uid)
            if ch is not None and uid not in bridge.members:
                bridges.enter(ctx, bridge, uid)
                calls.bridged(ctx, bridge, ch)
    ctx.world.lists.pop(e.action_id or "", None)


def _channels_complete(ctx: Context, e: CoreShowChannelsComplete) -> None:
    world = ctx.world
    lp = world.lists.pop(e.action_id or "", None)
    start = lp.start_seq if lp is not None else ctx.seq
    listed = set(lp.seen) if lp is not None else set()
    periodic = world.listed_session == world.sessions
    world.listed_session = world.sessions
    stale = [ch for uid, ch in world.channels.items() if uid not in listed and ch.touched < start]
    unlisted: list[str] = []
    if periodic:  # close only what the previous list missed too, untouched since
        before = world.unlisted
        unlisted = [ch.uniqueid for ch in stale if ch.touched >= before.get(ch.uniqueid, -1)]
        stale = [ch for ch in stale if ch.touched < before.get(ch.uniqueid, -1)]
    world.unlisted = dict.fromkeys(unlisted, start)
    emptied: list[str] = []
    for ch in stale:
        if ch.uniqueid in world.channels:
            if ch.bridge is not None:
                emptied.append(ch.bridge)
            channels.remove(ctx, ch, disconnected=not periodic, reconciled=periodic)
    for bid in emptied:
        bridge = world.bridges.get(bid)
        if bridge is not None and not bridge.members and bridge.touched < start:
            bridges.destroy(ctx, bridge, disconnected=not periodic, reconciled=periodic)
    ctx.emit(
        ListReconciled(
            seq=ctx.seq,
            at=ctx.at,
            kind=CHANNELS,
            listed=len(listed),
            closed=tuple(ch.uniqueid for ch in stale),
            periodic=periodic,
            unlisted=tuple(unlisted),
        )
    )
    if not periodic:
        gaps.resynced(ctx)


def _bridges_complete(ctx: Context, e: BridgeListComplete) -> None:
    lp = ctx.world.lists.pop(e.action_id or "", None)
    start = lp.start_seq if lp is not None else ctx.seq
    listed = set(lp.seen) if lp is not None else set()
    types = set(lp.types) if lp is not None else set()
    stale = [
        b
        for bid, b in ctx.world.bridges.items()
        if bid not in listed and b.touched < start and b.type in types
    ]
    for bridge in stale:
        bridges.destroy(ctx, bridge, disconnected=True)
    ctx.emit(
        ListReconciled(
            seq=ctx.seq,
            at=ctx.at,
            kind=BRIDGES,
            listed=len(listed),
            closed=tuple(b.uniqueid for b in stale),
        )
    )


def _status_complete(ctx: Context, e: StatusComplete) -> None:
    ctx.world.lists.pop(e.action_id or "", None)


_HANDLERS: dict[type[Any], Callable[[Context, Any], None]] = {
    SessionStarted: _session,
    AmiResponse: _response,
    CoreShowChannel: _channel_item,
    Status: _channel_item,
    BridgeInfoChannel: _channel_item,
    BridgeListItem: _bridge_item,
    BridgeInfoComplete: _bridge_info_complete,
    CoreShowChannelsComplete: _channels_complete,
    BridgeListComplete: _bridges_complete,
    StatusComplete: _status_complete,
}

EVENTS: frozenset[type[Any]] = frozenset(_HANDLERS)
"""The typed event classes this machine handles."""
LIVE = _HANDLERS
LIST = dict(_HANDLERS)
LIST.update(
    (cls, _list_complete)
    for name, cls in EVENT_TYPES.items()
    if name.endswith("Complete") and cls not in _HANDLERS
)
