"""The queues state machine: members, waiting callers and agent sessions of app_queue.

Live events move the state; ``QueueStatus`` list items (QueueParams/QueueMember/QueueEntry, ending
with QueueStatusComplete) only reconcile it: unseen members/callers are created, and on the Complete
event those of a listed queue that existed before the list began but were not listed are removed.
"""

from __future__ import annotations

from typing import Any

from .. import events as ev
from ..state.queue import (
    AgentCalled,
    AgentCompleted,
    AgentConnected,
    AgentDumped,
    AgentRingNoAnswer,
    Caller,
    Member,
    Queue,
    QueueCallerAbandoned,
    QueueCallerJoined,
    QueueCallerLeft,
    QueueMemberAdded,
    QueueMemberPaused,
    QueueMemberPenaltyChanged,
    QueueMemberRemoved,
    QueueMemberRingInUseChanged,
    QueueMemberStatusChanged,
    QueueReconciled,
    Session,
)
from . import gaps
from .context import Context

DEPARTED_MAX = 256
"""How many recently departed callers a queue remembers (for the wait of a late AgentConnect)."""

_MEMBER_EVENTS = (
    ev.QueueMemberAdded,
    ev.QueueMemberRemoved,
    ev.QueueMemberStatus,
    ev.QueueMemberPause,
    ev.QueueMemberPenalty,
    ev.QueueMemberRinginuse,
)
_AGENT_EVENTS = (
    ev.AgentCalled,
    ev.AgentConnect,
    ev.AgentComplete,
    ev.AgentDump,
    ev.AgentRingNoAnswer,
)

EVENTS: frozenset[type[Any]] = frozenset(
    (
        ev.QueueCallerJoin,
        ev.QueueCallerLeave,
        ev.QueueCallerAbandon,
        ev.QueueParams,
        ev.QueueMember,
        ev.QueueEntry,
        ev.QueueStatusComplete,
        *_MEMBER_EVENTS,
        *_AGENT_EVENTS,
    )
)
"""The typed event classes this machine handles."""

ANOMALIES: frozenset[str] = frozenset(
    (
        "agent_complete_unknown",
        "queue_abandon_unknown",
        "queue_join_incomplete",
        "queue_join_twice",
        "queue_leave_unknown",
        "queue_member_added_twice",
        "queue_member_remove_unknown",
        "queue_member_unknown",
        "queue_unexpected_list_item",
    )
)
"""Anomaly kinds this machine records."""


def as_str(value: object) -> str | None:
    """Plain ``str`` of a header value (typed ints and StrEnums included), None stays None."""
    if value is None:
        return None
    return str.__str__(value) if isinstance(value, str) else str(value)


def text(value: object) -> str:
    """Like ``as_str`` but never None."""
    return "" if value is None else (str.__str__(value) if isinstance(value, str) else str(value))


def as_int(value: object, default: int = 0) -> int:
    """Lenient int: typed ints pass, numeric strings convert, anything else is ``default``."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            return default
    return default


def opt_int(value: object) -> int | None:
    return None if value is None or value == "" else as_int(value)


def as_float(value: object) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def as_flag(value: object) -> bool:
    """AMI booleans: ``1``/``0``, ``Yes``/``No``, ``true``/``false``, ``on``/``off``."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value != 0
    if isinstance(value, str):
        return str.__str__(value).strip().lower() in ("1", "yes", "true", "on", "y")
    return False


def _queue(ctx: Context, name: str) -> Queue:
    queues = ctx.world.queues
    q = queues.get(name)
    if q is None:
        q = queues[name] = Queue(name=name, seq=ctx.seq)
    return q


