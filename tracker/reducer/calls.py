"""The calls state machine: calls by Linkedid, from the first channel to the last hangup.

Membership follows the channels machine (``leg_added``/``leg_moved``/``leg_removed``): a call
ends when its last live channel is gone, is emitted as ``CallEnded`` and leaves the World.

Answered, in the sense of Asterisk's CDR (a record with a destination channel and disposition
ANSWERED; see tests/reducer/test_cdr.py for the comparison):

* a ``DialEnd`` with ``DialStatus: ANSWER`` dialled by one of the call's channels (Originate's
  own dials have no dialling channel and do not count), or an ``AgentConnect``;
* or one of the call's channels is "party A" of a pair in a non-holding bridge: the CDR engine
  makes the older channel of two bridged channels party A and the newer one its destination, so
  in a ConfBridge the first member's call is answered by the second, but the last member's call
  is not. The answer time is the DialEnd/AgentConnect/BridgeEnter time.

Disposition of an unanswered call: from the last dial outcome of the call's own dials (BUSY ->
BUSY, CONGESTION -> CONGESTION, NOANSWER/CANCEL -> NO ANSWER, CHANUNAVAIL and others ->
FAILED); with no dial outcome, from the originating channel's hangup cause (17 BUSY, 34/38/42
CONGESTION, 18/19/21 NO ANSWER, 0/1/3/27/66 FAILED), else NO ANSWER.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..events import (
    AgentConnect,
    AttendedTransfer,
    BlindTransfer,
    BridgeEnter,
    ConfbridgeJoin,
    DialBegin,
    DialEnd,
    ParkedCall,
    ParkedCallGiveUp,
    ParkedCallTimeOut,
    QueueCallerAbandon,
    QueueCallerJoin,
    QueueCallerLeave,
    UnParkedCall,
)
from ..state.bridge import Bridge
from ..state.call import (
    Call,
    CallAnswered,
    CallEnded,
    CallLegAdded,
    CallStarted,
    Leg,
    Parking,
    Party,
    QueueEntered,
    QueueLeft,
    QueuePassage,
    Transfer,
    Transferred,
)
from ..state.channel import Channel
from .context import Context

HOLDING_BRIDGES = frozenset({"holding", "parking"})

_DIAL_DISPOSITION = {
    "ANSWER": "ANSWERED",
    "BUSY": "BUSY",
    "CONGESTION": "CONGESTION",
    "NOANSWER": "NO ANSWER",
    "CANCEL": "NO ANSWER",
}
_CAUSE_DISPOSITION = {
    17: "BUSY",
    34: "CONGESTION",
    38: "CONGESTION",
    42: "CONGESTION",
    18: "NO ANSWER",
    19: "NO ANSWER",
    21: "NO ANSWER",
    0: "FAILED",
    1: "FAILED",
    3: "FAILED",
    27: "FAILED",
    66: "FAILED",
}


def _clean(value: str) -> str:
    return "" if value == "<unknown>" else value


def party_of(ch: Channel) -> Party:
    return Party(num=_clean(ch.caller_num), name=_clean(ch.caller_name), channel=ch.name)


# -- membership (driven by the channels machine) ----------------------------------------


def leg_added(ctx: Context, ch: Channel) -> None:
    calls = ctx.world.calls
    linkedid = ch.linkedid
    call = calls.get(linkedid)
    if call is None:
        call = Call(
            linkedid=linkedid, start=ch.created, joined_late=ch.from_list, first_seq=ctx.seq
        )
        calls[linkedid] = call
        if ch.uniqueid == linkedid:
            call.caller = party_of(ch)
        ctx.emit(CallStarted(seq=ctx.seq, at=ctx.at, linkedid=linkedid, caller=call.caller))
    elif ch.uniqueid == linkedid:
        call.caller = party_of(ch)
    call.live.append(ch.uniqueid)
    if ch.uniqueid not in call.legs:
        call.legs.append(ch.uniqueid)
    ctx.emit(CallLegAdded(seq=ctx.seq, at=ctx.at, linkedid=linkedid, uniqueid=ch.uniqueid))


def _leg(ch: Channel, *, hungup: float | None, moved_to: str | None = None) -> Leg:
    return Leg(
        uniqueid=ch.uniqueid,
        channel=ch.name,
        num=_clean(ch.caller_num),
        name=_clean(ch.caller_name),
        created=ch.created,
        answered=ch.answered,
        hungup=hungup,
        cause=ch.hangup_cause if hungup is not None else None,
        cause_txt=ch.hangup_cause_txt if hungup is not None else "",
        dialed_by=ch.dialed_by,
        moved_to=moved_to,
    )


def leg_removed(ctx: Context, ch: Channel, *, disconnected: bool = False) -> None:
    call = ctx.world.calls.get(ch.linkedid)
    if call is None:
        return
    uid = ch.uniqueid
    if uid in call.live:
        call.live.remove(uid)
        call.ended_legs.append(_leg(ch, hungup=ctx.at))
    if uid == call.linkedid or call.hangup_cause is None:
        call.hangup_cause = ch.hangup_cause
        call.hangup_cause_txt = ch.hangup_cause_txt
    if disconnected:
        call.ended_while_disconnected = True
    if not call.live:
        end(ctx, call)


def leg_moved(ctx: Context, ch: Channel, old: str) -> None:
    """The channel's Linkedid changed (bridge propagation): it now belongs to another call."""
    call = ctx.world.calls.get(old)
    if call is not None and ch.uniqueid in call.live:
        call.live.remove(ch.uniqueid)
        call.ended_legs.append(_leg(ch, hungup=None, moved_to=ch.linkedid))
        if not call.live:
            end(ctx, call)
    leg_added(ctx, ch)


