"""The parking state machine: lots and parked calls.

``ParkedCall`` is both the live "a call was parked" event and the item answering ``ParkedCalls``;
only ``ctx.list_item`` tells them apart. List items reconcile (a call we already track changes
nothing); on ParkedCallsComplete, parked calls that predate the list and were not listed are
removed.
"""

from __future__ import annotations

from typing import Any

from .. import events as ev
from ..state.parking import (
    CallParked,
    CallUnparked,
    ParkedCall,
    ParkedCallGaveUp,
    ParkedCallSwapped,
    ParkingLot,
    ParkingReconciled,
    ParkingTimedOut,
)
from .context import Context
from .queues import as_str, opt_int, text

EVENTS: frozenset[type[Any]] = frozenset(
    (
        ev.ParkedCall,
        ev.UnParkedCall,
        ev.ParkedCallTimeOut,
        ev.ParkedCallGiveUp,
        ev.ParkedCallSwap,
        ev.ParkedCallsComplete,
        ev.Parkinglot,
        ev.ParkinglotsComplete,
    )
)
"""The typed event classes this machine handles."""

ANOMALIES: frozenset[str] = frozenset(
    (
        "parking_end_unknown",
        "parking_space_taken",
        "parking_swap_unknown",
        "parking_unexpected_list_item",
    )
)
"""Anomaly kinds this machine records."""


def handle(ctx: Context, event: Any) -> None:
    """Apply one event (its class is in EVENTS)."""
    match event:
        case ev.ParkedCall() if ctx.list_item:
            _list_parked(ctx, event)
        case ev.ParkedCall():
            _parked(ctx, event)
        case ev.Parkinglot():
            _list_lot(ctx, event)
        case ev.ParkedCallsComplete():
            _parked_complete(ctx, as_str(event.action_id))
        case ev.ParkinglotsComplete():
            pass
        case _ if ctx.list_item:
            ctx.anomaly("parking_unexpected_list_item", type(event).__name__)
        case ev.ParkedCallSwap():
            _swap(ctx, event)
        case ev.UnParkedCall() | ev.ParkedCallTimeOut() | ev.ParkedCallGiveUp():
            _ended(ctx, event)


def _lot(ctx: Context, name: str) -> ParkingLot:
    lots = ctx.world.parking
    lot = lots.get(name)
    if lot is None:
        lot = lots[name] = ParkingLot(name=name)
    return lot


def _space(e: Any) -> str:
    return text(e.parking_space)


def _new(ctx: Context, e: Any, lot: str, space: str) -> ParkedCall:
    return ParkedCall(
        space=space,
        lot=lot,
        parkee_uniqueid=as_str(e.parkee_uniqueid),
        parkee_channel=as_str(e.parkee_channel),
        parkee_caller_id_num=as_str(e.parkee_caller_id_num),
        parkee_caller_id_name=as_str(e.parkee_caller_id_name),
        parker_dial_string=as_str(e.parker_dial_string),
        timeout=opt_int(e.parking_timeout),
        parked_at=ctx.at - (opt_int(e.parking_duration) or 0),
        seq=ctx.seq,
    )


def _parked(ctx: Context, e: Any) -> None:
    lot = _lot(ctx, text(e.parkinglot))
    space = _space(e)
    old = lot.calls.get(space)
    if old is not None:
        ctx.anomaly("parking_space_taken", f"{lot.name}/{space} held by {old.parkee_uniqueid}")
    call = lot.calls[space] = _new(ctx, e, lot.name, space)
    ctx.emit(
        CallParked(
            seq=ctx.seq,
            at=ctx.at,
            lot=lot.name,
            space=space,
            parkee_uniqueid=call.parkee_uniqueid,
            parkee_channel=call.parkee_channel,
            parker_dial_string=call.parker_dial_string,
            timeout=call.timeout,
        )
    )


