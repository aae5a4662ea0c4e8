"""The calls state machine: calls by Linkedid, from the first channel to the last hangup.

Membership follows the channels machine (``leg_added``/``leg_moved``/``leg_removed``): a call
ends when its last live channel is gone, is emitted as ``CallEnded`` and leaves the World.

The record reads the call as its caller experienced it (docs/call-records.md has the rules with
their evidence):

* **Sides.** The call's first channel (Uniqueid = Linkedid) is the caller's; so is its Local
  peer, and whatever a caller-side channel other than the first one dials (a click-to-dial
  ``Originate Channel: Local/<A>@ctx`` rings A's own phone from the ``;2`` half). Everything else
  is the called side: the first channel's own dials, queue members, transfer targets. Dials on
  the caller's side never set the callee, the dial status or the answer.
* **Originated calls** (the first channel was dialled by ``Originate``, a DialBegin without a
  dialling channel): ``origin = "originate"``; ``caller_answer`` is when A answered (the
  Originate's own DialEnd ANSWER); the callee is what the first channel dials next, or, when A
  never answered and B was never dialled, the ``Exten`` of the ``OriginateResponse``.
* **Answered** when the caller was first connected to the party that answered: a caller-side
  channel in one (non-holding) bridge with a called-side channel of the same call that is not a
  Local half still dialling onward (then the connection happens when its peer is bridged);
  or ``AgentConnect``; or a caller-side channel joining a ConfBridge (answered at its join, the
  room is the callee, time alone in the room counts). A called phone that answers but is never
  bridged to the caller (call screening with ``Dial(..., U()/M())``: ``DialStatus: ABORT``) does
  not answer the call. Two channels of different calls in one bridge (parking retrieval,
  transfers) answer the older channel's call, as Asterisk's CDR makes the older channel party A.
* **Disposition** of an unanswered call: from the last called-side dial outcome (BUSY -> BUSY,
  CONGESTION -> CONGESTION, NOANSWER/CANCEL -> NO ANSWER; ANSWER without a connection and the
  screening results ABORT/CONTINUE/GOTO:... -> NO ANSWER; CHANUNAVAIL and others -> FAILED);
  with no dial outcome, from the originating channel's hangup cause (17 BUSY, 34/38/42
  CONGESTION, 18/19/21 NO ANSWER, 0/1/3/27/66 FAILED), else NO ANSWER.
* **Transfers**: BlindTransfer, AttendedTransfer, and redirects (a bridged channel sent to
  another extension: kind ``redirect``, one per moved channel).
* **Queue passage**: from QueueCallerJoin; a caller first met at AgentConnect /
  QueueCallerAbandon / QueueCallerLeave gets a passage marked ``joined_late``.
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
    ConfbridgeList,
    DialBegin,
    DialEnd,
    Newchannel,
    OriginateResponse,
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
from ..state.world import World
from . import gaps
from .context import Context

HOLDING_BRIDGES = frozenset({"holding", "parking"})

_DIAL_DISPOSITION = {
    # ANSWER without a connection: the called phone answered but the caller was never bridged
    # to it (screening declined, caller gone first). ABORT: a Dial U()/M() screening routine
    # set GOSUB_RESULT/MACRO_RESULT=ABORT after the called phone answered.
    "ANSWER": "NO ANSWER",
    "ABORT": "NO ANSWER",
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
    first = ch.uniqueid == linkedid
    if first:
        ch.caller_side = True
    new = call is None
    if call is None:
        call = Call(
            linkedid=linkedid, start=ch.created, joined_late=ch.from_list, first_seq=ctx.seq
        )
        calls[linkedid] = call
        if first:
            call.caller = party_of(ch)
        ctx.emit(CallStarted(seq=ctx.seq, at=ctx.at, linkedid=linkedid, caller=call.caller))
    elif first:
        call.caller = party_of(ch)
    if (
        new
        and ctx.world.listed_session != ctx.world.sessions
        and (ch.from_list or not first or type(ctx.event) is not Newchannel)
    ):
        # after a gap, before the resync's list: a call met in the list, adopted from a live
        # event, or whose first channel is older than the one just born began in the gap
        gap = gaps.current(ctx)
        if gap is not None:
            call.gap = True
            gap.joined_unseen += 1
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


def leg_removed(
    ctx: Context, ch: Channel, *, disconnected: bool = False, reconciled: bool = False
) -> None:
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
    if reconciled:
        call.reconciled = True
    if not call.live:
        if disconnected:
            gap = gaps.current(ctx)
            if gap is not None:
                gap.ended_unseen += 1
                gap.ended.append(call.linkedid)
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
    status = call.dial_status
    if status:
        found = _DIAL_DISPOSITION.get(status)
        if found is not None:
            return found
        # Other Dial U()/M() results after the called phone answered: CONTINUE, GOTO:<where>.
        return "NO ANSWER" if status == "CONTINUE" or status.startswith("GOTO") else "FAILED"
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
    if call.origin and not call.caller.num:
        call.caller.num = resource(call.caller.channel)  # Originate without a CallerID
    queue = call.queue
    if queue is not None and queue.outcome == "waiting":
        queue.outcome = "timeout" if queue.left is not None else "abandoned"
        if queue.wait is None and not queue.joined_late:
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

    A dialled channel inherits the caller's caller id (app_queue) or shows the number the caller
    dialled (a Local ``;1`` half), so a Local channel is named by its extension, and an
    inherited number is replaced by the dialled resource and an inherited name dropped.
    """
    channel = e.dest_channel or ""
    num = _clean(e.dest_caller_id_num or "")
    if not num or num == caller.caller.num or channel.startswith("Local/"):
        num = resource(channel)
    name = _clean(e.dest_caller_id_name or "")
    if name == caller.caller.name:
        name = ""
    return Party(num=num, name=name, channel=channel)