def caller_changed(ctx: Context, ch: Channel) -> None:
    if ch.uniqueid == ch.linkedid:
        call = ctx.world.calls.get(ch.linkedid)
        if call is not None:
            call.caller = party_of(ch)


def disposition(call: Call) -> str:
    if call.answer is not None:
        return "ANSWERED"
    if call.dial_status:
        return _DIAL_DISPOSITION.get(call.dial_status, "FAILED")
    if call.hangup_cause is not None:
        return _CAUSE_DISPOSITION.get(call.hangup_cause, "NO ANSWER")
    return "NO ANSWER"


def end(ctx: Context, call: Call) -> None:
    """The last leg is gone: finish the record, emit it, drop the call."""
    world = ctx.world
    call.end = ctx.at
    call.last_seq = ctx.seq
    call.duration = max(0.0, ctx.at - call.start)
    call.billsec = max(0.0, ctx.at - call.answer) if call.answer is not None else 0.0
    call.disposition = disposition(call)
    queue = call.queue
    if queue is not None and queue.outcome == "waiting":
        queue.outcome = "timeout" if queue.left is not None else "abandoned"
        if queue.wait is None:
            queue.wait = ctx.at - queue.joined
    if call.parked is not None and call.parked.outcome == "parked":
        call.parked.outcome = "giveup"  # hung up while parked (ParkedCallGiveUp may come later)
    world.calls.pop(call.linkedid, None)
    world.calls_ended += 1
    ctx.emit(CallEnded(seq=ctx.seq, at=ctx.at, record=call))


def answered(ctx: Context, call: Call, callee: Party | None) -> None:
    if call.answer is not None:
        return
    call.answer = ctx.at
    if callee is not None:
        call.callee = callee
    ctx.emit(CallAnswered(seq=ctx.seq, at=ctx.at, linkedid=call.linkedid, callee=call.callee))


# -- handlers ---------------------------------------------------------------------------


