"""The switchboard of ``ami-tracker top``: a pure function from a World to a rich renderable.

``render(world, status, now=...)`` reads nothing else (no clock, no tracker): durations are
``now`` minus the event times in the World, so a test renders a replayed World exactly as
the live command renders the live one.
"""

from __future__ import annotations

from collections.abc import Iterable

import msgspec
from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from ..query import HOLDING_BRIDGES, ActiveCall, active_calls
from ..state import World
from ..state.call import Call
from ..state.queue import Member, Queue

MEMBER_STATUS = {
    0: "unknown",
    1: "idle",
    2: "in use",
    3: "busy",
    4: "invalid",
    5: "unavailable",
    6: "ringing",
    7: "ringing (in use)",
    8: "on hold",
}
"""app_queue device status codes (``QueueMemberStatus`` ``Status``)."""


class Status(msgspec.Struct, kw_only=True, frozen=True):
    """What the status line says besides the World."""

    server: str
    target: str = ""
    """Redacted URL."""
    state: str = "connecting"
    """``connecting``, ``resyncing``, ``live`` or ``reconnecting``; following a database
    also ``waiting``, ``stale``, ``disconnected``, ``imported`` or ``db unreachable``."""
    events_per_second: float = 0.0
    frames: int = 0
    reconnects: int = 0
    note: str = ""
    """Latest warning (e.g. why the connection failed)."""
    detail: str = ""
    """More about the state, at the end of the status line (e.g. the age of the last frame)."""


def duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    s = max(0, int(seconds))
    h, rest = divmod(s, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:d}:{s:02d}"


_UNKNOWN = frozenset({"", "<unknown>", "<Unknown>"})


def _who(num: str | None, name: str | None) -> str:
    """``num name`` of a party, without Asterisk's ``<unknown>`` placeholders."""
    num = "" if num in _UNKNOWN else num
    name = "" if name in _UNKNOWN else name
    if num and name and name != num:
        return f"{num} {name}"
    return num or name or ""


def call_state(active: ActiveCall) -> str:
    """One word for where the call is: queued, parked, conference, on hold, talking, ..."""
    call = active.call
    legs = active.legs
    if call.parked is not None and call.parked.outcome == "parked":
        return "parked"
    if call.conference is not None:
        return "conference"
    if call.queue is not None and call.queue.outcome == "waiting":
        return "queued"
    if any(ch.on_hold for ch in legs):
        return "on hold"
    talking = [b for b in active.bridges if b.type not in HOLDING_BRIDGES and len(b.members) > 1]
    if talking:
        return "talking"
    if any(ch.dialing for ch in legs) or any(ch.state_desc == "Ringing" for ch in legs):
        return "ringing"
    if legs:
        return legs[0].state_desc.lower() or "up"
    return "ending"


def _parties(active: ActiveCall) -> tuple[str, str]:
    """Caller and callee; before the call record knows the callee, the connected line of
    the first leg if it names someone else, else the extension it dialled."""
    call: Call = active.call
    caller = _who(call.caller.num, call.caller.name)
    callee = "" if call.callee is None else _who(call.callee.num, call.callee.name)
    if active.legs:
        first = active.legs[0]
        caller = caller or _who(first.caller_num, first.caller_name)
        if not callee:
            connected = _who(first.connected_num, first.connected_name)
            callee = connected if connected and connected != caller else first.exten
    return caller or "?", callee or "?"


def calls_table(world: World, now: float, limit: int) -> Table:
    calls = active_calls(world)
    table = Table(title=f"Calls ({len(calls)} active)", box=box.SIMPLE_HEAD, expand=True)
    table.add_column("from", no_wrap=True, min_width=8, max_width=24)
    table.add_column("to", no_wrap=True, min_width=8, max_width=24)
    table.add_column("state", no_wrap=True, min_width=10)
    table.add_column("duration", justify="right", no_wrap=True, min_width=8)
    table.add_column("talk", justify="right", no_wrap=True, min_width=7)
    table.add_column("legs", no_wrap=True, overflow="ellipsis", ratio=1)
    for active in calls[:limit]:
        call = active.call
        caller, callee = _parties(active)
        talk = None if call.answer is None else now - call.answer
        legs = ", ".join(ch.name for ch in active.legs)
        table.add_row(
            caller, callee, call_state(active), duration(now - call.start), duration(talk), legs
        )
    if len(calls) > limit:
        table.caption = f"... and {len(calls) - limit} more"
    return table


