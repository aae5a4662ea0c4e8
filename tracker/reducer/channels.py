"""The channels state machine: every channel transition lives here.

Channels are keyed by Uniqueid. Nearly every channel event carries a full channel snapshot, so
each one refreshes state, caller/connected line, dialplan position and Linkedid (Asterisk
propagates Linkedids through bridges: a changed Linkedid moves the channel to another call).
The call lifecycle follows the channel lifecycle: creation, Linkedid change and hangup are
reported to ``calls`` directly, so live events and resync lists drive calls the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..events import (
    AgentCalled,
    AgentComplete,
    AgentConnect,
    AgentRingNoAnswer,
    BridgeEnter,
    BridgeLeave,
    ConfbridgeJoin,
    ConfbridgeLeave,
    ConfbridgeMute,
    ConfbridgeUnmute,
    DialBegin,
    DialEnd,
    DialState,
    DTMFBegin,
    DTMFEnd,
    Hangup,
    HangupRequest,
    Hold,
    LocalBridge,
    LocalOptimizationBegin,
    LocalOptimizationEnd,
    MixMonitorMute,
    MixMonitorStart,
    MixMonitorStop,
    MusicOnHoldStart,
    MusicOnHoldStop,
    NewAccountCode,
    NewCallerid,
    Newchannel,
    NewConnectedLine,
    Newexten,
    Newstate,
    QueueCallerAbandon,
    QueueCallerJoin,
    QueueCallerLeave,
    Rename,
    SoftHangupRequest,
    Unhold,
    UserEvent,
    VarSet,
)
from ..state.channel import (
    Channel,
    ChannelCallerChanged,
    ChannelCreated,
    ChannelDialplan,
    ChannelDtmf,
    ChannelHold,
    ChannelHungUp,
    ChannelLinkedidChanged,
    ChannelMusicOnHold,
    ChannelRecording,
    ChannelRenamed,
    ChannelStateChanged,
    ChannelVariableSet,
    DialEnded,
    DialStarted,
    DialStateChanged,
    LocalOptimization,
    LocalPaired,
)
from . import calls, gaps
from .context import Context

UP = 6
DTMF_KEEP = 32
GONE_KEEP = 1024
"""How many hung-up Uniqueids to remember (late events after a Hangup are ignored)."""


def creation_order(uniqueid: str) -> int:
    """Asterisk's Uniqueid is ``<epoch>.<global counter>``: the counter orders creation."""
    _, _, counter = uniqueid.rpartition(".")
    return int(counter) if counter.isdigit() else 0


# -- creation / removal (also used by resync) -------------------------------------------


def create(
    ctx: Context,
    uniqueid: str,
    linkedid: str,
    name: str,
    *,
    from_list: bool = False,
    event: Any = None,
    created: float | None = None,
) -> Channel:
    """Add a channel to the World, starting or joining its call."""
    ch = Channel(
        uniqueid=uniqueid,
        linkedid=linkedid or uniqueid,
        name=name,
        order=creation_order(uniqueid),
        created=ctx.at if created is None else created,
        from_list=from_list,
        touched=-1 if from_list else ctx.seq,
    )
    if event is not None:
        _copy_snapshot(ch, event)
        cv = getattr(event, "chan_variable", None)
        if cv:
            ch.variables.update(cv)
    ctx.world.channels[uniqueid] = ch
    ctx.emit(
        ChannelCreated(
            seq=ctx.seq,
            at=ctx.at,
            uniqueid=uniqueid,
            linkedid=ch.linkedid,
            name=name,
            from_list=from_list,
        )
    )
    calls.leg_added(ctx, ch)
    gaps.channel_met(
        ctx, ch.order, born=not from_list and not ctx.list_item and type(event) is Newchannel
    )
    return ch


