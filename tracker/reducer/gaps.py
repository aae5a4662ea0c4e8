"""Gaps between AMI sessions: what the fold marks, flags and infers (``tracker.state.gap``).

* A banner after the first one (``SessionStarted`` with ``World.sessions`` already >= 1) opens a
  gap: from the clock and seq of the last frame before it to the banner. Every call up at that
  moment is flagged ``gap``; the queue callers present are remembered (``watch``).
* The session's first live event (not a list item, not a response) gives the gap's end time.
* Calls first met in the session's resync list began in the gap (``joined_unseen``, flagged
  ``gap``); calls the resync closed ended in it (``ended_unseen``).
* A queue's first ``QueueParams`` after the gap, against the counts the fold kept since its
  counters were last read, says how many callers completed or abandoned unseen; those of the
  watched callers now gone are recorded calls, the rest lived entirely inside the gap.

Each step emits ``GapUpdated`` with the gap's whole account. Everything is read from the log
(the banner is a stored frame), so a replay marks the same gaps.
"""

from __future__ import annotations

import msgspec

from ..state.gap import Gap, GapUpdated, QueueGap
from ..state.queue import Queue
from .context import Context


def _emit(ctx: Context, gap: Gap) -> None:
    copy = msgspec.structs.replace(
        gap, queues=[msgspec.structs.replace(q) for q in gap.queues], watch={}
    )
    ctx.emit(GapUpdated(seq=ctx.seq, at=ctx.at, gap=copy))


def current(ctx: Context) -> Gap | None:
    """The gap before the current session, if there is one."""
    gap = ctx.world.gap
    return gap if gap is not None and gap.session == ctx.world.sessions else None


def open_gap(ctx: Context, since: float) -> None:
    """Called at a banner, after ``World.sessions`` was incremented (``since``: the clock before
    the banner)."""
    world = ctx.world
    if world.sessions < 2:
        return
    previous = world.gap
    watch: dict[str, list[str]] = {}
    if previous is not None:  # counters not read since: their callers are still unaccounted
        accounted = {q.queue for q in previous.queues}
        watch = {k: list(v) for k, v in previous.watch.items() if k not in accounted}
        if previous.until is None:
            previous.until = since
            _emit(ctx, previous)
    for name, q in world.queues.items():
        present = watch.setdefault(name, [])
        present.extend(u for u in (*q.callers, *q.sessions) if u not in present)
    for call in world.calls.values():
        call.gap = True
    world.gap = gap = Gap(
        session=world.sessions,
        seq=ctx.seq,
        last_seq=ctx.seq - 1,
        since=since,
        calls_cut=len(world.calls),
        watch={k: v for k, v in watch.items() if v},
    )
    _emit(ctx, gap)


def first_live(ctx: Context, gap: Gap) -> None:
    """The session's first live event: the gap ends at its time."""
    gap.until = ctx.at
    _emit(ctx, gap)


def resynced(ctx: Context) -> None:
    """The session's first channel list completed (calls joined and ended are counted)."""
    gap = current(ctx)
    if gap is not None:
        _emit(ctx, gap)


def queue_counters(ctx: Context, q: Queue, completed: int, abandoned: int) -> None:
    """A ``QueueParams`` item, before its counters replace the fold's counts."""
    gap = current(ctx)
    if gap is None or not q.counted or any(g.queue == q.name for g in gap.queues):
        return
    done, gave_up = completed - q.completed, abandoned - q.abandoned
    if done < 0 or gave_up < 0:
        return  # the counters were reset (Asterisk restarted, queue reset): nothing to infer
    channels = ctx.world.channels
    recorded = sum(
        1
        for uid in gap.watch.get(q.name, ())
        if (uid in q.callers or uid in q.sessions) and uid not in channels
    )
    gap.queues.append(
        QueueGap(
            queue=q.name, completed=done, abandoned=gave_up, recorded=min(recorded, done + gave_up)
        )
    )
    _emit(ctx, gap)


__all__ = ["current", "first_live", "open_gap", "queue_counters", "resynced"]
