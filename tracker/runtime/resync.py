"""Resync queries sent after every (re)connect, before live events are trusted.

The answers need no special handling here: like every frame they flow through the client's
channel into the fold, in received order, where list items are reconciliation
(``tracker.reducer.resync`` and the machines). This module only sends the actions, in order,
derives the follow-ups (``BridgeInfo`` per listed bridge, ``ConfbridgeList`` per listed room)
from the answers, and reports what was answered. An ``Error`` answer ("No active
conferences.", an unknown action) counts as answered: Asterisk told us what it knows.
"""

from __future__ import annotations

import dataclasses
import logging
from functools import partial

import trio

from ..ami import ActionResult
from ..errors import ActionTimeoutError, TrackerError
from ..events.action_base import AmiAction
from ..events.actions import (
    BridgeInfoAction,
    BridgeListAction,
    ConfbridgeListAction,
    ConfbridgeListRoomsAction,
    CoreShowChannelsAction,
    ParkedCallsAction,
    QueueStatusAction,
)
from ._groups import leaves
from .client import AmiClient

log = logging.getLogger(__name__)


@dataclasses.dataclass
class ResyncReport:
    """What one resync asked and got back."""

    actions: list[str] = dataclasses.field(default_factory=list)
    """Action names in the order sent (follow-ups included)."""
    errors: list[str] = dataclasses.field(default_factory=list)
    """``Action: message`` of every ``Response: Error`` (counted as answered)."""
    items: int = 0
    """List items received in the answers."""
    bridges: list[str] = dataclasses.field(default_factory=list)
    rooms: list[str] = dataclasses.field(default_factory=list)
    seconds: float = 0.0


async def _ask(
    client: AmiClient,
    action: AmiAction,
    report: ResyncReport,
    time_limit: float | None,
    sent: trio.Event | None = None,
) -> ActionResult:
    report.actions.append(action.wire_name)
    result = await client.request(action, time_limit=time_limit, sent=sent)
    report.items += len(result.items)
    if not result.ok:
        report.errors.append(f"{action.wire_name}: {result.message or result.response.name}")
    return result


def _listed(result: ActionResult, event: str, header: str) -> list[str]:
    """Values of ``header`` in the list items named ``event`` (in order, no duplicates)."""
    out: list[str] = []
    for frame in result.items:
        if frame.name == event:
            value = frame.get(header)
            if value and value not in out:
                out.append(value)
    return out


async def resync(client: AmiClient, *, time_limit: float | None = None) -> ResyncReport:
    """Ask ``CoreShowChannels``, ``BridgeList`` (+ ``BridgeInfo`` per bridge), ``QueueStatus``,
    ``ConfbridgeListRooms`` (+ ``ConfbridgeList`` per room) and ``ParkedCalls``.

    The five queries are written in that order without waiting for each answer (pipelined:
    the answers then describe nearly the same instant); each follow-up is sent as soon as
    the list it depends on is complete. Raises ``ConnectionLostError`` if the session ends,
    ``ActionTimeoutError`` if an answer does not come within ``time_limit`` (default: the
    client's action timeout).
    """
    report = ResyncReport()
    began = trio.current_time()

    async def ask(action: AmiAction, sent: trio.Event) -> None:
        await _ask(client, action, report, time_limit, sent)

    async def bridges(sent: trio.Event) -> None:
        answer = await _ask(client, BridgeListAction(), report, time_limit, sent)
        report.bridges = _listed(answer, "BridgeListItem", "BridgeUniqueid")
        for bid in report.bridges:
            await _ask(client, BridgeInfoAction(bridge_uniqueid=bid), report, time_limit)

    async def rooms(sent: trio.Event) -> None:
        answer = await _ask(client, ConfbridgeListRoomsAction(), report, time_limit, sent)
        report.rooms = _listed(answer, "ConfbridgeListRooms", "Conference")
        for room in report.rooms:
            await _ask(client, ConfbridgeListAction(conference=room), report, time_limit)

    try:
        async with trio.open_nursery() as nursery:
            for start in (
                partial(ask, CoreShowChannelsAction()),
                bridges,
                partial(ask, QueueStatusAction()),
                rooms,
                partial(ask, ParkedCallsAction()),
            ):
                sent = trio.Event()
                nursery.start_soon(start, sent)
                await sent.wait()  # keep the order on the wire
    except BaseExceptionGroup as group:
        # a session that ends while its resync is cancelled (the next banner) gives both
        errors = [e for e in leaves(group) if not isinstance(e, trio.Cancelled)]
        if not errors or not all(isinstance(e, TrackerError) for e in errors):
            raise
        timeouts = [e for e in errors if isinstance(e, ActionTimeoutError)]
        raise (timeouts or errors)[0] from None
    report.seconds = trio.current_time() - began
    log.info(
        "resync: %d actions answered (%d errors, %d items) in %.3fs",
        len(report.actions),
        len(report.errors),
        report.items,
        report.seconds,
    )
    return report


__all__ = ["ResyncReport", "resync"]
