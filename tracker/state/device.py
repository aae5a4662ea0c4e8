"""Device, extension and presence state (last known per name)."""

from __future__ import annotations

import msgspec


class DeviceStates(msgspec.Struct, kw_only=True, gc=False):
    devices: dict[str, str] = msgspec.field(default_factory=dict)
