"""Bridge state (by BridgeUniqueid)."""

from __future__ import annotations

import msgspec


class Bridge(msgspec.Struct, kw_only=True, gc=False):
    uniqueid: str
    members: list[str] = msgspec.field(default_factory=list)
