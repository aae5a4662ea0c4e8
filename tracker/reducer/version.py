"""The fold's version: stored with every snapshot, so one written by another fold is ignored.

Bump ``FOLD_VERSION`` whenever a transition changes what the fold computes from the same
events. A change to the World's shape changes :func:`fold_version` by itself.
"""

from __future__ import annotations

import hashlib
from functools import cache

import msgspec

from ..state import World

FOLD_VERSION = 3
"""2: a list over the codec's bounds (``Envelope.problem``) is a ``list_overflow`` anomaly.
3: gaps between sessions (``reducer.gaps``); a QueueStatus list no longer trusts an earlier
list's marks (ActionIDs repeat across sessions)."""


@cache
def fold_version() -> str:
    """``FOLD_VERSION`` plus a digest of the World's schema, e.g. ``1-3f2a9c0d1e2b``."""
    schema = msgspec.json.encode(msgspec.json.schema(World), order="sorted")
    return f"{FOLD_VERSION}-{hashlib.sha256(schema).hexdigest()[:12]}"
