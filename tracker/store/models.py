"""Every table of the store, in one import: Alembic's ``target_metadata`` and the projections
the writers run by default.

The core tables live in :mod:`tracker.store.schema`; the reporting tables and their
projection (``tracker.store.reporting``, ``tracker.store.projection``) are loaded when this
build has them.
"""

from __future__ import annotations

import importlib
from typing import cast

from . import schema
from .base import Base
from .schema import Projection

REPORTING_MODULES = ("reporting",)
"""Modules defining more tables on :class:`Base` (imported if present)."""


def _optional(name: str) -> object | None:
    try:
        return importlib.import_module(f"{__package__}.{name}")
    except ModuleNotFoundError as exc:
        if exc.name != f"{__package__}.{name}":
            raise  # the module is there but broken: say so
        return None


for _name in REPORTING_MODULES:
    _optional(_name)

metadata = Base.metadata


def default_projections() -> tuple[Projection, ...]:
    """The reporting projection (``tracker.store.projection.project_batch``) when present."""
    module = _optional("projection")
    if module is None:
        return ()
    return (cast(Projection, module.project_batch),)  # type: ignore[attr-defined]


__all__ = ["default_projections", "metadata", "schema"]
