"""Normalise what callers pass to ``AmiClient.send``: a typed action or ``(name, params)``.

Typed actions (``tracker.events`` ``AmiAction`` subclasses such as ``PingAction``) carry their
wire name and answer shape (``single``/``list``/``follow`` with the complete/follow event)
as class metadata; ``(name, params)`` pairs are sent as ``single`` unless told otherwise.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping

from ..events.action_base import AmiAction

Params = tuple[tuple[str, str], ...]


@dataclasses.dataclass(frozen=True)
class ActionSpec:
    name: str
    params: Params = ()
    response: str = "single"
    """``single``, ``list`` or ``follow`` (see ``AmiConnection.send_action``)."""
    complete_event: str | None = None
    follow_event: str | None = None
    action_id: str | None = None
    """None: the connection picks one."""


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


def action_spec(action: object, *, response: str | None = None) -> ActionSpec:
    """Wire description of ``action``: an ``AmiAction``, an ``ActionSpec``, a
    ``(name, params)`` pair (params a mapping or pairs) or a bare action name.
    ``response`` overrides the answer shape (e.g. ``"list"`` for a ``(name, params)`` pair).
    """
    if isinstance(action, ActionSpec):
        spec = action
    elif isinstance(action, AmiAction):
        name, params, kwargs = action.send_args()
        spec = ActionSpec(
            name,
            tuple(params),
            response=kwargs.get("response", "single"),
            complete_event=kwargs.get("complete_event"),
            follow_event=kwargs.get("follow_event"),
            action_id=kwargs.get("action_id"),
        )
    elif isinstance(action, str):
        spec = ActionSpec(action)
    elif isinstance(action, tuple) and len(action) == 2 and isinstance(action[0], str):
        spec = ActionSpec(action[0], _params(action[1]))
    else:
        raise TypeError(f"cannot send {type(action).__name__!r} as an AMI action")
    if response is not None and response != spec.response:
        spec = dataclasses.replace(spec, response=response)
    return spec
