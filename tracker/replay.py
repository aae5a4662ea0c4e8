"""Offline composition: capture files -> frames -> typed envelopes -> fold. No trio, no sockets.

``replay(paths)`` folds one or more captures one after another (each starts with a banner, i.e. a
``SessionStarted``) and returns the final World with every ended call record, every anomaly and
a count of change records by type.
"""

from __future__ import annotations

import hashlib
import itertools
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import msgspec

from .ami import Frame, FrameKind
from .capture import iter_chunks, iter_frames
from .events import envelopes
from .events.base import AmiEvent
from .events.envelope import Envelope
from .reducer import Reducer
from .state import Anomaly, Change, World, encode_world
from .state.call import Call, CallEnded
from .store import (
    Batch,
    BatchWriter,
    Projection,
    SessionInfo,
    SnapshotPolicy,
    Store,
    WorldAt,
)
from .store.packed import Needs, Packed, Packer, pack
from .store.writer import utc

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
    """Fold envelopes; with ``until``, stop before the first event whose time is later (the
    fold's judged time, ``Reducer.time_of``: a far-future outlier does not end it)."""
    reducer = reducer if reducer is not None else Reducer()
    records: list[Call] = []
    anomalies: list[Anomaly] = []
    counts: Counter[str] = Counter()
    n = live = stamped = 0
    any_received = False
    for env in envs:
        item = env.item
        if isinstance(item, AmiEvent) and not env.list_item:
            live += 1
            stamped += item.timestamp is not None
        if env.received_at is not None:
            any_received = True
        if until is not None and reducer.time_of(env) > until:
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


def replay_store(
    store: Store, server: str | None = None, *, seq: int | None = None, at: float | None = None
) -> WorldAt:
    """The World of ``server`` after frame ``seq`` or at event time ``at`` (default: the end of
    its log), from the nearest earlier snapshot plus the frames after it."""
    return store.world_at(server, seq=seq, time=at)


# -- captures into the store (the import producer) -------------------------------------------
KEY_BYTES = 1 << 16
FOLD_CHUNK = 1024
"""Frames parsed, decoded and folded at a time (batches may be larger): small enough for the
frames and envelopes of a chunk to stay in the CPU's caches (4096 measured ~10 % slower)."""


def capture_key(path: PathLike) -> str:
    """A capture's session key: a digest of its first 64 KiB (so a capture that grew since it
    was imported is the same session, and only its new frames are added)."""
    digest = hashlib.sha256()
    need = KEY_BYTES
    for chunk in iter_chunks(path):
        digest.update(chunk[:need])
        need -= min(need, len(chunk))
        if not need:
            break
    return f"capture:{digest.hexdigest()[:40]}"


class ImportPlan(NamedTuple):
    session: SessionInfo
    world: World
    """The server's World just before the session's first frame."""
    stored: int
    """Frames of this session already in the store (they are skipped)."""


def plan_import(store: Store | None, server_id: int, path: PathLike) -> ImportPlan:
    """Where capture ``path`` goes in ``server_id``'s log: a new session after its last frame,
    or the session it was imported as before; ``store`` None: the log is known to be empty (a
    new session at seq 0, nothing to look up)."""
    key = capture_key(path)
    if store is None:
        return ImportPlan(SessionInfo(key, "import", 0, Path(path).name), World(), 0)
    found = store.session(server_id, key)
    info = next(s for s in store.servers() if s.id == server_id)
    first_seq = found.first_seq if found is not None else info.next_seq
    world = store.world_at(info.name, seq=first_seq - 1).world if first_seq > 0 else World()
    session = SessionInfo(key, "import", first_seq, Path(path).name)
    return ImportPlan(session, world, found.frames if found is not None else 0)


