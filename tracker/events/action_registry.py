"""Typed actions by wire name, and client frames (``Action: ...``) back into typed actions."""

from __future__ import annotations

from .action_base import AmiAction, decode_params
from .actions import ACTION_TYPES

_LOWER: dict[str, type[AmiAction]] = {name.lower(): cls for name, cls in ACTION_TYPES.items()}


def lookup_action(name: str) -> type[AmiAction] | None:
    """Action class for a name (Asterisk matches action names case-insensitively)."""
    return ACTION_TYPES.get(name) or _LOWER.get(name.lower())


def decode_action(headers: tuple[tuple[str, str], ...] | list[tuple[str, str]]) -> AmiAction | None:
    """Typed action for a client frame's headers; None when the action name is unknown.

    Raises ``TypeError`` if a required parameter is missing.
    """
    if not headers or headers[0][0].lower() != "action":
        return None
    cls = lookup_action(headers[0][1])
    if cls is None:
        return None
    action_id: str | None = None
    params: list[tuple[str, str]] = []
    for key, value in headers[1:]:
        if key.lower() == "actionid" and action_id is None:
            action_id = value
        else:
            params.append((key, value))
    return decode_params(cls, params, action_id)
