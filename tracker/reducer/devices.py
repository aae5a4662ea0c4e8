"""The devices state machine: last known device, extension (hint) and presence state per name.

The list replies (DeviceStateList -> DeviceStateChange items, ExtensionStateList -> ExtensionStatus
items, PresenceStateList -> PresenceStateChange items) reuse the live event names; as list items
they only emit a change (flagged ``reconciled``) when they disagree with what we knew.
"""

from __future__ import annotations

from typing import Any

from .. import events as ev
from ..state.device import (
    DeviceState,
    DeviceStateChanged,
    ExtensionState,
    ExtensionStateChanged,
    PresenceState,
    PresenceStateChanged,
)
from .context import Context
from .queues import as_str, opt_int, text

EVENTS: frozenset[type[Any]] = frozenset(
    (ev.DeviceStateChange, ev.ExtensionStatus, ev.PresenceStateChange, ev.PresenceStatus)
)
"""The typed event classes this machine handles."""


def handle(ctx: Context, event: Any) -> None:
    """Apply one event (its class is in EVENTS)."""
    match event:
        case ev.DeviceStateChange():
            _device(ctx, text(event.device), text(event.state))
        case ev.ExtensionStatus():
            _extension(ctx, event)
        case ev.PresenceStateChange():
            _presence(ctx, text(event.presentity), event)
        case ev.PresenceStatus():
            _presence(ctx, text(event.hint) or f"{text(event.exten)}@{text(event.context)}", event)


def _device(ctx: Context, name: str, state: str) -> None:
    devices = ctx.world.devices.devices
    old = devices.get(name)
    if old is not None and old.state == state:
        if not ctx.list_item:
            old.at, old.seq = ctx.at, ctx.seq
        return
    devices[name] = DeviceState(state=state, at=ctx.at, seq=ctx.seq)
    ctx.emit(
        DeviceStateChanged(
            seq=ctx.seq,
            at=ctx.at,
            device=name,
            state=state,
            previous=None if old is None else old.state,
            reconciled=ctx.list_item,
        )
    )


def _extension(ctx: Context, e: Any) -> None:
    key = f"{text(e.exten)}@{text(e.context)}"
    status_text = as_str(e.status_text)
    exts = ctx.world.devices.extensions
    old = exts.get(key)
    status = opt_int(e.status)
    if old is not None and old.status == status and old.status_text == status_text:
        return
    exts[key] = ExtensionState(
        exten=text(e.exten),
        context=text(e.context),
        hint=as_str(e.hint),
        status=status,
        status_text=status_text,
        at=ctx.at,
        seq=ctx.seq,
    )
    ctx.emit(
        ExtensionStateChanged(
            seq=ctx.seq,
            at=ctx.at,
            key=key,
            status=status,
            status_text=status_text,
            previous=None if old is None else old.status_text,
            reconciled=ctx.list_item,
        )
    )


def _presence(ctx: Context, key: str, e: Any) -> None:
    pres = ctx.world.devices.presence
    old = pres.get(key)
    status = text(e.status)
    subtype, message = as_str(e.subtype), as_str(e.message)
    if old is not None and (old.status, old.subtype, old.message) == (status, subtype, message):
        return
    pres[key] = PresenceState(
        status=status, subtype=subtype, message=message, at=ctx.at, seq=ctx.seq
    )
    ctx.emit(
        PresenceStateChanged(
            seq=ctx.seq,
            at=ctx.at,
            key=key,
            status=status,
            subtype=subtype,
            message=message,
            previous=None if old is None else old.status,
            reconciled=ctx.list_item,
        )
    )
