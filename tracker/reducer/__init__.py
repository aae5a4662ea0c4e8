"""The fold: ``Reducer.apply(envelope) -> list[Change]``, pure and deterministic.

Each machine module owns one part of the World and declares the event classes it handles
(``EVENTS``) and a ``handle(ctx, event)`` that dispatches with ``match``. Machines run in the
order of ``MACHINES`` for every event.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from types import ModuleType
from typing import Any

from ..events.envelope import Envelope
from ..state import Change, World, snapshot
from . import bridges, calls, channels, conferences, devices, parking, queues, resync
from .context import Context

MACHINES: tuple[ModuleType, ...] = (
    resync,
    channels,
    bridges,
    calls,
    queues,
    conferences,
    parking,
    devices,
)

Handler = Callable[[Context, Any], None]


class Reducer:
    """Owns a private, mutable World. ``apply`` folds one envelope; ``snapshot`` copies it out."""

    def __init__(self, world: World | None = None) -> None:
        self.world = world if world is not None else World()
        self._ctx = Context(self.world)
        self._dispatch: dict[type[Any], tuple[Handler, ...]] = {}

    def _handlers(self, cls: type[Any]) -> tuple[Handler, ...]:
        found = tuple(m.handle for m in MACHINES if any(issubclass(cls, t) for t in m.EVENTS))
        self._dispatch[cls] = found
        return found

    def apply(self, env: Envelope) -> list[Change]:
        world = self.world
        ctx = self._ctx
        item = env.item
        changes: list[Change] = []
        ctx.changes = changes
        ctx.seq = world.seq = env.seq
        ctx.list_item = env.list_item
        ts = getattr(item, "timestamp", None)
        if ts is None:
            ts = env.received_at
        if ts is not None and ts > world.clock:
            world.clock = ts
        ctx.at = world.clock
        ctx.event_name = type(item).__name__
        cls = type(item)
        handlers = self._dispatch.get(cls)
        if handlers is None:
            handlers = self._handlers(cls)
        for handler in handlers:
            handler(ctx, item)
        return changes

    def fold(self, envelopes: Iterable[Envelope]) -> World:
        for env in envelopes:
            self.apply(env)
        return self.world

    def snapshot(self) -> World:
        return snapshot(self.world)


def apply(world: World, env: Envelope) -> list[Change]:
    """Functional form: fold one envelope into ``world`` (mutated in place)."""
    return Reducer(world).apply(env)


__all__ = ["MACHINES", "Reducer", "apply"]
