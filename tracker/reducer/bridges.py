"""The bridges state machine: bridge lifecycle and membership, keyed by BridgeUniqueid."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..events import (
    BridgeCreate,
    BridgeDestroy,
    BridgeEnter,
    BridgeLeave,
    BridgeMerge,
    BridgeVideoSourceUpdate,
)
from ..state.bridge import (
    Bridge,
    BridgeCreated,
    BridgeDestroyed,
    BridgeMerged,
    BridgeVideoSourceChanged,
    EnteredBridge,
    LeftBridge,
)
from .context import Context


def _text(value: str | None) -> str:
    return "" if value is None or value == "<unknown>" else value


def create(ctx: Context, e: Any, *, from_list: bool = False, prefix: str = "") -> Bridge:
    """Add a bridge from a (possibly prefixed) bridge snapshot (also used by resync)."""
    uid: str = getattr(e, prefix + "bridge_uniqueid")
    bridge = Bridge(
        uniqueid=uid,
        type=getattr(e, prefix + "bridge_type", None) or "",
        technology=getattr(e, prefix + "bridge_technology", None) or "",
        creator=_text(getattr(e, prefix + "bridge_creator", None)),
        name=_text(getattr(e, prefix + "bridge_name", None)),
        video_source_mode=getattr(e, prefix + "bridge_video_source_mode", None) or "",
        created=ctx.at,
        from_list=from_list,
        touched=-1 if from_list else ctx.seq,
    )
    ctx.world.bridges[uid] = bridge
    ctx.emit(
        BridgeCreated(
            seq=ctx.seq,
            at=ctx.at,
            uniqueid=uid,
            bridge_type=bridge.type,
            technology=bridge.technology,
            from_list=from_list,
        )
    )
    return bridge


def destroy(
    ctx: Context, bridge: Bridge, *, disconnected: bool = False, reconciled: bool = False
) -> None:
    world = ctx.world
    world.bridges.pop(bridge.uniqueid, None)
    for uid in bridge.members:
        ch = world.channels.get(uid)
        if ch is not None and ch.bridge == bridge.uniqueid:
            ch.bridge = None
    for lp in world.lists.values():
        lp.gone.append(bridge.uniqueid)
    ctx.emit(
        BridgeDestroyed(
            seq=ctx.seq,
            at=ctx.at,
            uniqueid=bridge.uniqueid,
            ended_while_disconnected=disconnected,
            reconciled=reconciled,
        )
    )


def enter(ctx: Context, bridge: Bridge, uid: str, swapped: str | None = None) -> None:
    """Put a channel into a bridge (leaving any bridge it was in)."""
    world = ctx.world
    ch = world.channels.get(uid)
    if ch is not None:
        if ch.bridge is not None and ch.bridge != bridge.uniqueid:
            old = world.bridges.get(ch.bridge)
            if old is not None and uid in old.members:
                old.members.remove(uid)
        ch.bridge = bridge.uniqueid
    if uid not in bridge.members:
        bridge.members.append(uid)
    ctx.emit(
        EnteredBridge(seq=ctx.seq, at=ctx.at, bridge=bridge.uniqueid, uniqueid=uid, swapped=swapped)
    )


def _create(ctx: Context, e: BridgeCreate) -> None:
    uid = e.bridge_uniqueid
    if not uid:
        return
    bridge = ctx.world.bridges.get(uid)
    if bridge is not None:
        if not bridge.from_list:
            ctx.anomaly("duplicate_bridge", uid)
        bridge.from_list = False
        bridge.touched = ctx.seq
        return
    create(ctx, e)


def _destroy(ctx: Context, e: BridgeDestroy) -> None:
    bridge = ctx.world.bridges.get(e.bridge_uniqueid or "")
    if bridge is None:
        ctx.anomaly("unknown_bridge", f"destroy {e.bridge_uniqueid}")
        return
    destroy(ctx, bridge)


def _bridge_for(ctx: Context, e: BridgeEnter | BridgeLeave) -> Bridge | None:
    uid = e.bridge_uniqueid
    if not uid:
        return None
    bridge = ctx.world.bridges.get(uid)
    if bridge is None:
        ctx.anomaly("unknown_bridge", uid)
        bridge = create(ctx, e)
    bridge.touched = ctx.seq
    return bridge


def _enter(ctx: Context, e: BridgeEnter) -> None:
    bridge = _bridge_for(ctx, e)
    uid = e.uniqueid
    if bridge is None or not uid:
        return
    enter(ctx, bridge, uid, e.swap_uniqueid or None)


def _leave(ctx: Context, e: BridgeLeave) -> None:
    uid = e.uniqueid or ""
    bid = e.bridge_uniqueid or ""
    bridge = ctx.world.bridges.get(bid)
    if bridge is None:
        ctx.anomaly("unknown_bridge", f"leave {bid}")
    elif uid in bridge.members:
        bridge.members.remove(uid)
        bridge.touched = ctx.seq
    else:
        ctx.anomaly("not_in_bridge", f"{uid} {bid}")
    ch = ctx.world.channels.get(uid)
    if ch is not None and ch.bridge == bid:
        ch.bridge = None
    ctx.emit(LeftBridge(seq=ctx.seq, at=ctx.at, bridge=bid, uniqueid=uid))


def _merge(ctx: Context, e: BridgeMerge) -> None:
    world = ctx.world
    to_id = e.to_bridge_uniqueid or ""
    from_id = e.from_bridge_uniqueid or ""
    into = world.bridges.get(to_id)
    if into is None:
        ctx.anomaly("unknown_bridge", f"merge into {to_id}")
        into = create(ctx, e, prefix="to_")
    merged = world.bridges.get(from_id)
    moved: tuple[str, ...] = ()
    if merged is None:
        ctx.anomaly("unknown_bridge", f"merge from {from_id}")
    else:
        # Asterisk follows the merge with BridgeLeave/BridgeEnter for every moved channel,
        # so membership changes there; the merge only names them.
        moved = tuple(merged.members)
    into.touched = ctx.seq
    ctx.emit(BridgeMerged(seq=ctx.seq, at=ctx.at, into=to_id, merged=from_id, moved=moved))


def _video(ctx: Context, e: BridgeVideoSourceUpdate) -> None:
    bridge = ctx.world.bridges.get(e.bridge_uniqueid or "")
    if bridge is None:
        ctx.anomaly("unknown_bridge", f"video {e.bridge_uniqueid}")
        return
    bridge.video_source = getattr(e, "bridge_video_source", None) or ""
    bridge.video_source_mode = e.bridge_video_source_mode or bridge.video_source_mode
    ctx.emit(
        BridgeVideoSourceChanged(
            seq=ctx.seq, at=ctx.at, uniqueid=bridge.uniqueid, source=bridge.video_source
        )
    )


_HANDLERS: dict[type[Any], Callable[[Context, Any], None]] = {
    BridgeCreate: _create,
    BridgeDestroy: _destroy,
    BridgeEnter: _enter,
    BridgeLeave: _leave,
    BridgeMerge: _merge,
    BridgeVideoSourceUpdate: _video,
}

EVENTS: frozenset[type[Any]] = frozenset(_HANDLERS)
"""The typed event classes this machine handles."""
LIVE = _HANDLERS
LIST: dict[type[Any], Callable[[Context, Any], None]] = {}
"""List-reply items are reconciliation (resync), never live events for this machine."""
