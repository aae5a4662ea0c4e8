"""The calls state machine: every transition of its part of the World lives here."""

from __future__ import annotations

from typing import Any

from .context import Context

EVENTS: frozenset[type[Any]] = frozenset()
"""The typed event classes this machine handles."""


def handle(ctx: Context, event: Any) -> None:
    """Apply one event (its class is in EVENTS)."""