def _member(member: Member) -> Text:
    label = member.name or member.interface
    state = MEMBER_STATUS.get(member.status, "?") if member.status is not None else "?"
    if member.paused:
        state += ", paused"
    style = {"idle": "green", "in use": "yellow", "ringing": "cyan"}.get(state.split(",")[0], "")
    return Text(f"{label} {state}", style=style)


def queues_table(queues: Iterable[Queue], now: float) -> Table:
    table = Table(title="Queues", box=box.SIMPLE_HEAD, expand=True)
    table.add_column("queue", no_wrap=True)
    table.add_column("waiting", justify="right")
    table.add_column("callers (wait)")
    table.add_column("members")
    for queue in sorted(queues, key=lambda q: q.name):
        callers = sorted(queue.callers.values(), key=lambda c: c.position)
        waiting = ", ".join(
            f"{_who(c.caller_id_num, c.caller_id_name) or c.channel} ({duration(now - c.since)})"
            for c in callers
        )
        members = Text(", ").join(_member(m) for m in queue.members.values())
        table.add_row(queue.name, str(len(callers)), waiting, members)
    return table


def conferences_table(world: World, now: float) -> Table:
    table = Table(title="Conferences", box=box.SIMPLE_HEAD, expand=True)
    table.add_column("room", no_wrap=True)
    table.add_column("for", justify="right")
    table.add_column("participants")
    for conf in sorted(world.conferences.values(), key=lambda c: c.name):
        people = []
        for p in conf.participants.values():
            flags = [f for f, on in (("admin", p.admin), ("muted", p.muted)) if on]
            if p.talking:
                flags.append("talking")
            who = _who(p.caller_id_num, p.caller_id_name) or p.channel
            people.append(f"{who} ({', '.join(flags)})" if flags else who)
        since = None if conf.started_at is None else now - conf.started_at
        table.add_row(conf.name, duration(since), ", ".join(people))
    return table


def parked_table(world: World, now: float) -> Table:
    table = Table(title="Parked calls", box=box.SIMPLE_HEAD, expand=True)
    for name in ("lot", "space", "who", "parked for", "timeout in"):
        table.add_column(name, no_wrap=True)
    for lot in sorted(world.parking.values(), key=lambda lot: lot.name):
        for parked in sorted(lot.calls.values(), key=lambda p: p.space):
            who = _who(parked.parkee_caller_id_num, parked.parkee_caller_id_name)
            since = None if parked.parked_at is None else now - parked.parked_at
            left = None
            if parked.timeout is not None and since is not None:
                left = parked.timeout - since
            table.add_row(
                lot.name,
                parked.space,
                who or parked.parkee_channel or "?",
                duration(since),
                duration(left),
            )
    return table


def status_line(world: World, status: Status, now: float) -> Text:
    style = {"live": "bold green", "resyncing": "yellow"}.get(status.state, "bold red")
    line = Text()
    line.append(f"{status.server} ", style="bold")
    line.append(f"{status.target} ")
    line.append(status.state, style=style)
    line.append(
        f" | {status.events_per_second:,.0f} events/s | {status.frames:,} frames"
        f" | {len(world.channels)} channels, {len(world.calls)} calls,"
        f" {world.calls_ended} ended | {status.reconnects} reconnects"
        f" | {world.anomalies} anomalies"
    )
    if status.detail:
        line.append(f" | {status.detail}")
    if status.note:
        line.append(f"\n{status.note}", style="red")
    return line


def render(world: World, status: Status, *, now: float, max_calls: int = 20) -> RenderableType:
    """The whole switchboard; sections without anything in them are left out."""
    parts: list[RenderableType] = [
        status_line(world, status, now),
        calls_table(world, now, max_calls),
    ]
    if world.queues:
        parts.append(queues_table(world.queues.values(), now))
    if world.conferences:
        parts.append(conferences_table(world, now))
    if any(lot.calls for lot in world.parking.values()):
        parts.append(parked_table(world, now))
    return Group(*parts)


__all__ = ["MEMBER_STATUS", "Status", "call_state", "duration", "render"]
