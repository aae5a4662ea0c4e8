"""The fold: ``Reducer.apply(envelope) -> list[Change]``, pure and deterministic.

Each machine module owns one part of the World and declares the event classes it handles
(``EVENTS``), and either a ``handle(ctx, event)`` that dispatches with ``match``, or per-class
tables ``LIVE`` and ``LIST`` (exact class -> handler, for live events and for list-reply items)
that the Reducer calls directly, saving a dispatch layer per event on the fold's hot path.
Machines run in the order of ``MACHINES`` for every event.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from types import ModuleType
from typing import Any

from ..events.base import AmiEvent, ProtocolAnomaly
from ..events.envelope import Envelope
from ..state import Change, World, snapshot
from . import (
    bridges,
    calls,
    channels,
    clock,
    conferences,
    devices,
    gaps,
    parking,
    protocol,
    queues,
    resync,
)
from .context import Context

MACHINES: tuple[ModuleType, ...] = (
    protocol,
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
    """Owns a private, mutable World. ``apply`` folds one envelope; ``snapshot`` copies it out.

    ``max_clock_jump`` and ``clock_confirm`` tune how the event clock is judged
    (``tracker.reducer.clock``): a time further than that from the clock is an anomaly and is
    adopted only after ``clock_confirm`` agreeing events.
    """

    def __init__(
        self,
        world: World | None = None,
        *,
        max_clock_jump: float = clock.MAX_JUMP,
        clock_confirm: int = clock.CONFIRM,
    ) -> None:
        self.world = world if world is not None else World()
        self._ctx = Context(self.world, max_jump=max_clock_jump, confirm=max(1, clock_confirm))
        self._live: dict[type[Any], tuple[Handler, ...]] = {}
        self._list: dict[type[Any], tuple[Handler, ...]] = {}

    def _handlers(self, cls: type[Any], list_item: bool) -> tuple[Handler, ...]:
        found: list[Handler] = []
        for m in MACHINES:
            table: dict[type[Any], Handler] | None = getattr(
                m, "LIST" if list_item else "LIVE", None
            )
            if table is not None:
                handler = table.get(cls)
                if handler is not None:
                    found.append(handler)
            elif any(issubclass(cls, t) for t in m.EVENTS):
                found.append(m.handle)
        handlers = tuple(found)
        (self._list if list_item else self._live)[cls] = handlers
        return handlers

    def apply(self, env: Envelope) -> list[Change]:
        world = self.world
        ctx = self._ctx
        item = env.item
        changes: list[Change] = []
        ctx.changes = changes
        ctx.seq = world.seq = env.seq
        list_item = ctx.list_item = env.list_item
        ctx.event = item
        ts = getattr(item, "timestamp", None)
        if ts is None:
            ts = env.received_at
        ctx.at = ctx.before = now = world.clock
        if ts is not None:
            jump = ctx.max_jump
            if now - jump <= ts <= now + jump:  # the usual case (False for nan)
                if ts > now:
                    world.clock = ctx.at = ts
                if world.clock_candidate is not None:
                    world.clock_candidate = None  # an outlier: the stream agrees with the clock
            else:
                clock.judge(ctx, ts)
        if env.problem is not None and type(item) is not ProtocolAnomaly:
            protocol.frame_problem(ctx, env.problem)  # an anomaly's own is its item's
        cls = type(item)
        handlers = (self._list if list_item else self._live).get(cls)
        if handlers is None:
            handlers = self._handlers(cls, list_item)
        for handler in handlers:
            handler(ctx, item)
        gap = world.gap
        if gap is not None and gap.until is None and not list_item and isinstance(item, AmiEvent):
            gaps.first_live(ctx, gap, item)
        return changes

    def time_of(self, env: Envelope) -> float:
        """The time ``apply(env)`` would fold ``env`` at (the World's clock right after it),
        without folding it. A point-in-time fold stops before the first envelope later than its
        limit by this judged time, never by a raw ``Timestamp`` (one far-future outlier is
        folded at the current clock)."""
        ts = getattr(env.item, "timestamp", None)
        return clock.judged_time(self._ctx, env.item, env.received_at if ts is None else ts)

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
