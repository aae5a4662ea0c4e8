"""Gaps between AMI sessions: what the fold marks, flags and infers (``tracker.state.gap``).

* A banner after the first one (``SessionStarted`` with ``World.sessions`` already >= 1) opens a
  gap: from the clock and seq of the last frame before it to the banner. Every call up at that
  moment is flagged ``gap``; the queue callers present are remembered (``watch``).
* The session's first live event (not a list item, not a response) with a ``Timestamp`` gives
  the gap's end time (without ``timestampevents = yes`` it stays unknown).
* Calls first met in the session's resync list began in the gap (``joined_unseen``, flagged
  ``gap``); calls the resync closed ended in it (``ended_unseen``).
* Asterisk numbers channels with one global counter (the Uniqueid's ``.<counter>``): the jump
  from the last channel met before the gap to the first one born after it, less the channels
  met otherwise (the resync's list), is the number of channels that came and went unseen.
* A queue's first ``QueueParams`` after the gap, against the counts the fold kept since its
  counters were last read, says how many callers completed or abandoned unseen; the watched
  calls that ended unseen are recorded calls among them, the rest lived entirely inside the
  gap.

Each step emits ``GapUpdated`` with the gap's whole account. Everything is read from the log
(the banner is a stored frame), so a replay marks the same gaps.
"""

from __future__ import annotations

import msgspec

from ..events.base import AmiEvent
from ..state.gap import Gap, GapUpdated, QueueGap
from ..state.queue import Queue
from ..state.world import World
from .context import Context


def _emit(ctx: Context, gap: Gap) -> None:
    copy = msgspec.structs.replace(
        gap,
        queues=[msgspec.structs.replace(q) for q in gap.queues],
        watch={},
        ended=[],
        counters_seen=[],
    )
    ctx.emit(GapUpdated(seq=ctx.seq, at=ctx.at, gap=copy))


def current(ctx: Context) -> Gap | None:
    """The gap before the current session, if there is one."""
    gap = ctx.world.gap
    return gap if gap is not None and gap.session == ctx.world.sessions else None


def _unfinished(world: World) -> dict[str, list[str]]:
    """Queue -> Linkedids of the calls up now whose passage through it has not ended yet: seen
    waiting, or in the queue's state (waiting, connected to an agent whose ``AgentComplete``
    has not come, or gone from its list unseen), a caller first met in a list included."""
    inside: dict[str, str] = {}
    for name, q in world.queues.items():
        for uid in (*q.callers, *q.sessions, *q.left_unseen):
            inside[uid] = name
    out: dict[str, list[str]] = {}
    for call in world.calls.values():
        passage = call.queue
        queue = next((inside[uid] for uid in call.live if uid in inside), None)
        if queue is None and passage is not None and passage.outcome == "waiting":
            queue = passage.name
        if queue is not None:
            out.setdefault(queue, []).append(call.linkedid)
    return out


def open_gap(ctx: Context, since: float) -> None:
    """Called at a banner, after ``World.sessions`` was incremented (``since``: the clock before
    the banner)."""
    world = ctx.world
    if world.sessions < 2:
        return
    previous = world.gap
    watch: dict[str, list[str]] = {}
    ended: list[str] = []
    if previous is not None:  # counters not read since: their calls are still unaccounted
        accounted = {q.queue for q in previous.queues}
        watch = {k: list(v) for k, v in previous.watch.items() if k not in accounted}
        ended = list(previous.ended) if watch else []
        if previous.until is None:
            previous.until = since
            _emit(ctx, previous)
    for name, linkedids in _unfinished(world).items():
        present = watch.setdefault(name, [])
        present.extend(k for k in linkedids if k not in present)
    for call in world.calls.values():
        call.gap = True
    counter, seen = world.channel_counter, []
    if previous is not None and world.listed_session != previous.session:
        # no resync listed the channels since that gap: they are counted with this one
        counter, seen = previous.counter_before, list(previous.counters_seen)
        if previous.channels_unseen is not None:
            previous.channels_unseen = None
            _emit(ctx, previous)
    world.gap = gap = Gap(
        session=world.sessions,
        seq=ctx.seq,
        last_seq=ctx.seq - 1,
        since=since,
        calls_cut=len(world.calls),
        watch=watch,
        ended=ended,
        counter_before=counter,
        counters_seen=seen,
    )
    _emit(ctx, gap)


def first_live(ctx: Context, gap: Gap, event: AmiEvent) -> None:
    """A live event while the gap's end is unknown: the first one with a ``Timestamp`` ends the
    gap (a receive time is no evidence: frames without one may come long after)."""
    if event.timestamp is not None:
        gap.until = ctx.at
        _emit(ctx, gap)


def channel_met(ctx: Context, counter: int, *, born: bool) -> None:
    """A channel entered the World: ``born`` by a live ``Newchannel``, else met in a list or
    adopted from another event. ``counter``: its Uniqueid counter (0: none)."""
    world = ctx.world
    if counter > world.channel_counter:
        world.channel_counter = counter
    gap = current(ctx)
    if gap is None or counter <= gap.counter_before or world.listed_session == world.sessions:
        return  # counted up to the session's resync (its list names what was born in the gap)
    gap.counters_seen.append(counter)
    if born and gap.counter_after is None:
        gap.counter_after = counter
        _count_channels(gap)
        _emit(ctx, gap)


def _count_channels(gap: Gap) -> None:
    after, before = gap.counter_after, gap.counter_before
    if after is None or before < 0:
        return
    seen = {c for c in gap.counters_seen if before < c < after}
    gap.channels_unseen = max(0, after - before - 1 - len(seen))


def resynced(ctx: Context) -> None:
    """The session's first channel list completed (calls joined and ended are counted)."""
    gap = current(ctx)
    if gap is not None:
        _count_channels(gap)
        _emit(ctx, gap)


def queue_counters(ctx: Context, q: Queue, completed: int, abandoned: int) -> None:
    """A ``QueueParams`` item, before its counters replace the fold's counts."""
    gap = current(ctx)
    if gap is None or not q.counted or any(g.queue == q.name for g in gap.queues):
        return
    done, gave_up = completed - q.completed, abandoned - q.abandoned
    if done < 0 or gave_up < 0:
        return  # the counters were reset (Asterisk restarted, queue reset): nothing to infer
    ended = set(gap.ended)
    recorded = sum(1 for linkedid in gap.watch.get(q.name, ()) if linkedid in ended)
    gap.queues.append(
        QueueGap(
            queue=q.name, completed=done, abandoned=gave_up, recorded=min(recorded, done + gave_up)
        )
    )
    _emit(ctx, gap)


__all__ = ["channel_met", "current", "first_live", "open_gap", "queue_counters", "resynced"]