def capture_batches(
    path: PathLike,
    plan: ImportPlan,
    policy: SnapshotPolicy,
    *,
    batch_frames: int = 1024,
) -> Iterator[Batch]:
    """Fold a capture on top of ``plan.world`` and cut it into writer batches; a batch ends
    where the policy wants a snapshot (taken right there). A last, frameless batch notes the
    session's first and last event times (a capture has no receive times, so its login and
    resync times stay unknown) and how it ended."""
    session = plan.session
    reducer = Reducer(plan.world)
    world = reducer.world
    apply = reducer.apply
    seq = session.first_seq
    frames = iter_frames(path)
    first_time: float | None = None
    last: Frame | None = None
    step = min(batch_frames, FOLD_CHUNK)
    # the batch being gathered (frames, envelopes, changes, clocks), in folded chunks
    got_frames: list[Frame] = []
    got_envs: list[Envelope] = []
    changes: list[Change] = []
    clocks: list[float] = []
    while True:
        chunk: list[Frame] = list(itertools.islice(frames, step))
        if not chunk:
            break
        last = chunk[-1]
        envs = list(envelopes(chunk, start_seq=seq))
        start = 0
        due_seq, due_clock = policy.next_due()
        due_at = due_seq - seq  # index in this chunk from which a snapshot may be due
        seq += len(chunk)
        append = clocks.append
        for i, env in enumerate(envs):
            changes += apply(env)
            clock = world.clock
            append(clock)
            if i < due_at and clock < due_clock:
                continue
            snap = policy.due(env.seq, clock)
            due_seq, due_clock = policy.next_due()
            due_at = due_seq - envs[0].seq
            if snap:
                end = i + 1
                got_frames += chunk[start:end]
                got_envs += envs[start:end]
                if first_time is None:
                    first_time = _first_time(clocks)
                yield Batch(session, got_frames, got_envs, changes, clocks, encode_world(world))
                start = end
                got_frames, got_envs, changes, clocks = [], [], [], []
                append = clocks.append
        got_frames += chunk[start:]
        got_envs += envs[start:]
        if len(got_frames) >= batch_frames:
            if first_time is None:
                first_time = _first_time(clocks)
            yield Batch(session, got_frames, got_envs, changes, clocks)
            got_frames, got_envs, changes, clocks = [], [], [], []
    if got_frames:
        if first_time is None:
            first_time = _first_time(clocks)
        yield Batch(session, got_frames, got_envs, changes, clocks)
    if last is not None:
        logoff = last.kind is FrameKind.RESPONSE and last.name == "Goodbye"
        notes: dict[str, Any] = {
            "connected_at": utc(first_time),
            "disconnected_at": utc(world.clock or None),
            "disconnect_reason": "logoff" if logoff else "end of capture",
        }
        yield Batch(session, [], [], [], [], None, notes)


PACK_FRAMES = 256
"""Frames folded and packed at a time by :func:`capture_packed` (see
:class:`tracker.store.packed.Packer`)."""


def capture_packed(
    path: PathLike,
    plan: ImportPlan,
    policy: SnapshotPolicy,
    needs: Needs,
    *,
    batch_frames: int = 4096,
) -> Iterator[Packed]:
    """:func:`capture_batches` packed for the writer: folded and packed ``PACK_FRAMES`` at a
    time, one Packed per ``batch_frames`` frames or snapshot (the last one notes how the
    session ended)."""
    packer = Packer(needs)
    for batch in capture_batches(path, plan, policy, batch_frames=PACK_FRAMES):
        if not batch.frames:
            tail = packer.take()
            if tail is not None:
                yield tail
            yield pack(batch, needs)
            continue
        packer.add(batch)
        if batch.snapshot is not None or packer.count >= batch_frames:
            out = packer.take(batch.snapshot)
            assert out is not None
            yield out
    tail = packer.take()
    if tail is not None:
        yield tail


def _first_time(clocks: list[float]) -> float | None:
    """The first event time among the fold's clocks (0.0 until the fold has one)."""
    return next(filter((0.0).__lt__, clocks), None)


class ImportStats(NamedTuple):
    frames: int
    written: int
    skipped: int
    snapshots: int


def import_capture(
    store: Store,
    path: PathLike,
    *,
    server: str,
    policy: SnapshotPolicy | None = None,
    projections: Sequence[Projection] = (),
    batch_frames: int = 1024,
) -> ImportStats:
    """Import one capture synchronously (the CLI's ``import`` runs the same batches through the
    live persister instead)."""
    info = store.ensure_server(server)
    plan = plan_import(store, info.id, path)
    writer = BatchWriter(store.engine, info.id, projections=projections)
    policy = policy if policy is not None else SnapshotPolicy(last_seq=plan.session.first_seq - 1)
    frames = written = skipped = snaps = 0
    for batch in capture_batches(path, plan, policy, batch_frames=batch_frames):
        result = writer.write([batch])
        frames += len(batch.frames)
        written += result.written
        skipped += result.skipped
        snaps += result.snapshots
    return ImportStats(frames, written, skipped, snaps)


__all__ = [
    "ImportPlan",
    "ImportStats",
    "ReplayResult",
    "capture_batches",
    "capture_key",
    "capture_packed",
    "fold",
    "import_capture",
    "iter_envelopes",
    "plan_import",
    "replay",
    "replay_store",
]