def _ended(ctx: Context, e: Any) -> None:
    lot = _lot(ctx, text(e.parkinglot))
    space = _space(e)
    call = lot.calls.get(space)
    if call is None or (e.parkee_uniqueid and call.parkee_uniqueid != as_str(e.parkee_uniqueid)):
        ctx.anomaly("parking_end_unknown", f"{type(e).__name__} {lot.name}/{space}")
    else:
        del lot.calls[space]
    common: dict[str, Any] = {
        "seq": ctx.seq,
        "at": ctx.at,
        "lot": lot.name,
        "space": space,
        "parkee_uniqueid": as_str(e.parkee_uniqueid),
        "parkee_channel": as_str(e.parkee_channel),
        "duration": opt_int(e.parking_duration),
    }
    match e:
        case ev.UnParkedCall():
            ctx.emit(
                CallUnparked(
                    **common,
                    retriever_uniqueid=as_str(e.retriever_uniqueid),
                    retriever_channel=as_str(e.retriever_channel),
                    retriever_caller_id_num=as_str(e.retriever_caller_id_num),
                )
            )
        case ev.ParkedCallTimeOut():
            ctx.emit(ParkingTimedOut(**common))
        case _:
            ctx.emit(ParkedCallGaveUp(**common))


def _swap(ctx: Context, e: Any) -> None:
    lot = _lot(ctx, text(e.parkinglot))
    space = _space(e)
    call = lot.calls.get(space)
    previous = None
    if call is None:
        ctx.anomaly("parking_swap_unknown", f"{lot.name}/{space}")
        call = lot.calls[space] = _new(ctx, e, lot.name, space)
    else:
        previous = call.parkee_uniqueid
        call.parkee_uniqueid = as_str(e.parkee_uniqueid)
        call.parkee_channel = as_str(e.parkee_channel)
        call.parkee_caller_id_num = as_str(e.parkee_caller_id_num)
        call.parkee_caller_id_name = as_str(e.parkee_caller_id_name)
    ctx.emit(
        ParkedCallSwapped(
            seq=ctx.seq,
            at=ctx.at,
            lot=lot.name,
            space=space,
            parkee_uniqueid=as_str(e.parkee_uniqueid),
            previous_uniqueid=previous,
        )
    )


# ---- list reconciliation --------------------------------------------------------------------


def _reconciled(ctx: Context, lot: str, space: str, action: str) -> None:
    ctx.emit(ParkingReconciled(seq=ctx.seq, at=ctx.at, lot=lot, space=space, action=action))


def _list_parked(ctx: Context, e: Any) -> None:
    lot = _lot(ctx, text(e.parkinglot))
    space = _space(e)
    call = lot.calls.get(space)
    if call is None or call.parkee_uniqueid != as_str(e.parkee_uniqueid):
        call = lot.calls[space] = _new(ctx, e, lot.name, space)
        _reconciled(ctx, lot.name, space, "created")
    call.listed_by = as_str(e.action_id)


def _list_lot(ctx: Context, e: Any) -> None:
    name = text(getattr(e, "name_", None) or getattr(e, "name", None))
    created = name not in ctx.world.parking
    lot = _lot(ctx, name)
    lot.start_space = opt_int(e.start_space)
    lot.stop_space = opt_int(e.stop_space)
    lot.timeout = opt_int(e.timeout)
    if created:
        _reconciled(ctx, lot.name, "", "created")


def _parked_complete(ctx: Context, action_id: str | None) -> None:
    """ParkedCalls lists every parked call: drop unlisted ones that predate the list.

    The list's start is taken as the earliest listed item (or the Complete itself when empty).
    A ``ParkedCalls`` filtered by lot would wrongly clear other lots; the tracker never sends one.
    """
    if action_id is None:
        return
    calls = [c for lot in ctx.world.parking.values() for c in lot.calls.values()]
    start = min((c.seq for c in calls if c.listed_by == action_id), default=ctx.seq)
    for c in calls:
        if c.listed_by != action_id and c.seq < start:
            del ctx.world.parking[c.lot].calls[c.space]
            _reconciled(ctx, c.lot, c.space, "removed")
