"""Device, extension and presence state (last known per name)."""

from __future__ import annotations

import msgspec

from .changes import Change


class DeviceState(msgspec.Struct, kw_only=True, gc=False):
    state: str
    at: float
    seq: int


class ExtensionState(msgspec.Struct, kw_only=True, gc=False):
    exten: str
    context: str
    hint: str | None
    status: int | None
    status_text: str | None
    at: float
    seq: int


class PresenceState(msgspec.Struct, kw_only=True, gc=False):
    status: str
    subtype: str | None
    message: str | None
    at: float
    seq: int


class DeviceStates(msgspec.Struct, kw_only=True, gc=False):
    devices: dict[str, DeviceState] = msgspec.field(default_factory=dict)
    """By device name (``Local/601@phones``, ``Queue:sales_pause_...``)."""
    extensions: dict[str, ExtensionState] = msgspec.field(default_factory=dict)
    """By ``exten@context``."""
    presence: dict[str, PresenceState] = msgspec.field(default_factory=dict)
    """By presentity (or hint for PresenceStatus)."""


class DeviceStateChanged(Change, frozen=True):
    device: str
    state: str
    previous: str | None
    reconciled: bool = False
    """True when a list reply (DeviceStateList) corrected it rather than a live event."""


class ExtensionStateChanged(Change, frozen=True):
    key: str
    status: int | None
    status_text: str | None
    previous: str | None
    reconciled: bool = False


class PresenceStateChanged(Change, frozen=True):
    key: str
    status: str
    subtype: str | None
    message: str | None
    previous: str | None
    reconciled: bool = False
