"""Offline composition: capture files -> frames -> typed envelopes -> fold. No trio, no sockets.

``replay(paths)`` folds one or more captures one after another (each starts with a banner, i.e. a
``SessionStarted``) and returns the final World with every ended call record, every anomaly and
a count of change records by type.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import msgspec

from .capture import iter_frames
from .events import envelopes
from .events.base import AmiEvent
from .events.envelope import Envelope
from .reducer import Reducer
from .state import Anomaly, World
from .state.call import Call, CallEnded

PathLike = str | Path


class ReplayResult(msgspec.Struct, kw_only=True):
    world: World
    call_records: list[Call]
    anomalies: list[Anomaly]
    changes: dict[str, int]
    """Change records emitted, by class name."""
    events: int = 0
    """Envelopes folded (one per frame: banner, events, responses, anomalies)."""
    timestamped: bool = True
    """False when live events were folded but none carried a ``Timestamp`` header (Asterisk's
    default ``timestampevents = no``): an offline fold then has no clock, so every time is
    unknown and every duration comes out 0."""


def iter_envelopes(paths: Sequence[PathLike] | PathLike) -> Iterator[Envelope]:
    """Envelopes of every capture in order, ``seq`` continuing across files."""
    if isinstance(paths, str | Path):
        paths = [paths]
    seq = 0
    for path in paths:
        for env in envelopes(iter_frames(path), start_seq=seq):
            seq = env.seq + 1
            yield env


def fold(
    envs: Iterable[Envelope], *, until: float | None = None, reducer: Reducer | None = None
) -> ReplayResult:
    """Fold envelopes; with ``until``, stop before the first event whose time is later."""
    reducer = reducer if reducer is not None else Reducer()
    records: list[Call] = []
    anomalies: list[Anomaly] = []
    counts: Counter[str] = Counter()
    n = live = stamped = 0
    any_received = False
    for env in envs:
        item = env.item
        ts = None
        if isinstance(item, AmiEvent):
            ts = item.timestamp
            if not env.list_item:
                live += 1
                stamped += ts is not None
        if env.received_at is not None:
            any_received = True
            if ts is None:
                ts = env.received_at
        if until is not None and ts is not None and ts > until:
            break
        n += 1
        for change in reducer.apply(env):
            counts[type(change).__name__] += 1
            if type(change) is CallEnded:
                records.append(change.record)
            elif type(change) is Anomaly:
                anomalies.append(change)
    return ReplayResult(
        world=reducer.world,
        call_records=records,
        anomalies=anomalies,
        changes=dict(counts),
        events=n,
        timestamped=stamped > 0 or live == 0 or any_received,
    )


def replay(paths: Sequence[PathLike] | PathLike, *, until: float | None = None) -> ReplayResult:
    """Fold capture files (``.ami`` or ``.ami.gz``) one after another."""
    return fold(iter_envelopes(paths), until=until)


__all__ = ["ReplayResult", "fold", "iter_envelopes", "replay"]
