"""Holding the cyclic garbage collector off during a short, latency-bound read (``world_at``).

Why: ``world_at`` takes ~10 ms, and a full (generation 2) collection of a process that imported
SQLAlchemy and Alembic takes ~50 ms on its own (it walks every tracked object; ~100 000 of them
are the modules'). Collections run at whichever allocation crosses a threshold, so in a process
that reads points one after another, the collection owed by the whole process (an import just
before, say) falls inside a ``world_at`` and makes it 5-10 times slower. Nothing ``world_at``
allocates needs the collector: the World it builds is reachable until it returns (its structs
are ``gc=False``), and its temporaries (rows, frames, envelopes) are freed by reference counting.

What it does not do: skip a collection. The allocation counts keep growing while the collector
is held off, so a collection that came due runs at the caller's next allocation after the read,
exactly as it would have in it. The caller's state is restored: a collector the caller had
disabled stays disabled. Reads in several threads share one hold (the first one in records the
state, the last one out restores it); code that switches the collector on or off from another
thread while a read runs may see that change undone when the read ends.
"""

from __future__ import annotations

import gc
import threading

_lock = threading.Lock()
_holders = 0
_was_enabled = False


class CollectorHold:
    """``with CollectorHold():`` the collector is off inside (exception-safe); ``release()``
    ends the hold early (e.g. when the read turns out to be long); it is idempotent."""

    __slots__ = ("_held",)

    def __init__(self) -> None:
        self._held = False

    def __enter__(self) -> CollectorHold:
        global _holders, _was_enabled
        with _lock:
            if _holders == 0:
                _was_enabled = gc.isenabled()
                gc.disable()
            _holders += 1
        self._held = True
        return self

    def release(self) -> None:
        global _holders
        if not self._held:
            return
        self._held = False
        with _lock:
            _holders -= 1
            if _holders == 0 and _was_enabled:
                gc.enable()

    def __exit__(self, *exc: object) -> None:
        self.release()