def remove(
    ctx: Context,
    ch: Channel,
    cause: int | None = None,
    cause_txt: str = "",
    *,
    disconnected: bool = False,
    reconciled: bool = False,
) -> None:
    """Take a channel out of the World (hangup, or closed by a resync or periodic list)."""
    world = ctx.world
    world.channels.pop(ch.uniqueid, None)
    ch.hangup_cause = cause
    ch.hangup_cause_txt = cause_txt
    if ch.bridge is not None:
        bridge = world.bridges.get(ch.bridge)
        if bridge is not None and ch.uniqueid in bridge.members:
            bridge.members.remove(ch.uniqueid)
        ch.bridge = None
    if ch.local_peer is not None:
        peer = world.channels.get(ch.local_peer)
        if peer is not None and peer.local_peer == ch.uniqueid:
            peer.local_peer = None
    for lp in world.lists.values():
        lp.gone.append(ch.uniqueid)
    gone = world.gone
    gone[ch.uniqueid] = ctx.at
    if len(gone) > GONE_KEEP:
        del gone[next(iter(gone))]
    ctx.emit(
        ChannelHungUp(
            seq=ctx.seq,
            at=ctx.at,
            uniqueid=ch.uniqueid,
            linkedid=ch.linkedid,
            name=ch.name,
            cause=cause,
            cause_txt=cause_txt,
            ended_while_disconnected=disconnected,
            reconciled=reconciled,
        )
    )
    calls.leg_removed(ctx, ch, disconnected=disconnected, reconciled=reconciled)


# -- snapshot refresh -----------------------------------------------------------------


def _copy_snapshot(ch: Channel, e: Any) -> None:
    ch.name = e.channel or ch.name
    ch.state = e.channel_state if e.channel_state is not None else ch.state
    ch.state_desc = e.channel_state_desc or ch.state_desc
    ch.caller_num = e.caller_id_num or ""
    ch.caller_name = e.caller_id_name or ""
    ch.connected_num = e.connected_line_num or ""
    ch.connected_name = e.connected_line_name or ""
    ch.language = e.language or ""
    ch.account_code = e.account_code or ""
    ch.context = e.context or ""
    ch.exten = e.exten or ""
    ch.priority = e.priority or 0


def sync(ctx: Context, e: Any, *, adopt: bool = True) -> Channel | None:
    """Refresh the channel an event's own snapshot describes; returns it (None if none).

    A live event for a channel we never saw adopts it (anomaly ``unknown_channel``): after a
    reconnect, events can precede the resync list.
    """
    uid = e.uniqueid
    if not uid:
        return None
    world = ctx.world
    ch = world.channels.get(uid)
    if ch is None:
        if not adopt or ctx.list_item or uid in world.gone:
            return None
        ctx.anomaly("unknown_channel", uid)
        return create(ctx, uid, e.linkedid or uid, e.channel or "", event=e)
    ch.touched = ctx.seq
    state = e.channel_state
    if state is not None and state != ch.state:
        ch.state = state
        ch.state_desc = e.channel_state_desc or ""
        if state == UP and ch.answered is None:
            ch.answered = ctx.at
        ctx.emit(
            ChannelStateChanged(
                seq=ctx.seq, at=ctx.at, uniqueid=uid, state=state, state_desc=ch.state_desc
            )
        )
    ch.caller_num = e.caller_id_num or ""
    ch.caller_name = e.caller_id_name or ""
    ch.connected_num = e.connected_line_num or ""
    ch.connected_name = e.connected_line_name or ""
    ch.context = e.context or ""
    ch.exten = e.exten or ""
    ch.priority = e.priority or 0
    linkedid = e.linkedid
    if linkedid and linkedid != ch.linkedid:
        old = ch.linkedid
        ch.linkedid = linkedid
        ctx.emit(
            ChannelLinkedidChanged(seq=ctx.seq, at=ctx.at, uniqueid=uid, old=old, new=linkedid)
        )
        calls.leg_moved(ctx, ch, old)
    return ch


def sync_prefixed(ctx: Context, e: Any, prefix: str) -> Channel | None:
    """Refresh from a prefixed snapshot (``dest_``, ``local_one_``, ...); never adopts."""
    uid = getattr(e, prefix + "uniqueid", None)
    if not uid:
        return None
    ch = ctx.world.channels.get(uid)
    if ch is None:
        return None
    ch.touched = ctx.seq
    state = getattr(e, prefix + "channel_state", None)
    if state is not None and state != ch.state:
        ch.state = state
        ch.state_desc = getattr(e, prefix + "channel_state_desc", None) or ""
        if state == UP and ch.answered is None:
            ch.answered = ctx.at
        ctx.emit(
            ChannelStateChanged(
                seq=ctx.seq, at=ctx.at, uniqueid=uid, state=state, state_desc=ch.state_desc
            )
        )
    linkedid = getattr(e, prefix + "linkedid", None)
    if linkedid and linkedid != ch.linkedid:
        old = ch.linkedid
        ch.linkedid = linkedid
        ctx.emit(
            ChannelLinkedidChanged(seq=ctx.seq, at=ctx.at, uniqueid=uid, old=old, new=linkedid)
        )
        calls.leg_moved(ctx, ch, old)
    return ch


