"""Value types of the model (pure)."""

from __future__ import annotations

from .changes import Anomaly, Change
from .world import World, decode_world, encode_world, snapshot

__all__ = ["Anomaly", "Change", "World", "decode_world", "encode_world", "snapshot"]
