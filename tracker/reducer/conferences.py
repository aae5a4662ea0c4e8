"""The conferences state machine: ConfBridge and MeetMe rooms and their participants.

ConfbridgeListRooms, ConfbridgeList and MeetmeList items only reconcile: unseen rooms and
participants are created; on the list's Complete event, rooms (ListRooms) or participants of the
listed rooms (List) that existed before the list began but were not listed are removed.
"""

from __future__ import annotations

from typing import Any

from .. import events as ev
from ..state.conference import (
    Conference,
    ConferenceEnded,
    ConferenceReconciled,
    ConferenceRecording,
    ConferenceStarted,
    Participant,
    ParticipantJoined,
    ParticipantLeft,
    ParticipantMuted,
    ParticipantTalking,
)
from .context import Context
from .queues import as_flag, as_int, as_str, text

EVENTS: frozenset[type[Any]] = frozenset(
    (
        ev.ConfbridgeStart,
        ev.ConfbridgeEnd,
        ev.ConfbridgeJoin,
        ev.ConfbridgeLeave,
        ev.ConfbridgeMute,
        ev.ConfbridgeUnmute,
        ev.ConfbridgeTalking,
        ev.ConfbridgeRecord,
        ev.ConfbridgeStopRecord,
        ev.ConfbridgeList,
        ev.ConfbridgeListComplete,
        ev.ConfbridgeListRooms,
        ev.ConfbridgeListRoomsComplete,
        ev.MeetmeJoin,
        ev.MeetmeLeave,
        ev.MeetmeEnd,
        ev.MeetmeMute,
        ev.MeetmeTalking,
        ev.MeetmeList,
        ev.MeetmeListComplete,
    )
)
"""The typed event classes this machine handles."""

ANOMALIES: frozenset[str] = frozenset(
    (
        "conference_end_unknown",
        "conference_join_twice",
        "conference_leave_unknown",
        "conference_participant_unknown",
        "conference_started_twice",
        "conference_unexpected_list_item",
        "conference_unknown",
    )
)
"""Anomaly kinds this machine records."""


def handle(ctx: Context, event: Any) -> None:
    """Apply one event (its class is in EVENTS)."""
    match event:
        case ev.ConfbridgeList() | ev.MeetmeList():
            _list_participant(ctx, event)
        case ev.ConfbridgeListRooms():
            _list_room(ctx, event)
        case ev.ConfbridgeListComplete() | ev.MeetmeListComplete():
            _participants_complete(ctx, as_str(event.action_id))
        case ev.ConfbridgeListRoomsComplete():
            _rooms_complete(ctx, as_str(event.action_id))
        case _ if ctx.list_item:
            ctx.anomaly("conference_unexpected_list_item", type(event).__name__)
        case ev.ConfbridgeStart():
            _start(ctx, text(event.conference), "confbridge", as_str(event.bridge_uniqueid))
        case ev.ConfbridgeEnd() | ev.MeetmeEnd():
            _end(ctx, event)
        case ev.ConfbridgeJoin() | ev.MeetmeJoin():
            _join(ctx, event)
        case ev.ConfbridgeLeave() | ev.MeetmeLeave():
            _leave(ctx, event)
        case ev.ConfbridgeMute() | ev.ConfbridgeUnmute() | ev.MeetmeMute():
            _mute(ctx, event)
        case ev.ConfbridgeTalking() | ev.MeetmeTalking():
            _talking(ctx, event)
        case ev.ConfbridgeRecord() | ev.ConfbridgeStopRecord():
            _record(ctx, event)


def _room_name(e: Any) -> str:
    name = getattr(e, "conference", None)
    if name is None:
        name = getattr(e, "meetme", None)
    return text(name)


def _kind(e: Any) -> str:
    return "meetme" if type(e).__name__.startswith("Meetme") else "confbridge"


def _start(ctx: Context, name: str, kind: str, bridge: str | None) -> Conference:
    rooms = ctx.world.conferences
    room = rooms.get(name)
    if room is not None and room.started_at is not None:
        ctx.anomaly("conference_started_twice", name)
    if room is None:
        room = rooms[name] = Conference(name=name, kind=kind, seq=ctx.seq)
    room.started_at = ctx.at
    room.bridge_uniqueid = bridge or room.bridge_uniqueid
    ctx.emit(
        ConferenceStarted(
            seq=ctx.seq, at=ctx.at, conference=name, kind=kind, bridge_uniqueid=bridge
        )
    )
    return room


