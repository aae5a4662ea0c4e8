"""Every table of the store, in one import: Alembic's ``target_metadata`` and ``create_all``.

A module that defines tables on :class:`~tracker.store.base.Base` is imported here.
"""

from __future__ import annotations

from . import schema
from .base import Base

metadata = Base.metadata

__all__ = ["metadata", "schema"]