# -- handlers ---------------------------------------------------------------------------


def _newchannel(ctx: Context, e: Newchannel) -> None:
    uid = e.uniqueid
    if not uid:
        ctx.anomaly("missing_uniqueid", "Newchannel")
        return
    ch = ctx.world.channels.get(uid)
    if ch is not None:
        if not ch.from_list:
            ctx.anomaly("duplicate_channel", uid)
        ch.from_list = False
        sync(ctx, e)
        return
    ch = create(ctx, uid, e.linkedid or uid, e.channel or "", event=e)
    if ch.state == UP:
        ch.answered = ctx.at


def _snapshot_only(ctx: Context, e: Any) -> None:
    sync(ctx, e)


def _rename(ctx: Context, e: Rename) -> None:
    ch = ctx.world.channels.get(e.uniqueid or "")
    if ch is None:
        ctx.anomaly("unknown_channel", f"rename {e.uniqueid}")
        return
    old = ch.name
    ch.name = e.newname or old
    ch.touched = ctx.seq
    ctx.emit(ChannelRenamed(seq=ctx.seq, at=ctx.at, uniqueid=ch.uniqueid, old=old, new=ch.name))


def _callerid(ctx: Context, e: NewCallerid | NewConnectedLine) -> None:
    ch = sync(ctx, e)
    if ch is None:
        return
    ctx.emit(
        ChannelCallerChanged(
            seq=ctx.seq,
            at=ctx.at,
            uniqueid=ch.uniqueid,
            caller_num=ch.caller_num,
            caller_name=ch.caller_name,
            connected_num=ch.connected_num,
            connected_name=ch.connected_name,
        )
    )
    calls.caller_changed(ctx, ch)


def _accountcode(ctx: Context, e: NewAccountCode) -> None:
    ch = sync(ctx, e)
    if ch is not None:
        ch.account_code = e.account_code or ""


def _newexten(ctx: Context, e: Newexten) -> None:
    ch = ctx.world.channels.get(e.uniqueid or "")
    # A bridged channel runs no dialplan: a new context/extension while it is still in its
    # bridge is an async goto (AMI Redirect, ChannelRedirect(), a blind transfer), announced
    # before the channel leaves the bridge.
    moved = (
        ch is not None
        and ch.bridge is not None
        and bool(e.exten)
        and (e.exten != ch.exten or (e.context or "") != ch.context)
    )
    ch = sync(ctx, e)
    if ch is None:
        return
    if moved:
        calls.redirected(ctx, ch, f"{ch.exten}@{ch.context}")
    ch.app = e.application or ""
    ch.app_data = e.app_data or ""
    ctx.emit(
        ChannelDialplan(
            seq=ctx.seq,
            at=ctx.at,
            uniqueid=ch.uniqueid,
            context=ch.context,
            exten=e.extension or ch.exten,
            priority=ch.priority,
            app=ch.app,
            app_data=ch.app_data,
        )
    )


def _varset(ctx: Context, e: VarSet) -> None:
    ch = sync(ctx, e)
    if ch is None or not e.variable:
        return
    name = e.variable.lstrip("_")
    value = e.value or ""
    ch.variables[name] = value
    ctx.emit(
        ChannelVariableSet(seq=ctx.seq, at=ctx.at, uniqueid=ch.uniqueid, variable=name, value=value)
    )


def _dial_begin(ctx: Context, e: DialBegin) -> None:
    caller = sync(ctx, e) if e.uniqueid else None
    dest = sync_prefixed(ctx, e, "dest_")
    dest_uid = e.dest_uniqueid or ""
    if dest is None:
        ctx.anomaly("unknown_channel", f"dial dest {dest_uid}")
    else:
        dest.dialed_by = caller.uniqueid if caller is not None else ""
        dest.dial_status = ""
    if caller is not None and dest_uid:
        if caller.dialing is None:
            caller.dialing = [dest_uid]
        elif dest_uid not in caller.dialing:
            caller.dialing.append(dest_uid)
    ctx.emit(
        DialStarted(
            seq=ctx.seq,
            at=ctx.at,
            caller=caller.uniqueid if caller is not None else None,
            dest=dest_uid,
            dial_string=e.dial_string or "",
        )
    )


