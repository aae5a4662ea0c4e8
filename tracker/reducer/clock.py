"""The fold's clock: event time judged from the stream itself (the fold reads no wall clock).

Asterisk stamps every live event with ``Timestamp: <epoch>.<usec>`` from its wall clock
(``timestampevents = yes``); without it the runtime's receive time stands in. The fold's clock
is the latest time seen: it never steps back by a little (events from different Asterisk
threads arrive a few ms out of order). One bad value must not move it, or every later call
would be measured against it:

* a time that is not a finite positive number is an anomaly (``bad_timestamp``), never used;
* a time more than ``max_jump`` seconds ahead of the clock, or behind it, is an anomaly
  (``clock_jump``) and is not adopted: the event is folded at the current clock and its time
  becomes a *candidate*. The clock steps to the new time (anomaly ``clock_step``) once
  ``confirm`` timestamped events in a row agree with it (each within ``max_jump`` of the
  previous one), so a PBX whose clock was really stepped (NTP, an operator) is followed, and a
  lone outlier (``9999999999``) is forgotten as soon as an event agrees with the clock again;
* an event corroborates a jump at once when its own channel was born in the new time: the
  Uniqueid is ``[systemname-]<epoch>.<counter>``, taken from the same clock when the channel
  was created, so the first call after a quiet night is not folded at last evening's time
  (forward and corroborated, the step is indistinguishable from a quiet spell and is not an
  anomaly; a corroborated step back is).

Everything here depends only on the frames folded so far: replaying the same frames gives the
same clock (the candidate is kept in the World, so a restored snapshot continues alike).
"""

from __future__ import annotations

import math

from ..state import World
from .context import Context

MAX_JUMP = 3600.0
"""Default: seconds the clock may jump (either way) between two events without evidence."""
CONFIRM = 3
"""Default: consecutive events that confirm a clock step."""


def _birth(uniqueid: object) -> float | None:
    """Creation epoch (seconds) encoded in an Asterisk Uniqueid, None if it has none."""
    if not isinstance(uniqueid, str):
        return None
    epoch, dot, counter = uniqueid.rpartition("-")[2].partition(".")
    if not dot or not epoch.isdigit() or not counter.isdigit():
        return None
    return float(epoch)


def _corroborated(event: object, ts: float, max_jump: float) -> bool:
    """The event's channel was created (by the same clock) shortly before ``ts``."""
    born = _birth(getattr(event, "uniqueid", None))
    return born is not None and -2.0 <= ts - born <= max_jump


def _votes(world: World, ts: float, max_jump: float) -> int:
    """Consecutive events agreeing with ``ts`` as the new clock, this one included."""
    candidate = world.clock_candidate
    if candidate is not None and abs(ts - candidate) <= max_jump:
        return world.clock_votes + 1
    return 1


def judged_time(ctx: Context, event: object, ts: float | None) -> float:
    """The time folding ``event`` stamped ``ts`` would give it (the World's clock right after
    it), without folding it: the same decisions as ``Reducer.apply`` and ``judge``."""
    now = ctx.world.clock
    if ts is None:
        return now
    jump = ctx.max_jump
    if now - jump <= ts <= now + jump:
        return max(now, ts)
    if not math.isfinite(ts) or ts <= 0.0:
        return now
    if now <= 0.0:
        return ts
    adopted = _corroborated(event, ts, jump) or _votes(ctx.world, ts, jump) >= ctx.confirm
    return ts if adopted else now


def judge(ctx: Context, ts: float) -> None:
    """``ts`` is not within ``max_jump`` of the clock (or not a number): decide what to do.

    Called by the Reducer only off its fast path; sets ``world.clock`` and ``ctx.at``.
    """
    world = ctx.world
    if not math.isfinite(ts) or ts <= 0.0:
        ctx.anomaly("bad_timestamp", f"{ts!r} is not a time: not used")
        return
    clock = world.clock
    if clock <= 0.0:  # the first time seen
        world.clock = ctx.at = ts
        return
    world.clock_votes = _votes(world, ts, ctx.max_jump)
    world.clock_candidate = ts
    corroborated = _corroborated(ctx.event, ts, ctx.max_jump)
    if corroborated or world.clock_votes >= ctx.confirm:
        world.clock = ctx.at = ts
        world.clock_candidate = None
        world.clock_votes = 0
        if not (corroborated and ts > clock):  # forward + a channel born then: a quiet spell
            ctx.anomaly("clock_step", f"clock stepped by {ts - clock:+.3f}s to {ts:.6f}")
        return
    ctx.anomaly(
        "clock_jump",
        f"Timestamp {ts:.6f} is {ts - clock:+.3f}s from the fold's clock {clock:.6f}: not used",
    )