def handle(ctx: Context, event: Any) -> None:
    """Apply one event (its class is in EVENTS)."""
    if ctx.list_item:
        _handle_list(ctx, event)
        return
    match event:
        case ev.QueueCallerJoin():
            _join(ctx, event)
        case ev.QueueCallerLeave():
            _leave(ctx, event)
        case ev.QueueCallerAbandon():
            _abandon(ctx, event)
        case (
            ev.QueueMemberAdded()
            | ev.QueueMemberRemoved()
            | ev.QueueMemberStatus()
            | ev.QueueMemberPause()
            | ev.QueueMemberPenalty()
            | ev.QueueMemberRinginuse()
        ):
            _member(ctx, event)
        case (
            ev.AgentCalled()
            | ev.AgentConnect()
            | ev.AgentComplete()
            | ev.AgentDump()
            | ev.AgentRingNoAnswer()
        ):
            _agent(ctx, event)
        case _:
            # A list-reply class arriving without an ActionID: treat it as a list item anyway.
            _handle_list(ctx, event)


# ---- callers --------------------------------------------------------------------------------


def _join(ctx: Context, e: Any) -> None:
    name, uid = text(e.queue), text(e.uniqueid)
    if not name or not uid:
        ctx.anomaly("queue_join_incomplete", f"queue={name!r} uniqueid={uid!r}")
        return
    q = _queue(ctx, name)
    pos = as_int(e.position)
    if uid in q.callers:
        ctx.anomaly("queue_join_twice", f"{uid} already waits in {name}")
    caller = q.callers[uid] = Caller(
        uniqueid=uid,
        channel=text(e.channel),
        position=pos,
        original_position=pos,
        since=ctx.at,
        caller_id_num=as_str(e.caller_id_num),
        caller_id_name=as_str(e.caller_id_name),
        linkedid=as_str(e.linkedid),
        seq=ctx.seq,
    )
    q.calls = len(q.callers)
    ctx.emit(
        QueueCallerJoined(
            seq=ctx.seq,
            at=ctx.at,
            queue=name,
            uniqueid=uid,
            channel=caller.channel,
            position=pos,
            caller_id_num=caller.caller_id_num,
            caller_id_name=caller.caller_id_name,
        )
    )


def _remove_caller(q: Queue, caller: Caller) -> None:
    del q.callers[caller.uniqueid]
    for other in q.callers.values():
        if other.position > caller.position:
            other.position -= 1
    q.calls = len(q.callers)


def _remember_departed(q: Queue, uniqueid: str, since: float) -> None:
    departed = q.departed
    departed[uniqueid] = since
    if len(departed) > DEPARTED_MAX:
        del departed[next(iter(departed))]


def _leave(ctx: Context, e: Any) -> None:
    q = ctx.world.queues.get(text(e.queue))
    caller = q.callers.get(text(e.uniqueid)) if q is not None else None
    if q is None or caller is None:
        ctx.anomaly(
            "queue_leave_unknown", f"{text(e.uniqueid)} left {text(e.queue)} without a join seen"
        )
        return
    for interface in caller.ringing:
        m = q.members.get(interface)
        if m is not None and m.ringing == caller.uniqueid:
            m.ringing = None
    _remove_caller(q, caller)
    if not caller.abandoned:
        _remember_departed(q, caller.uniqueid, caller.since)
    ctx.emit(
        QueueCallerLeft(
            seq=ctx.seq,
            at=ctx.at,
            queue=q.name,
            uniqueid=caller.uniqueid,
            position=caller.position,
            wait=ctx.at - caller.since,
        )
    )


def _abandon(ctx: Context, e: Any) -> None:
    q = ctx.world.queues.get(text(e.queue))
    caller = q.callers.get(text(e.uniqueid)) if q is not None else None
    if q is None:
        q = _queue(ctx, text(e.queue))
    if caller is None:
        ctx.anomaly(
            "queue_abandon_unknown", f"{text(e.uniqueid)} abandoned {text(e.queue)} without a join"
        )
    else:
        caller.abandoned = True
    q.abandoned += 1
    ctx.emit(
        QueueCallerAbandoned(
            seq=ctx.seq,
            at=ctx.at,
            queue=q.name,
            uniqueid=text(e.uniqueid),
            position=as_int(e.position),
            original_position=opt_int(e.original_position),
            hold_time=opt_int(e.hold_time),
            wait=None if caller is None else ctx.at - caller.since,
        )
    )


# ---- members --------------------------------------------------------------------------------


