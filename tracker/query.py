"""Read-only questions over a World (shared by the live API and offline replay). Pure."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import msgspec

from .state import World
from .state.bridge import Bridge
from .state.call import Call
from .state.channel import Channel

HOLDING_BRIDGES = frozenset({"holding", "parking"})


class ActiveCall(msgspec.Struct, kw_only=True, gc=False):
    call: Call
    legs: list[Channel]
    """Live channels of the call, oldest first."""
    bridges: list[Bridge]
    """Bridges any leg is in."""


def channels_of_call(world: World, linkedid: str) -> list[Channel]:
    call = world.calls.get(linkedid)
    if call is None:
        return []
    found = (world.channels.get(uid) for uid in call.live)
    return sorted((ch for ch in found if ch is not None), key=lambda ch: ch.order)


def active_calls(world: World) -> list[ActiveCall]:
    """Every active call with its live legs and their bridges, oldest call first."""
    out: list[ActiveCall] = []
    for call in sorted(world.calls.values(), key=lambda c: (c.start, c.linkedid)):
        legs = channels_of_call(world, call.linkedid)
        seen: dict[str, Bridge] = {}
        for ch in legs:
            if ch.bridge is not None and ch.bridge not in seen:
                bridge = world.bridges.get(ch.bridge)
                if bridge is not None:
                    seen[ch.bridge] = bridge
        out.append(ActiveCall(call=call, legs=legs, bridges=list(seen.values())))
    return out


def talking_pairs(world: World) -> list[tuple[Channel, Channel]]:
    """Who talks to whom: every pair of channels sharing a (non-holding) bridge, older first."""
    pairs: list[tuple[Channel, Channel]] = []
    for bridge in world.bridges.values():
        if bridge.type in HOLDING_BRIDGES:
            continue
        members = [world.channels[u] for u in bridge.members if u in world.channels]
        members.sort(key=lambda ch: ch.order)
        for i, a in enumerate(members):
            pairs.extend((a, b) for b in members[i + 1 :])
    return pairs


def _size(container: Any, *names: str) -> int:
    """Length of the first attribute of ``container`` that exists (part B's shapes may vary)."""
    for name in names:
        value = getattr(container, name, None)
        if value is not None:
            try:
                return len(value)
            except TypeError:
                return 0
    return 0


def _total(values: Iterable[Any], *names: str) -> int:
    return sum(_size(v, *names) for v in values)


def gap_text(world: World) -> str:
    """What the current session's gap did, in words ("" when the session followed none)."""
    gap = world.gap
    if gap is None or gap.session != world.sessions:
        return ""
    parts = [
        f"{gap.calls_cut} calls cut",
        f"{gap.ended_unseen} ended unseen",
        f"{gap.joined_unseen} began unseen",
    ]
    if gap.channels_unseen is not None:
        parts.append(f"{gap.channels_unseen} channels came and went unseen")
    parts.extend(
        f"queue {q.queue}: {q.completed} completed and {q.abandoned} abandoned unseen"
        for q in gap.queues
    )
    return f"after a gap of {gap.seconds:.1f} s: {', '.join(parts)}"


def summary(world: World, *, anomalies: int | None = None) -> dict[str, int]:
    """Counts describing the state (the ``replay --json`` object)."""
    queues: Mapping[str, Any] = getattr(world, "queues", {}) or {}
    conferences: Mapping[str, Any] = getattr(world, "conferences", {}) or {}
    parking: Mapping[str, Any] = getattr(world, "parking", {}) or {}
    return {
        "channels": len(world.channels),
        "bridges": len(world.bridges),
        "calls_active": len(world.calls),
        "calls_ended": world.calls_ended,
        "queue_callers": _total(queues.values(), "callers", "entries"),
        "conference_participants": _total(conferences.values(), "participants", "members"),
        "parked_calls": _total(parking.values(), "calls", "parked", "spaces"),
        "anomalies": world.anomalies if anomalies is None else anomalies,
    }


def sizes(world: World) -> dict[str, int]:
    """Entries in each of the World's collections, the ones kept for bookkeeping too: what a
    long run watches to see that ended calls leave nothing behind (``gone`` is bounded)."""
    return {
        "channels": len(world.channels),
        "calls": len(world.calls),
        "bridges": len(world.bridges),
        "unlisted": len(world.unlisted),
        "lists": len(world.lists),
        "gone": len(world.gone),
        "queues": len(world.queues),
        "queue_callers": sum(len(q.callers) for q in world.queues.values()),
        "conferences": len(world.conferences),
        "parking": len(world.parking),
        "devices": len(world.devices.devices),
        "extensions": len(world.devices.extensions),
        "presence": len(world.devices.presence),
    }


def call_record(call: Call) -> dict[str, Any]:
    """An ended call as a plain JSON-able dict (the ``calls --format jsonl`` record)."""
    queue = call.queue
    return {
        "linkedid": call.linkedid,
        "origin": call.origin,
        "start": call.start,
        "caller_answer": call.caller_answer,
        "answer": call.answer,
        "end": call.end,
        "duration": round(call.duration, 6),
        "billsec": round(call.billsec, 6),
        "disposition": call.disposition,
        "hangup_cause": call.hangup_cause,
        "hangup_cause_txt": call.hangup_cause_txt,
        "caller": _party(call.caller),
        "callee": _party(call.callee),
        "legs": list(call.legs),
        "transfers": [msgspec.to_builtins(t) for t in call.transfers],
        "queue": None
        if queue is None
        else {
            "name": queue.name,
            "wait": queue.wait,
            "outcome": queue.outcome,
            "agent": queue.agent,
            "position": queue.position,
            "joined_late": queue.joined_late,
        },
        "parked": None if call.parked is None else msgspec.to_builtins(call.parked),
        "conference": call.conference,
        "ended_while_disconnected": call.ended_while_disconnected,
        "reconciled": call.reconciled,
        "joined_late": call.joined_late,
        "gap": call.gap,
    }


def _party(party: Any) -> dict[str, str]:
    if party is None:
        return {"num": "", "name": "", "channel": ""}
    return {"num": party.num, "name": party.name, "channel": party.channel}


__all__ = [
    "ActiveCall",
    "active_calls",
    "call_record",
    "channels_of_call",
    "sizes",
    "summary",
    "talking_pairs",
]
