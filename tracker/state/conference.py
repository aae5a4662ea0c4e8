"""Conference rooms (ConfBridge, MeetMe)."""

from __future__ import annotations

import msgspec


class Conference(msgspec.Struct, kw_only=True, gc=False):
    name: str