def _fill_member(m: Member, e: Any, name: str) -> None:
    m.name = name
    m.state_interface = text(e.state_interface) or m.state_interface
    m.membership = text(e.membership) or m.membership
    m.status = opt_int(e.status)
    m.paused = as_flag(e.paused)
    m.paused_reason = text(e.paused_reason)
    m.penalty = as_int(e.penalty)
    m.calls_taken = as_int(e.calls_taken)
    m.last_call = as_int(e.last_call)
    m.last_pause = as_int(e.last_pause)
    m.login_time = as_int(e.login_time)
    m.in_call = as_flag(e.in_call)
    m.wrapup_time = as_int(e.wrapuptime)


def _member(ctx: Context, e: Any) -> None:
    interface = text(e.interface)
    name = text(e.member_name) or interface
    q = _queue(ctx, text(e.queue))
    m = q.members.get(interface)
    at, seq = ctx.at, ctx.seq
    if isinstance(e, ev.QueueMemberRemoved):
        if m is None:
            ctx.anomaly("queue_member_remove_unknown", f"{interface} not a member of {q.name}")
        else:
            del q.members[interface]
        ctx.emit(
            QueueMemberRemoved(seq=seq, at=at, queue=q.name, interface=interface, member_name=name)
        )
        return
    added = m is None
    if m is None:
        if not isinstance(e, ev.QueueMemberAdded):
            ctx.anomaly("queue_member_unknown", f"{interface} in {q.name} without QueueMemberAdded")
        m = q.members[interface] = Member(interface=interface, seq=seq)
    elif isinstance(e, ev.QueueMemberAdded):
        ctx.anomaly("queue_member_added_twice", f"{interface} in {q.name}")
    before = (m.status, m.in_call, m.paused, m.paused_reason, m.penalty, m.ring_in_use)
    _fill_member(m, e, name)
    if e.ringinuse is not None:
        m.ring_in_use = as_flag(e.ringinuse)
    if added:
        ctx.emit(
            QueueMemberAdded(
                seq=seq,
                at=at,
                queue=q.name,
                interface=interface,
                member_name=name,
                paused=m.paused,
                penalty=m.penalty,
            )
        )
        return
    status, in_call, paused, reason, penalty, ring_in_use = before
    if (m.status, m.in_call) != (status, in_call):
        ctx.emit(
            QueueMemberStatusChanged(
                seq=seq,
                at=at,
                queue=q.name,
                interface=interface,
                status=m.status,
                in_call=m.in_call,
            )
        )
    if isinstance(e, ev.QueueMemberPause) or (m.paused, m.paused_reason) != (paused, reason):
        ctx.emit(
            QueueMemberPaused(
                seq=seq,
                at=at,
                queue=q.name,
                interface=interface,
                member_name=name,
                paused=m.paused,
                reason=m.paused_reason,
            )
        )
    if isinstance(e, ev.QueueMemberPenalty) or m.penalty != penalty:
        ctx.emit(
            QueueMemberPenaltyChanged(
                seq=seq, at=at, queue=q.name, interface=interface, penalty=m.penalty
            )
        )
    if ring_in_use is not None and m.ring_in_use is not None and m.ring_in_use != ring_in_use:
        ctx.emit(
            QueueMemberRingInUseChanged(
                seq=seq, at=at, queue=q.name, interface=interface, ring_in_use=m.ring_in_use
            )
        )


# ---- agent events ---------------------------------------------------------------------------


