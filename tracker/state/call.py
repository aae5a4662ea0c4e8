"""Call state (by Linkedid)."""

from __future__ import annotations

import msgspec


class Call(msgspec.Struct, kw_only=True, gc=False):
    linkedid: str
    start: float