def caller_side(world: World, ch: Channel) -> bool:
    """On the caller's side of its call (the channel or its Local peer is marked)."""
    if ch.caller_side:
        return True
    peer = world.channels.get(ch.local_peer) if ch.local_peer is not None else None
    return peer is not None and peer.caller_side


def _rings_caller(world: World, dialer: Channel | None) -> bool:
    """A dial made on the caller's side, other than by the first channel: it rings the caller."""
    return dialer is not None and dialer.uniqueid != dialer.linkedid and caller_side(world, dialer)


def _mark_caller_side(world: World, ch: Channel) -> None:
    ch.caller_side = True
    peer = world.channels.get(ch.local_peer) if ch.local_peer is not None else None
    if peer is not None:
        peer.caller_side = True


def _dial_begin(ctx: Context, e: DialBegin) -> None:
    world = ctx.world
    if not e.uniqueid:
        # No dialling channel: Originate (or a call file) dialling the call's first channel.
        dest_uid = e.dest_uniqueid
        if dest_uid and dest_uid == e.dest_linkedid:
            call = world.calls.get(dest_uid)
            if call is not None:
                call.origin = "originate"
        return
    if not e.linkedid:
        return
    if _rings_caller(world, world.channels.get(e.uniqueid)):
        dest = world.channels.get(e.dest_uniqueid or "")
        if dest is not None:
            _mark_caller_side(world, dest)
        return
    call = world.calls.get(e.linkedid)
    if call is not None and call.answer is None:
        call.callee = _dest_party(e, call)


def _dial_end(ctx: Context, e: DialEnd) -> None:
    world = ctx.world
    status = e.dial_status or ""
    if not e.uniqueid:
        # The Originate's own dial: ANSWER means party A picked up.
        dest_uid = e.dest_uniqueid
        if status == "ANSWER" and dest_uid and dest_uid == e.dest_linkedid:
            call = world.calls.get(dest_uid)
            if call is not None and call.origin and call.caller_answer is None:
                call.caller_answer = ctx.at
        return
    if not e.linkedid or _rings_caller(world, world.channels.get(e.uniqueid)):
        return
    call = world.calls.get(e.linkedid)
    if call is None:
        return
    if status == "ANSWER":
        call.dial_status = status
        if call.answer is None:
            call.callee = _dest_party(e, call)
    elif call.answer is None and not (status == "CANCEL" and call.dial_status):
        # app_queue follows a member's NOANSWER with CANCEL: keep the first outcome.
        call.dial_status = status


def _reached(world: World, ch: Channel) -> bool:
    """Not a Local half whose other half is still dialling onward (the party is not there yet)."""
    peer = world.channels.get(ch.local_peer) if ch.local_peer is not None else None
    return peer is None or not peer.dialing