def _dial_state(ctx: Context, e: DialState) -> None:
    caller = sync(ctx, e) if e.uniqueid else None
    dest = sync_prefixed(ctx, e, "dest_")
    status = e.dial_status or ""
    if dest is not None:
        dest.dial_status = status
    if caller is not None:
        caller.dial_status = status
    ctx.emit(
        DialStateChanged(
            seq=ctx.seq,
            at=ctx.at,
            caller=e.uniqueid or None,
            dest=e.dest_uniqueid or "",
            status=status,
        )
    )


def _dial_end(ctx: Context, e: DialEnd) -> None:
    caller = sync(ctx, e) if e.uniqueid else None
    dest = sync_prefixed(ctx, e, "dest_")
    dest_uid = e.dest_uniqueid or ""
    status = e.dial_status or ""
    if _dial_end_unexplained(ctx, e, caller, dest):
        ctx.anomaly("dial_end_without_begin", dest_uid)
    if dest is not None:
        dest.dial_status = status
    if caller is not None:
        caller.dial_status = status
        if caller.dialing is not None and dest_uid in caller.dialing:
            caller.dialing.remove(dest_uid)
            if not caller.dialing:
                caller.dialing = None
    ctx.emit(
        DialEnded(
            seq=ctx.seq,
            at=ctx.at,
            caller=caller.uniqueid if caller is not None else (e.uniqueid or None),
            dest=dest_uid,
            status=status,
        )
    )


def _dial_end_unexplained(
    ctx: Context, e: DialEnd, caller: Channel | None, dest: Channel | None
) -> bool:
    """A DialEnd whose DialBegin is missing for no reason Asterisk is known to have.

    Ordinary ends without (or after) a begin: app_queue ends a rung-then-cancelled member's dial
    twice (NOANSWER, then CANCEL), possibly after the member's Hangup; the end can follow the
    destination's Hangup (the channel is already gone); Asterisk dials some channels itself and
    publishes only the end (no dialling channel: the attended-transfer target ``Local/<exten>@``,
    dialled by the bridge features); a channel first seen in a resync list was dialled before we
    connected.
    """
    if dest is None:
        return (e.dest_uniqueid or "") not in ctx.world.gone
    if dest.dialed_by is not None or dest.from_list or not e.uniqueid:
        return False
    return caller is None or not caller.from_list


def _hold(ctx: Context, e: Hold | Unhold) -> None:
    ch = sync(ctx, e)
    if ch is None:
        return
    on = isinstance(e, Hold)
    music = e.music_class if isinstance(e, Hold) else None
    ch.on_hold = on
    ctx.emit(
        ChannelHold(seq=ctx.seq, at=ctx.at, uniqueid=ch.uniqueid, on_hold=on, music_class=music)
    )


def _moh(ctx: Context, e: MusicOnHoldStart | MusicOnHoldStop) -> None:
    ch = sync(ctx, e)
    if ch is None:
        return
    on = isinstance(e, MusicOnHoldStart)
    klass = (e.class_ or "") if isinstance(e, MusicOnHoldStart) else None
    ch.moh_class = klass
    ctx.emit(
        ChannelMusicOnHold(
            seq=ctx.seq, at=ctx.at, uniqueid=ch.uniqueid, playing=on, music_class=klass
        )
    )


def _mixmonitor(ctx: Context, e: MixMonitorStart | MixMonitorStop | MixMonitorMute) -> None:
    ch = sync(ctx, e)
    if ch is None:
        return
    if isinstance(e, MixMonitorMute):
        muted = str(e.state or "") in ("1", "on", "yes", "true", "True")
        ch.recording_muted = (e.direction or "both") if muted else None
    else:
        ch.recording = isinstance(e, MixMonitorStart)
        if not ch.recording:
            ch.recording_muted = None
    ctx.emit(
        ChannelRecording(
            seq=ctx.seq,
            at=ctx.at,
            uniqueid=ch.uniqueid,
            recording=ch.recording,
            muted=ch.recording_muted,
        )
    )


def _dtmf(ctx: Context, e: DTMFBegin | DTMFEnd) -> None:
    ch = sync(ctx, e)
    if ch is None:
        return
    digit = e.digit or ""
    end = isinstance(e, DTMFEnd)
    sent = e.direction == "Sent"
    end_only = False
    if end:
        # Digits whose source delivers only the end (SIP INFO, the feature digits Atxfer and
        # CancelAtxfer queue, an RFC 4733 event whose start packets were lost) are reported as
        # a DTMFEnd alone: Asterisk emulates the begin internally without an event.
        if sent:
            end_only = ch.dtmf_sending is None
            ch.dtmf_sending = None
        else:
            end_only = ch.dtmf_pending is None
            ch.dtmf_pending = None
        ch.dtmf = (ch.dtmf + digit)[-DTMF_KEEP:]
    elif sent:
        ch.dtmf_sending = digit
    else:
        ch.dtmf_pending = digit
    ctx.emit(
        ChannelDtmf(
            seq=ctx.seq,
            at=ctx.at,
            uniqueid=ch.uniqueid,
            digit=digit,
            direction=e.direction or "",
            end=end,
            end_only=end_only,
        )
    )