def resource(channel: str) -> str:
    """``Local/601@phones-00000001;1`` -> ``601``; ``PJSIP/alice-0000002a`` -> ``alice``."""
    _, _, rest = channel.partition("/")
    if "@" in rest:
        return rest.partition("@")[0]
    return rest.rpartition("-")[0] or rest


def _dest_party(e: DialBegin | DialEnd | AgentConnect, caller: Call) -> Party:
    """The dialled party.

    A dialled channel inherits the caller's caller id (Local channels, app_queue), so an
    inherited number is replaced by the dialled resource and an inherited name dropped.
    """
    channel = e.dest_channel or ""
    num = _clean(e.dest_caller_id_num or "")
    if not num or num == caller.caller.num:
        num = resource(channel)
    name = _clean(e.dest_caller_id_name or "")
    if name == caller.caller.name:
        name = ""
    return Party(num=num, name=name, channel=channel)


def _dial_begin(ctx: Context, e: DialBegin) -> None:
    if not e.uniqueid or not e.linkedid:
        return
    call = ctx.world.calls.get(e.linkedid)
    if call is not None and call.answer is None:
        call.callee = _dest_party(e, call)


def _dial_end(ctx: Context, e: DialEnd) -> None:
    if not e.uniqueid or not e.linkedid:
        return  # Originate's own dial: no dialling channel
    call = ctx.world.calls.get(e.linkedid)
    if call is None:
        return
    status = e.dial_status or ""
    if status == "ANSWER":
        call.dial_status = status
        answered(ctx, call, _dest_party(e, call))
    elif call.answer is None and not (status == "CANCEL" and call.dial_status):
        # app_queue follows a member's NOANSWER with CANCEL: keep the first outcome.
        call.dial_status = status


def bridged(ctx: Context, bridge: Bridge, me: Channel) -> None:
    """``me`` is in ``bridge``: the older channel of each pair answers its call (CDR party A)."""
    if bridge.type in HOLDING_BRIDGES or len(bridge.members) < 2:
        return
    world = ctx.world
    calls = world.calls
    for uid in bridge.members:
        if uid == me.uniqueid:
            continue
        other = world.channels.get(uid)
        if other is None:
            continue
        a, b = (other, me) if other.order <= me.order else (me, other)
        call = calls.get(a.linkedid)
        if call is not None and call.answer is None:
            answered(ctx, call, party_of(b))


def _bridge_enter(ctx: Context, e: BridgeEnter) -> None:
    world = ctx.world
    bridge = world.bridges.get(e.bridge_uniqueid or "")
    me = world.channels.get(e.uniqueid or "")
    if bridge is not None and me is not None:
        bridged(ctx, bridge, me)


def _agent_connect(ctx: Context, e: AgentConnect) -> None:
    call = ctx.world.calls.get(e.linkedid or "")
    if call is None:
        return
    queue = call.queue
    if queue is not None:
        queue.outcome = "answered"
        queue.agent = e.member_name or e.interface or None
        if queue.wait is None:
            queue.wait = ctx.at - queue.joined
    callee = _dest_party(e, call)
    if e.member_name and not callee.name:
        callee.name = e.member_name
    if call.callee is not None and call.callee.channel == callee.channel and not call.callee.name:
        call.callee.name = callee.name
    answered(ctx, call, callee)


def _queue_join(ctx: Context, e: QueueCallerJoin) -> None:
    call = ctx.world.calls.get(e.linkedid or "")
    if call is None:
        return
    name = e.queue or ""
    position = e.position or 0
    call.queue = QueuePassage(name=name, joined=ctx.at, position=position)
    ctx.emit(
        QueueEntered(seq=ctx.seq, at=ctx.at, linkedid=call.linkedid, queue=name, position=position)
    )