def _connect(ctx: Context, bridge: Bridge, me: Channel) -> None:
    world = ctx.world
    calls = world.calls
    conference = bridge.creator == "ConfBridge"
    for uid in bridge.members:
        if uid == me.uniqueid:
            continue
        other = world.channels.get(uid)
        if other is None:
            continue
        if other.linkedid != me.linkedid:
            if conference:
                continue  # each participant is answered at its own join
            # Two calls in one bridge: the CDR's party A (the older channel) is answered.
            a, b = (other, me) if other.order <= me.order else (me, other)
            call = calls.get(a.linkedid)
            if call is not None and call.answer is None:
                answered(ctx, call, party_of(b))
            continue
        call = calls.get(me.linkedid)
        if call is None or call.answer is not None:
            continue
        mine = caller_side(world, me)
        if mine == caller_side(world, other):
            continue
        callee = other if mine else me
        if _reached(world, callee):
            answered(ctx, call, None if call.callee is not None else party_of(callee))


def bridged(ctx: Context, bridge: Bridge, me: Channel) -> None:
    """``me`` is in ``bridge``: is a caller now connected to an answering party?

    Also re-checks the bridge of ``me``'s Local peer: a caller bridged to a Local half is
    connected once the other half is bridged to the party it dialled.
    """
    if bridge.type not in HOLDING_BRIDGES and len(bridge.members) >= 2:
        _connect(ctx, bridge, me)
    if me.local_peer is None:
        return
    world = ctx.world
    peer = world.channels.get(me.local_peer)
    if peer is None or peer.bridge is None:
        return
    other = world.bridges.get(peer.bridge)
    if other is not None and other.type not in HOLDING_BRIDGES and len(other.members) >= 2:
        _connect(ctx, other, peer)


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
    if queue is None:
        queue = _late_passage(ctx, call, e.queue or "", e.uniqueid or "", e.hold_time, None)
    elif queue.joined_late and queue.wait is None and e.hold_time is not None:
        # app_queue sends QueueCallerLeave before AgentConnect: the HoldTime comes now.
        queue.wait = float(e.hold_time)
        queue.joined = ctx.at - queue.wait
    queue.outcome = "answered"
    queue.agent = e.member_name or e.interface or None
    if queue.wait is None and not queue.joined_late:
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


def _late_passage(
    ctx: Context, call: Call, name: str, uid: str, hold_time: int | None, position: int | None
) -> QueuePassage:
    """A passage for a caller whose QueueCallerJoin was not seen.

    ``HoldTime`` (AgentConnect, QueueCallerAbandon) dates the join; else the queue's own entry
    (QueueStatus's ``Wait`` after a resync); else the join time and wait stay unknown.
    """
    q = ctx.world.queues.get(name)
    waiting = q.callers.get(uid) if q is not None else None
    wait: float | None = None
    joined = ctx.at
    if hold_time is not None:
        wait = float(hold_time)
        joined = ctx.at - wait
    elif waiting is not None:
        joined = waiting.since
        wait = ctx.at - joined
    if not position and waiting is not None:
        position = waiting.original_position
    passage = QueuePassage(
        name=name, joined=joined, position=position or 0, wait=wait, joined_late=True
    )
    call.queue = passage
    ctx.emit(
        QueueEntered(
            seq=ctx.seq, at=ctx.at, linkedid=call.linkedid, queue=name, position=passage.position
        )
    )
    return passage


def _queue_leave(ctx: Context, e: QueueCallerLeave | QueueCallerAbandon) -> None:
    call = ctx.world.calls.get(e.linkedid or "")
    if call is None:
        ctx.anomaly("queue_leave_without_join", e.linkedid or "")
        return
    queue = call.queue
    abandon = isinstance(e, QueueCallerAbandon)
    if queue is None or (queue.name != (e.queue or "") and queue.left is not None):
        if isinstance(e, QueueCallerAbandon):
            hold, position = e.hold_time, e.original_position or e.position
        else:
            hold, position = None, e.position
        queue = _late_passage(ctx, call, e.queue or "", e.uniqueid or "", hold, position)
    if abandon:
        queue.outcome = "abandoned"
    else:
        queue.left = ctx.at
    if queue.wait is None and not queue.joined_late:
        queue.wait = ctx.at - queue.joined
    ctx.emit(
        QueueLeft(
            seq=ctx.seq, at=ctx.at, linkedid=call.linkedid, queue=queue.name, outcome=queue.outcome
        )
    )