def _agent(ctx: Context, e: Any) -> None:
    q = _queue(ctx, text(e.queue))
    interface = text(e.interface)
    name = text(e.member_name) or interface
    uid = text(e.uniqueid)
    m = q.members.get(interface)
    if not uid and not isinstance(e, ev.AgentCalled):
        # AgentComplete can come without channel snapshots once the caller's channel is gone
        # (seen in load.ami): the member's session says whose call it was.
        uid = _session_of(q, m, interface)
    caller = q.callers.get(uid)
    at, seq = ctx.at, ctx.seq
    match e:
        case ev.AgentCalled():
            if m is not None:
                m.ringing = uid
            if caller is not None and interface not in caller.ringing:
                caller.ringing.append(interface)
            ctx.emit(
                AgentCalled(
                    seq=seq,
                    at=at,
                    queue=q.name,
                    uniqueid=uid,
                    interface=interface,
                    member_name=name,
                    agent_channel=as_str(e.dest_channel),
                    agent_uniqueid=as_str(e.dest_uniqueid),
                )
            )
        case ev.AgentRingNoAnswer():
            _stop_ringing(m, caller, interface)
            ctx.emit(
                AgentRingNoAnswer(
                    seq=seq,
                    at=at,
                    queue=q.name,
                    uniqueid=uid,
                    interface=interface,
                    member_name=name,
                    ring_time=opt_int(e.ring_time),
                )
            )
        case ev.AgentConnect():
            _stop_ringing(m, caller, interface)
            since = q.departed.pop(uid, None)
            if since is None and caller is not None:
                since = caller.since
            if m is not None:
                m.connected = uid
            hold = opt_int(e.hold_time)
            if hold is not None:
                q.holdtime = _weighted(q.holdtime, hold, first=q.holdtime == 0)
            q.sessions[uid] = Session(
                uniqueid=uid,
                interface=interface,
                member_name=name,
                agent_uniqueid=as_str(e.dest_uniqueid),
                connected_at=at,
                hold_time=hold,
                ring_time=opt_int(e.ring_time),
            )
            ctx.emit(
                AgentConnected(
                    seq=seq,
                    at=at,
                    queue=q.name,
                    uniqueid=uid,
                    interface=interface,
                    member_name=name,
                    hold_time=hold,
                    ring_time=opt_int(e.ring_time),
                    agent_uniqueid=as_str(e.dest_uniqueid),
                    wait=None if since is None else at - since,
                )
            )
        case ev.AgentComplete():
            # A member a QueueStatus showed in a call may finish a call we never saw start.
            if uid in q.left_unseen:
                q.left_unseen.remove(uid)
            if q.sessions.pop(uid, None) is None and not (
                m is not None and m.listed_by is not None and m.in_call
            ):
                ctx.anomaly("agent_complete_unknown", f"{uid} with {interface} in {q.name}")
            if m is not None and m.connected == uid:
                m.connected = None
            talk = opt_int(e.talk_time)
            q.completed += 1
            if talk is not None:
                q.talktime = _weighted(q.talktime, talk, first=q.completed == 1)
            ctx.emit(
                AgentCompleted(
                    seq=seq,
                    at=at,
                    queue=q.name,
                    uniqueid=uid,
                    interface=interface,
                    member_name=name,
                    hold_time=opt_int(e.hold_time),
                    talk_time=talk,
                    reason=as_str(e.reason),
                )
            )
        case _:  # AgentDump
            _stop_ringing(m, caller, interface)
            q.sessions.pop(uid, None)
            if m is not None and m.connected == uid:
                m.connected = None
            ctx.emit(
                AgentDumped(
                    seq=seq,
                    at=at,
                    queue=q.name,
                    uniqueid=uid,
                    interface=interface,
                    member_name=name,
                )
            )


def _weighted(old: int, new: int, *, first: bool) -> int:
    """app_queue's running averages: the first value, then (3 * old + new) / 4 (integers)."""
    return new if first else ((old << 2) - old + new) >> 2


def _session_of(q: Queue, m: Member | None, interface: str) -> str:
    if m is not None and m.connected:
        return m.connected
    return next((k for k, v in q.sessions.items() if v.interface == interface), "")


def _stop_ringing(m: Member | None, caller: Caller | None, interface: str) -> None:
    if m is not None:
        m.ringing = None
    if caller is not None and interface in caller.ringing:
        caller.ringing.remove(interface)


# ---- QueueStatus reconciliation -------------------------------------------------------------


def _reconciled(ctx: Context, queue: str, subject: str, key: str, action: str) -> None:
    ctx.emit(
        QueueReconciled(
            seq=ctx.seq, at=ctx.at, queue=queue, subject=subject, key=key, action=action
        )
    )