def _local_bridge(ctx: Context, e: LocalBridge) -> None:
    one = sync_prefixed(ctx, e, "local_one_")
    two = sync_prefixed(ctx, e, "local_two_")
    if one is None or two is None:
        ctx.anomaly("unknown_channel", f"local pair {e.local_one_uniqueid} {e.local_two_uniqueid}")
        return
    one.local_peer = two.uniqueid
    two.local_peer = one.uniqueid
    if one.caller_side or two.caller_side:
        one.caller_side = two.caller_side = True
    ctx.emit(LocalPaired(seq=ctx.seq, at=ctx.at, one=one.uniqueid, two=two.uniqueid))


def _local_optimization(ctx: Context, e: LocalOptimizationBegin | LocalOptimizationEnd) -> None:
    one = sync_prefixed(ctx, e, "local_one_")
    two = sync_prefixed(ctx, e, "local_two_")
    begun = isinstance(e, LocalOptimizationBegin)
    success: bool | None = None
    if isinstance(e, LocalOptimizationEnd):
        success = str(e.success or "").lower() in ("yes", "true", "1")
    for ch in (one, two):
        if ch is not None:
            ch.optimizing = begun
    if one is None and two is None:
        ctx.anomaly("unknown_channel", f"local optimization {e.local_one_uniqueid}")
    ctx.emit(
        LocalOptimization(
            seq=ctx.seq,
            at=ctx.at,
            one=e.local_one_uniqueid or "",
            two=e.local_two_uniqueid or "",
            begun=begun,
            success=success,
        )
    )


def _hangup(ctx: Context, e: Hangup) -> None:
    uid = e.uniqueid or ""
    ch = ctx.world.channels.get(uid)
    if ch is None:
        if uid not in ctx.world.gone:
            ctx.anomaly("unknown_channel", f"hangup {uid}")
        return
    remove(ctx, ch, e.cause, e.cause_txt or "")


_HANDLERS: dict[type[Any], Callable[[Context, Any], None]] = {
    Newchannel: _newchannel,
    Newstate: _snapshot_only,
    HangupRequest: _snapshot_only,
    SoftHangupRequest: _snapshot_only,
    UserEvent: _snapshot_only,
    BridgeEnter: _snapshot_only,
    BridgeLeave: _snapshot_only,
    QueueCallerJoin: _snapshot_only,
    QueueCallerLeave: _snapshot_only,
    QueueCallerAbandon: _snapshot_only,
    AgentCalled: _snapshot_only,
    AgentConnect: _snapshot_only,
    AgentComplete: _snapshot_only,
    AgentRingNoAnswer: _snapshot_only,
    ConfbridgeJoin: _snapshot_only,
    ConfbridgeLeave: _snapshot_only,
    ConfbridgeMute: _snapshot_only,
    ConfbridgeUnmute: _snapshot_only,
    Rename: _rename,
    NewCallerid: _callerid,
    NewConnectedLine: _callerid,
    NewAccountCode: _accountcode,
    Newexten: _newexten,
    VarSet: _varset,
    DialBegin: _dial_begin,
    DialState: _dial_state,
    DialEnd: _dial_end,
    Hold: _hold,
    Unhold: _hold,
    MusicOnHoldStart: _moh,
    MusicOnHoldStop: _moh,
    MixMonitorStart: _mixmonitor,
    MixMonitorStop: _mixmonitor,
    MixMonitorMute: _mixmonitor,
    DTMFBegin: _dtmf,
    DTMFEnd: _dtmf,
    LocalBridge: _local_bridge,
    LocalOptimizationBegin: _local_optimization,
    LocalOptimizationEnd: _local_optimization,
    Hangup: _hangup,
}

EVENTS: frozenset[type[Any]] = frozenset(_HANDLERS)
"""The typed event classes this machine handles."""
LIVE = _HANDLERS
LIST: dict[type[Any], Callable[[Context, Any], None]] = {}
"""List-reply items are reconciliation (resync), never live events for this machine."""
