"""Parking lots and parked calls."""

from __future__ import annotations

import msgspec


class ParkingLot(msgspec.Struct, kw_only=True, gc=False):
    name: str
