"""Channel state (by Uniqueid). Filled in by the channels machine."""

from __future__ import annotations

import msgspec


class Channel(msgspec.Struct, kw_only=True, gc=False):
    uniqueid: str
    linkedid: str
    name: str
