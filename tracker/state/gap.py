"""A gap: the time between two AMI sessions, when the tracker saw nothing of the PBX.

Asterisk does not keep events for a client that is not connected: whatever happened between
the last frame of one session and the next session's banner never reaches the tracker. The
fold cannot invent those events, so it marks the gap (``tracker.reducer.gaps``): its seq
boundary and time range, the calls it cut through, and what the next resync lets it infer
about the calls that lived entirely inside it (never as call records).
"""

from __future__ import annotations

import msgspec

from .changes import Change


class QueueGap(msgspec.Struct, kw_only=True, gc=False):
    """What a queue's counters say happened in a gap: its first ``QueueParams`` after the gap
    against the counts the fold kept (``Completed``/``Abandoned`` move with ``AgentComplete``
    and ``QueueCallerAbandon``, whose events were lost)."""

    queue: str
    completed: int = 0
    """Callers whose agent call was completed unseen in the gap."""
    abandoned: int = 0
    """Callers who hung up waiting, unseen in the gap."""
    recorded: int = 0
    """Of ``completed + abandoned``, calls the tracker knows: in the queue (waiting or with an
    agent) when the gap began, ended unseen in it (their records are flagged ``gap``).
    ``completed + abandoned - recorded`` callers lived entirely inside the gap."""

    @property
    def unrecorded(self) -> int:
        """Queue calls finished in the gap that have no call record (an estimate, never below
        zero: docs/call-records.md says when it is off)."""
        return max(0, self.completed + self.abandoned - self.recorded)


class Gap(msgspec.Struct, kw_only=True, gc=False):
    """The gap before session ``session`` (``World.sessions``), whose banner is frame ``seq``."""

    session: int
    seq: int
    """The banner of the session that ended the gap (the first frame after it)."""
    last_seq: int
    """The last frame before the gap (-1: none)."""
    since: float
    """The fold's clock at the last frame before the gap."""
    until: float | None = None
    """The clock at the session's first live event with a time (None until one came)."""
    calls_cut: int = 0
    """Calls up when the gap began (each is flagged ``gap`` in its record)."""
    ended_unseen: int = 0
    """Of those, calls the session's resync found gone: they ended in the gap."""
    joined_unseen: int = 0
    """Calls first met in the resync's channel list: they began in the gap."""
    channels_unseen: int | None = None
    """Channels Asterisk created and hung up in the gap, never seen: the jump of its global
    Uniqueid counter (``<epoch>.<counter>``) from the last channel before the gap to the first
    one created after it, less the channels the resync listed. Every call that lived entirely
    inside the gap had at least one. None: not known (yet), e.g. the counter went back."""
    counter_before: int = -1
    """Highest Uniqueid counter seen before the gap (fold-internal)."""
    counter_after: int | None = None
    """Counter of the first channel created after the gap (fold-internal)."""
    counters_seen: list[int] = msgspec.field(default_factory=list)
    """Counters above ``counter_before`` of the channels met until the resync (fold-internal)."""
    queues: list[QueueGap] = msgspec.field(default_factory=list)
    """Queue counters after the gap, one entry per queue whose counters were known before."""
    watch: dict[str, list[str]] = msgspec.field(default_factory=dict)
    """Queue -> Linkedids of the calls in it (waiting or with an agent) when the gap began, or
    when an earlier gap began whose queue counters were not read since (fold-internal)."""
    ended: list[str] = msgspec.field(default_factory=list)
    """Linkedids of the calls that ended unseen in this gap (and in such earlier ones)
    (fold-internal)."""

    @property
    def seconds(self) -> float:
        return 0.0 if self.until is None else max(0.0, self.until - self.since)


class GapUpdated(Change, frozen=True):
    """A gap was opened (at the banner) or learnt more (its end time, the resync's findings):
    ``gap`` is its whole current account (the store keeps the latest one per gap)."""

    gap: Gap


__all__ = ["Gap", "GapUpdated", "QueueGap"]