def _room(ctx: Context, e: Any) -> Conference:
    """The room of a live event; a MeetMe room starts with its first join (no start event)."""
    name = _room_name(e)
    room = ctx.world.conferences.get(name)
    if room is None:
        kind = _kind(e)
        if kind == "confbridge":
            ctx.anomaly("conference_unknown", f"{type(e).__name__} for room {name!r} not seen")
        room = _start(ctx, name, kind, as_str(getattr(e, "bridge_uniqueid", None)))
    return room


def _end(ctx: Context, e: Any) -> None:
    name = _room_name(e)
    room = ctx.world.conferences.pop(name, None)
    if room is None:
        ctx.anomaly("conference_end_unknown", name)
    ctx.emit(
        ConferenceEnded(
            seq=ctx.seq,
            at=ctx.at,
            conference=name,
            kind=_kind(e),
            participants_left=0 if room is None else len(room.participants),
            duration=None if room is None or room.started_at is None else ctx.at - room.started_at,
        )
    )


def _join(ctx: Context, e: Any) -> None:
    room = _room(ctx, e)
    uid = text(e.uniqueid)
    if uid in room.participants:
        ctx.anomaly("conference_join_twice", f"{uid} in {room.name}")
    muted = as_flag(getattr(e, "muted", None))
    admin = as_flag(getattr(e, "admin", None))
    room.participants[uid] = Participant(
        uniqueid=uid,
        channel=text(e.channel),
        caller_id_num=as_str(e.caller_id_num),
        caller_id_name=as_str(e.caller_id_name),
        admin=admin,
        muted=muted,
        joined_at=ctx.at,
        user=as_str(getattr(e, "user", None)),
        seq=ctx.seq,
    )
    ctx.emit(
        ParticipantJoined(
            seq=ctx.seq,
            at=ctx.at,
            conference=room.name,
            uniqueid=uid,
            channel=text(e.channel),
            admin=admin,
            muted=muted,
            caller_id_num=as_str(e.caller_id_num),
        )
    )


def _leave(ctx: Context, e: Any) -> None:
    name = _room_name(e)
    uid = text(e.uniqueid)
    room = ctx.world.conferences.get(name)
    p = None if room is None else room.participants.pop(uid, None)
    if p is None:
        ctx.anomaly("conference_leave_unknown", f"{uid} left {name!r} without a join seen")
    joined = None if p is None else p.joined_at
    ctx.emit(
        ParticipantLeft(
            seq=ctx.seq,
            at=ctx.at,
            conference=name,
            uniqueid=uid,
            channel=text(e.channel),
            duration=None if joined is None else ctx.at - joined,
        )
    )


def _participant(ctx: Context, e: Any) -> tuple[Conference, Participant] | None:
    room = ctx.world.conferences.get(_room_name(e))
    p = None if room is None else room.participants.get(text(e.uniqueid))
    if room is None or p is None:
        ctx.anomaly("conference_participant_unknown", f"{e.uniqueid} in {_room_name(e)!r}")
        return None
    return room, p


def _mute(ctx: Context, e: Any) -> None:
    found = _participant(ctx, e)
    if found is None:
        return
    room, p = found
    if isinstance(e, ev.MeetmeMute):
        muted = as_flag(e.status)
    else:
        muted = isinstance(e, ev.ConfbridgeMute)
    p.muted = muted
    ctx.emit(
        ParticipantMuted(
            seq=ctx.seq, at=ctx.at, conference=room.name, uniqueid=p.uniqueid, muted=muted
        )
    )


def _talking(ctx: Context, e: Any) -> None:
    found = _participant(ctx, e)
    if found is None:
        return
    room, p = found
    status = e.status if isinstance(e, ev.MeetmeTalking) else e.talking_status
    p.talking = as_flag(status)
    ctx.emit(
        ParticipantTalking(
            seq=ctx.seq, at=ctx.at, conference=room.name, uniqueid=p.uniqueid, talking=p.talking
        )
    )