def _transfer(
    ctx: Context, linkedids: tuple[str | None, ...], transfer: Transfer, *, required: bool = True
) -> None:
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
    if not done and required:
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
    upgraded: list[str] = []
    for linkedid in (e.transferer_linkedid, e.transferee_linkedid):
        call = ctx.world.calls.get(linkedid or "")
        if call is not None and call.linkedid not in upgraded and _was_redirect(call, transfer):
            # The transferee's async goto was seen first: it was this blind transfer.
            call.transfers[-1] = transfer
            upgraded.append(call.linkedid)
            ctx.emit(Transferred(seq=ctx.seq, at=ctx.at, linkedid=call.linkedid, transfer=transfer))
    rest = tuple(x for x in (e.transferer_linkedid, e.transferee_linkedid) if x not in upgraded)
    if not upgraded:
        _transfer(ctx, rest, transfer)
    elif rest:
        _transfer(ctx, rest, transfer, required=False)


def _was_redirect(call: Call, transfer: Transfer) -> bool:
    last = call.transfers[-1] if call.transfers else None
    return (
        last is not None
        and last.kind == "redirect"
        and last.transferee == transfer.transferee
        and last.target == transfer.target
    )


def redirected(ctx: Context, ch: Channel, target: str) -> None:
    """A bridged channel was sent to ``target`` (``exten@context``): a ``redirect`` transfer.

    Unless it is the transferee of a BlindTransfer already recorded (a blind transfer moves the
    transferee with the same async goto).
    """
    call = ctx.world.calls.get(ch.linkedid)
    if call is None:
        return
    last = call.transfers[-1] if call.transfers else None
    if (
        last is not None
        and last.kind == "blind"
        and last.transferee == ch.name
        and last.target == target
    ):
        return
    transfer = Transfer(
        kind="redirect", at=ctx.at, result="Success", transferee=ch.name, target=target
    )
    call.transfers.append(transfer)
    ctx.emit(Transferred(seq=ctx.seq, at=ctx.at, linkedid=call.linkedid, transfer=transfer))


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


def _conference(ctx: Context, e: ConfbridgeJoin | ConfbridgeList) -> None:
    """A caller in a ConfBridge room is answered at its join: the room is the callee.

    A ConfbridgeList item (resync) names a participant whose join was not seen: its
    ``AnsweredTime`` dates the answer.
    """
    world = ctx.world
    call = world.calls.get(e.linkedid or "")
    if call is None:
        return
    room = e.conference or ""
    call.conference = room or None
    ch = world.channels.get(e.uniqueid or "")
    if ch is None or not caller_side(world, ch):
        return
    if isinstance(e, ConfbridgeList):
        # Met in a resync: the list dates the answer (its bridge may have answered it already).
        if e.answered_time is None or not (call.joined_late or call.answer is None):
            return
        call.answer = None
        answered(ctx, call, Party(num=room))
        call.answer = ctx.at - e.answered_time
    elif call.answer is None:
        answered(ctx, call, Party(num=room))


def _originate_response(ctx: Context, e: OriginateResponse) -> None:
    """The Originate's ``Exten`` names B when B was never dialled (A did not answer)."""
    exten = _clean(e.exten or "")
    if not exten:
        return
    call = _originated_call(ctx.world, e)
    if call is not None and call.callee is None:
        call.callee = Party(num=exten)


def _originated_call(world: World, e: OriginateResponse) -> Call | None:
    uid = _clean(e.uniqueid or "")
    if uid:
        ch = world.channels.get(uid)
        return world.calls.get(ch.linkedid if ch is not None else uid)
    # Failure: ``Channel`` is the requested ``Tech/resource``; the channel was ``<it>-<n>``.
    prefix = (e.channel or "") + "-"
    for call in world.calls.values():
        if call.origin and call.caller_answer is None and call.caller.channel.startswith(prefix):
            return call
    return None


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
    OriginateResponse: _originate_response,
}

EVENTS: frozenset[type[Any]] = frozenset(_HANDLERS)
"""The typed event classes this machine handles."""
LIVE = _HANDLERS
LIST: dict[type[Any], Callable[[Context, Any], None]] = {ConfbridgeList: _conference}
"""List-reply items: only a listed conference participant answers its call (resync)."""