def _queue_leave(ctx: Context, e: QueueCallerLeave | QueueCallerAbandon) -> None:
    call = ctx.world.calls.get(e.linkedid or "")
    if call is None or call.queue is None:
        ctx.anomaly("queue_leave_without_join", e.linkedid or "")
        return
    queue = call.queue
    if isinstance(e, QueueCallerAbandon):
        queue.outcome = "abandoned"
    else:
        queue.left = ctx.at
    if queue.wait is None:
        queue.wait = ctx.at - queue.joined
    ctx.emit(
        QueueLeft(
            seq=ctx.seq, at=ctx.at, linkedid=call.linkedid, queue=queue.name, outcome=queue.outcome
        )
    )


def _transfer(ctx: Context, linkedids: tuple[str | None, ...], transfer: Transfer) -> None:
    calls = ctx.world.calls
    done: set[str] = set()
    for linkedid in linkedids:
        if not linkedid or linkedid in done:
            continue
        call = calls.get(linkedid)
        if call is None:
            continue
        done.add(linkedid)
        call.transfers.append(transfer)
        ctx.emit(Transferred(seq=ctx.seq, at=ctx.at, linkedid=linkedid, transfer=transfer))
    if not done:
        ctx.anomaly("transfer_unknown_call", transfer.kind)


def _blind(ctx: Context, e: BlindTransfer) -> None:
    target = f"{e.extension or ''}@{e.context or ''}"
    transfer = Transfer(
        kind="blind",
        at=ctx.at,
        result=e.result or "",
        transferer=e.transferer_channel or "",
        transferee=e.transferee_channel or "",
        target=target,
    )
    _transfer(ctx, (e.transferer_linkedid, e.transferee_linkedid), transfer)


def _attended(ctx: Context, e: AttendedTransfer) -> None:
    transfer = Transfer(
        kind="attended",
        at=ctx.at,
        result=e.result or "",
        transferer=e.orig_transferer_channel or "",
        transferee=e.transferee_channel or "",
        target=e.transfer_target_channel or "",
        dest_type=e.dest_type or "",
    )
    _transfer(
        ctx,
        (e.orig_transferer_linkedid, e.second_transferer_linkedid, e.transferee_linkedid),
        transfer,
    )


def _parked(ctx: Context, e: ParkedCall) -> None:
    call = ctx.world.calls.get(e.parkee_linkedid or "")
    if call is not None:
        call.parked = Parking(lot=e.parkinglot or "", space=str(e.parking_space or ""), at=ctx.at)


def _unparked(ctx: Context, e: UnParkedCall | ParkedCallTimeOut | ParkedCallGiveUp) -> None:
    call = ctx.world.calls.get(e.parkee_linkedid or "")
    if call is None or call.parked is None:
        return
    if isinstance(e, UnParkedCall):
        call.parked.outcome = "retrieved"
    elif isinstance(e, ParkedCallTimeOut):
        call.parked.outcome = "timeout"
    else:
        call.parked.outcome = "giveup"


def _conference(ctx: Context, e: ConfbridgeJoin) -> None:
    call = ctx.world.calls.get(e.linkedid or "")
    if call is not None:
        call.conference = e.conference or None


_HANDLERS: dict[type[Any], Callable[[Context, Any], None]] = {
    DialBegin: _dial_begin,
    DialEnd: _dial_end,
    BridgeEnter: _bridge_enter,
    AgentConnect: _agent_connect,
    QueueCallerJoin: _queue_join,
    QueueCallerLeave: _queue_leave,
    QueueCallerAbandon: _queue_leave,
    BlindTransfer: _blind,
    AttendedTransfer: _attended,
    ParkedCall: _parked,
    UnParkedCall: _unparked,
    ParkedCallTimeOut: _unparked,
    ParkedCallGiveUp: _unparked,
    ConfbridgeJoin: _conference,
}

EVENTS: frozenset[type[Any]] = frozenset(_HANDLERS)
"""The typed event classes this machine handles."""
LIVE = _HANDLERS
LIST: dict[type[Any], Callable[[Context, Any], None]] = {}
"""List-reply items are reconciliation (resync), never live events for this machine."""