def _handle_list(ctx: Context, e: Any) -> None:
    match e:
        case ev.QueueParams():
            _params(ctx, e)
        case ev.QueueMember():
            _list_member(ctx, e)
        case ev.QueueEntry():
            _list_entry(ctx, e)
        case ev.QueueStatusComplete():
            _complete(ctx, as_str(e.action_id))
        case _:
            # Live-shaped events never come as list items; if one does, it changes nothing.
            ctx.anomaly("queue_unexpected_list_item", type(e).__name__)


def _params(ctx: Context, e: Any) -> None:
    name = text(e.queue)
    created = name not in ctx.world.queues
    q = _queue(ctx, name)
    q.strategy = as_str(e.strategy)
    q.max = opt_int(e.max)
    q.service_level = opt_int(e.service_level)
    q.holdtime = as_int(e.holdtime)
    q.talktime = as_int(e.talk_time)
    completed, abandoned = as_int(e.completed), as_int(e.abandoned)
    gaps.queue_counters(ctx, q, completed, abandoned)
    q.completed, q.abandoned, q.counted = completed, abandoned, True
    q.servicelevel_perf = as_float(e.servicelevel_perf)
    q.servicelevel_perf2 = as_float(getattr(e, "servicelevel_perf_2", None))
    q.weight = opt_int(e.weight)
    q.listed_by = as_str(e.action_id)
    q.listed_seq = ctx.seq
    # a new listing of the queue begins (its members and callers follow): an earlier list's
    # mark must not count, as ActionIDs repeat across sessions
    for m in q.members.values():
        m.listed_by = None
    for c in q.callers.values():
        c.listed_by = None
    if created:
        _reconciled(ctx, name, "queue", name, "created")


def _list_member(ctx: Context, e: Any) -> None:
    interface = text(e.location)
    q = _queue(ctx, text(e.queue))
    m = q.members.get(interface)
    action = ""
    if m is None:
        m = q.members[interface] = Member(interface=interface, seq=ctx.seq)
        action = "created"
    # InCall/CallsTaken move without live events: only announced attributes count as a correction.
    before = (m.paused, m.paused_reason, m.penalty, m.status)
    listed_name = text(getattr(e, "name_", None) or getattr(e, "name", None))
    _fill_member(m, e, listed_name or m.name or interface)
    if not action and before != (m.paused, m.paused_reason, m.penalty, m.status):
        action = "updated"
    m.listed_by = as_str(e.action_id)
    if action:
        _reconciled(ctx, q.name, "member", interface, action)


def _list_entry(ctx: Context, e: Any) -> None:
    uid = text(e.uniqueid)
    q = _queue(ctx, text(e.queue))
    caller = q.callers.get(uid)
    pos = as_int(e.position)
    if caller is None:
        wait = as_int(e.wait)
        caller = q.callers[uid] = Caller(
            uniqueid=uid,
            channel=text(e.channel),
            position=pos,
            original_position=pos,
            since=ctx.at - wait,
            caller_id_num=as_str(e.caller_id_num),
            caller_id_name=as_str(e.caller_id_name),
            seq=ctx.seq,
        )
        q.calls = len(q.callers)
        _reconciled(ctx, q.name, "caller", uid, "created")
    elif caller.position != pos:
        caller.position = pos
        _reconciled(ctx, q.name, "caller", uid, "updated")
    caller.listed_by = as_str(e.action_id)


def _complete(ctx: Context, action_id: str | None) -> None:
    """Drop members/callers of the listed queues that predate the list and were not in it."""
    for q in ctx.world.queues.values():
        if q.listed_by != action_id or action_id is None:
            continue
        start = q.listed_seq
        for interface in [
            k for k, m in q.members.items() if m.listed_by != action_id and m.seq < start
        ]:
            del q.members[interface]
            _reconciled(ctx, q.name, "member", interface, "removed")
        channels = ctx.world.channels
        q.left_unseen = [uid for uid in q.left_unseen if uid in channels]
        for caller in [c for c in q.callers.values() if c.listed_by != action_id and c.seq < start]:
            _remove_caller(q, caller)
            _reconciled(ctx, q.name, "caller", caller.uniqueid, "removed")
            if caller.uniqueid in channels and caller.uniqueid not in q.left_unseen:
                q.left_unseen.append(caller.uniqueid)
        q.listed_by = None
