"""``Tracker.changes()``: the live change records one by one, bounded, with an explicit gap.

    async for change in tracker.changes():
        match change:
            case FellBehind():  # changes were dropped: re-read tracker.world now
                ...
            case CallEnded(record=call):
                ...

The fold never waits for a consumer (DESIGN.md decision 4), so a consumer slower than the
PBX loses changes once its buffer (``buffer`` change records) is full. The loss is not hidden
in a counter: the stream yields one ``FellBehind`` item at the place of the gap. It is an item,
not an exception, so the loop goes on (an exception would end ``async for`` and lose the
stream's place); the items are ``Change | FellBehind``, so a type checker flags a consumer
that takes every item for a ``Change``; and each gap is logged (warning) in case it is ignored.

Once behind, a stream drops everything until its consumer has read what it buffered before the
gap; then it yields ``FellBehind`` with ``last_seq`` = the tracker's last folded frame. At that
moment ``tracker.world`` is exactly the state after frame ``last_seq`` (read it before the next
``await``: the fold cannot run before the consumer's task yields), and every change after it is of a
later frame: nothing is seen twice and no state change goes unaccounted for.
"""

from __future__ import annotations

import logging
from collections import deque
from types import TracebackType
from typing import TYPE_CHECKING, NamedTuple, Self

import trio

from ..state import Change

if TYPE_CHECKING:
    from .tracker import ChangeBatch, Tracker

log = logging.getLogger(__name__)

CHANGES_BUFFER = 10_000
"""Change records a ``changes()`` stream holds for its consumer before it falls behind."""


class FellBehind(NamedTuple):
    """The consumer was too slow: the changes of frames ``first_seq..last_seq`` were dropped.

    ``tracker.world`` is the state right after frame ``last_seq`` when this item is yielded
    (read it before the next ``await``); the next item is a change of a later frame.
    """

    lost_changes: int
    """Change records dropped in this gap."""
    first_seq: int
    """First frame whose changes were dropped."""
    last_seq: int
    """Last frame folded when this was yielded: ``tracker.world`` is at this frame."""


class Stream:
    """What the tracker's live streams share: ``with`` closes (unsubscribes), ``async for``."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __aiter__(self) -> Self:
        return self


class ChangeStream(Stream):
    """Change records (and ``FellBehind`` gaps) from now on; iterate it with ``async for``.

    Leaving the loop early? Use ``with tracker.changes() as changes:`` (or ``close()``) to
    unsubscribe at once; an unreferenced stream is unsubscribed when it is garbage collected.
    """

    def __init__(self, tracker: Tracker, buffer: int) -> None:
        if buffer < 1:
            raise ValueError(f"buffer must hold at least one change, not {buffer}")
        self._tracker = tracker
        self.buffer = buffer
        self._batches: deque[tuple[Change, ...]] = deque()
        self._buffered = 0
        self._current: tuple[Change, ...] = ()
        self._index = 0
        self._lot = trio.lowlevel.ParkingLot()
        self._ended = False
        self._gap_first: int | None = None
        self._gap_changes = 0
        self.fell_behind = 0
        """``FellBehind`` items yielded so far."""
        self.lost_changes = 0
        """Change records dropped so far (in every gap yielded)."""

    # -- fed by the tracker's fold (never blocks) ---------------------------------------
    def _offer(self, batch: ChangeBatch) -> bool:
        if self._ended:
            return False
        changes = batch.changes
        size = len(changes)
        room = self._buffered == 0 or self._buffered + size <= self.buffer
        if self._gap_first is None and room:
            self._batches.append(changes)
            self._buffered += size
        else:
            if self._gap_first is None:
                self._gap_first = batch.first_seq
            self._gap_changes += size
            self._tracker.stats.subscriber_overflows += 1
        self._lot.unpark_all()
        return True

    def _end(self) -> None:
        self._ended = True
        self._lot.unpark_all()

    def close(self) -> None:
        """Unsubscribe: the stream ends after what it holds (no more gaps are reported)."""
        self._tracker._subscribers.discard(self)
        self._batches.clear()
        self._current, self._index, self._buffered = (), 0, 0
        self._gap_first = None
        self._end()

    # -- read by the consumer -----------------------------------------------------------
    async def __anext__(self) -> Change | FellBehind:
        while True:
            if self._index < len(self._current):
                change = self._current[self._index]
                self._index += 1
                return change
            if self._batches:
                self._current = self._batches.popleft()
                self._index = 0
                self._buffered -= len(self._current)
                await trio.lowlevel.checkpoint()  # one per batch: cancellable, fair to the fold
                continue
            if self._gap_first is not None:
                return self._gap()
            if self._ended:
                raise StopAsyncIteration
            await self._lot.park()

    def _gap(self) -> FellBehind:
        assert self._gap_first is not None
        gap = FellBehind(self._gap_changes, self._gap_first, self._tracker.last_seq)
        self._gap_first, self._gap_changes = None, 0
        self.fell_behind += 1
        self.lost_changes += gap.lost_changes
        log.warning(
            "a changes() consumer fell behind: %d changes of frames %d..%d dropped "
            "(buffer %d); it should re-read tracker.world",
            gap.lost_changes,
            gap.first_seq,
            gap.last_seq,
            self.buffer,
        )
        return gap


__all__ = ["CHANGES_BUFFER", "ChangeStream", "FellBehind"]
