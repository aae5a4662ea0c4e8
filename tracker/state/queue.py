"""Queue state (by queue name)."""

from __future__ import annotations

import msgspec


class Queue(msgspec.Struct, kw_only=True, gc=False):
    name: str
