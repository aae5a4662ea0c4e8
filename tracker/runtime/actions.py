"""Normalise what callers pass to ``AmiClient.send``: a typed action or ``(name, params)``.

Typed actions (from ``tracker.events``) expose ``wire_params()`` plus class metadata naming the
wire action and how it is answered; the attribute names are probed so the runtime does not
depend on the exact spelling the vocabulary settles on.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

Params = tuple[tuple[str, str], ...]

_NAME_ATTRS = ("__action__", "action_name", "ACTION", "__action_name__", "wire_name")
_RESPONSE_ATTRS = ("__response__", "response_kind", "RESPONSE", "__response_kind__")
_COMPLETE_ATTRS = ("__complete_event__", "complete_event", "COMPLETE_EVENT")
_FOLLOW_ATTRS = ("__follow_event__", "follow_event", "FOLLOW_EVENT", "__follow_events__")


@dataclasses.dataclass(frozen=True)
class ActionSpec:
    name: str
    params: Params = ()
    response: str = "single"
    """``single``, ``list`` or ``follow`` (see ``AmiConnection.send_action``)."""
    complete_event: str | None = None
    follow_event: str | None = None


def _params(raw: Mapping[str, object] | Iterable[tuple[str, object]] | None) -> Params:
    if raw is None:
        return ()
    items = raw.items() if isinstance(raw, Mapping) else raw
    out: list[tuple[str, str]] = []
    for key, value in items:
        if value is None:
            continue
        if isinstance(value, bool):
            out.append((key, "true" if value else "false"))
        elif isinstance(value, list | tuple):
            out.extend((key, str(v)) for v in value)
        else:
            out.append((key, str(value)))
    return tuple(out)


def _probe(obj: object, names: tuple[str, ...]) -> Any:
    for name in names:
        value = getattr(obj, name, None)
        if value is not None and not callable(value):
            return value
    return None


def action_spec(action: object, *, response: str | None = None) -> ActionSpec:
    """Build the wire description of ``action``.

    ``action`` is an ``ActionSpec``, a ``(name, params)`` pair (params a mapping or pairs), a
    bare action name, or a typed action object with ``wire_params()``.
    """
    if isinstance(action, ActionSpec):
        spec = action
    elif isinstance(action, str):
        spec = ActionSpec(action)
    elif isinstance(action, tuple) and len(action) == 2 and isinstance(action[0], str):
        spec = ActionSpec(action[0], _params(action[1]))
    elif callable(getattr(action, "wire_params", None)):
        name = _probe(action, _NAME_ATTRS) or type(action).__name__.removesuffix("Action")
        kind = _probe(action, _RESPONSE_ATTRS)
        complete = _probe(action, _COMPLETE_ATTRS)
        follow = _probe(action, _FOLLOW_ATTRS)
        if isinstance(follow, list | tuple):
            follow = follow[0] if follow else None
        spec = ActionSpec(
            str(name),
            _params(action.wire_params()),  # type: ignore[attr-defined]
            response=str(kind) if kind in ("single", "list", "follow") else "single",
            complete_event=str(complete) if complete else None,
            follow_event=str(follow) if follow and kind == "follow" else None,
        )
    else:
        raise TypeError(f"cannot send {type(action).__name__!r} as an AMI action")
    if response is not None and response != spec.response:
        spec = dataclasses.replace(spec, response=response)
    return spec