def _record(ctx: Context, e: Any) -> None:
    room = _room(ctx, e)
    room.recording = isinstance(e, ev.ConfbridgeRecord)
    ctx.emit(
        ConferenceRecording(seq=ctx.seq, at=ctx.at, conference=room.name, recording=room.recording)
    )


# ---- list reconciliation --------------------------------------------------------------------


def _reconciled(ctx: Context, room: str, subject: str, key: str, action: str) -> None:
    ctx.emit(
        ConferenceReconciled(
            seq=ctx.seq, at=ctx.at, conference=room, subject=subject, key=key, action=action
        )
    )


def _listed_room(ctx: Context, name: str, kind: str) -> Conference:
    room = ctx.world.conferences.get(name)
    if room is None:
        room = ctx.world.conferences[name] = Conference(name=name, kind=kind, seq=ctx.seq)
        _reconciled(ctx, name, "room", name, "created")
    return room


def _list_room(ctx: Context, e: Any) -> None:
    room = _listed_room(ctx, text(e.conference), "confbridge")
    locked = as_flag(e.locked)
    muted = as_flag(e.muted)
    if room.locked is not None and (room.locked, room.muted) != (locked, muted):
        _reconciled(ctx, room.name, "room", room.name, "updated")
    room.locked, room.muted = locked, muted
    if room.listed_by != as_str(e.action_id):
        room.listed_by = as_str(e.action_id)
        room.listed_seq = ctx.seq


def _list_participant(ctx: Context, e: Any) -> None:
    meetme = isinstance(e, ev.MeetmeList)
    room = _listed_room(ctx, text(e.conference), "meetme" if meetme else "confbridge")
    if room.participants_listed_by != as_str(e.action_id):
        room.participants_listed_by = as_str(e.action_id)
        room.participants_listed_seq = ctx.seq
    if meetme:
        p = next((x for x in room.participants.values() if x.channel == text(e.channel)), None)
        uid = p.uniqueid if p is not None else f"meetme:{as_str(e.user_number)}"
        marked = as_flag(e.marked_user)
    else:
        uid = text(e.uniqueid)
        p = room.participants.get(uid)
        marked = as_flag(e.marked_user)
    admin, muted, talking = as_flag(e.admin), as_flag(e.muted), as_flag(e.talking)
    if p is None:
        answered = getattr(e, "answered_time", None)
        joined = None
        if answered is not None and not meetme:
            joined = ctx.at - as_int(answered)
        p = room.participants[uid] = Participant(
            uniqueid=uid,
            channel=text(e.channel),
            caller_id_num=as_str(e.caller_id_num),
            caller_id_name=as_str(e.caller_id_name),
            joined_at=joined,
            seq=ctx.seq,
        )
        _reconciled(ctx, room.name, "participant", uid, "created")
    elif (p.admin, p.muted) != (admin, muted):
        _reconciled(ctx, room.name, "participant", uid, "updated")
    p.admin, p.marked, p.muted, p.talking = admin, marked, muted, talking
    p.listed_by = as_str(e.action_id)


def _participants_complete(ctx: Context, action_id: str | None) -> None:
    if action_id is None:
        return
    for room in ctx.world.conferences.values():
        if room.participants_listed_by != action_id:
            continue
        start = room.participants_listed_seq
        for uid in [
            k for k, p in room.participants.items() if p.listed_by != action_id and p.seq < start
        ]:
            del room.participants[uid]
            _reconciled(ctx, room.name, "participant", uid, "removed")
        room.participants_listed_by = None


def _rooms_complete(ctx: Context, action_id: str | None) -> None:
    """ConfbridgeListRooms lists every ConfBridge room: drop unlisted ones that predate it."""
    if action_id is None:
        return
    rooms = ctx.world.conferences
    listed = [r.listed_seq for r in rooms.values() if r.listed_by == action_id]
    start = min(listed, default=ctx.seq)
    for name in [
        k
        for k, r in rooms.items()
        if r.kind == "confbridge" and r.listed_by != action_id and r.seq < start
    ]:
        del rooms[name]
        _reconciled(ctx, name, "room", name, "removed")
