"""``import``: captures into the store through the live persister's path, minus the socket.

The capture is parsed, folded and packed here (trio's thread) and handed to a
:class:`Persister`, whose writer (a child process for a large import, else a worker thread)
compresses and writes while the next frames are folded; ``send`` waits when the writer falls
behind (an import may wait, a live reader may not).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NamedTuple

import trio

from ..capture import expanded_total
from ..prestart import PROCESS_FROM_BYTES, Prestarted
from ..replay import capture_packed, plan_import
from ..store import Projection, SnapshotPolicy
from ..store.models import default_projections
from ..store.packed import needs_of
from .persister import Persister

Progress = Callable[[Path, int, int], None]
"""``(capture, frames, bytes)`` done since the last call."""


class ImportResult(NamedTuple):
    captures: int
    frames: int
    written: int
    snapshots: int


def _worth_a_process(paths: Sequence[Path]) -> bool:
    """At least :data:`~tracker.prestart.PROCESS_FROM_BYTES` of AMI to import."""
    return expanded_total(paths) >= PROCESS_FROM_BYTES


PACKED_FRAMES = 256
"""Frames per packed batch handed to the persister, and the backlog from which it writes. The
writer (above all a new writer process: cold caches) starts on the first ones instead of after
thousands of frames, and then writes what came meanwhile, so when the fold ends only what it
folded during the last write is left; and the fold yields to the event loop after each one, so
the writer's answer is taken and its next request sent within ~1.3 ms of fold (1 024 frames:
~5 ms; a timeline of the load capture showed the writer process idle 45-65 ms of a 0.2 s
import, 2-14 ms after each answer). Measured in a fresh process as the command runs (best of 8
and of 6, two runs each), 256 against 1 024: load capture SQLite 0.91-0.93x against 0.83-0.86x
parse + fold, PostgreSQL even (0.69-0.74x); load x4 SQLite 0.90-0.95x against 0.92-0.96x,
PostgreSQL 0.90-0.92x against 0.81-0.87x. (8 192 -> 1 024 before: load x4 0.66 -> 0.60 s.)"""


async def import_captures(
    url: str,
    paths: Sequence[Path],
    *,
    server: str,
    projections: Sequence[Projection] | None = None,
    snapshot_frames: int = 2000,
    snapshot_seconds: float = 300.0,
    batch_frames: int = 4096,
    spill_path: Path | None = None,
    progress: Progress | None = None,
    writer_process: bool | None = None,
    prestarted: Prestarted | None = None,
) -> ImportResult:
    """Import ``paths`` in order into ``server``'s log at ``url`` (idempotent per capture);
    ``projections`` default to the reporting tables' (when this build has them);
    ``writer_process`` None: a writer process when one was ``prestarted`` (its child, forked
    earlier: :mod:`tracker.prestart`) or for large imports (``PROCESS_FROM_BYTES``).

    The capture is folded and handed over in packed batches of at most ``PACKED_FRAMES``
    (cut earlier where a snapshot is due), and the writer writes whatever has accumulated
    whenever it is free, up to ``2 * batch_frames`` frames per transaction; at most eight times
    ``batch_frames`` wait in memory."""
    packed_frames = min(PACKED_FRAMES, batch_frames)
    if projections is None:
        projections = default_projections()
    if writer_process is None:
        writer_process = prestarted is not None or _worth_a_process(paths)
    persister = Persister(
        url,
        server,
        projections=projections,
        batch_frames=packed_frames,
        write_frames=2 * batch_frames,
        memory_frames=8 * batch_frames,
        snapshot_frames=snapshot_frames,
        snapshot_seconds=snapshot_seconds,
        spill_path=spill_path,
        shutdown_timeout=60.0,
        retry_all=False,
        writer_process=writer_process,
        prestarted=prestarted,
    )
    start = await trio.to_thread.run_sync(persister.open)
    frames = 0
    async with trio.open_nursery() as nursery:
        await nursery.start(persister.run)
        try:
            for i, path in enumerate(paths):
                await persister.wait_idle()  # the next capture starts where this one ended
                if i == 0 and not start.next_seq and persister.store is None:
                    # the writer's process opened a log with nothing stored (see
                    # Persister.open): the plan needs no database
                    plan = plan_import(None, start.server_id, path)
                else:
                    store = await trio.to_thread.run_sync(persister.ensure_store)
                    plan = await trio.to_thread.run_sync(plan_import, store, start.server_id, path)
                policy = SnapshotPolicy(
                    snapshot_frames,
                    snapshot_seconds,
                    last_seq=max(plan.session.first_seq - 1, start.last_snapshot_seq),
                )
                needs = needs_of(persister.projections)
                for packed in capture_packed(path, plan, policy, needs, batch_frames=packed_frames):
                    await persister.send(packed)
                    await trio.lowlevel.checkpoint()
                    frames += packed.count
                    if progress is not None:
                        progress(path, packed.count, len(packed.raw))
            await persister.wait_idle()
        finally:
            await persister.aclose()
            nursery.cancel_scope.cancel()
    stats = persister.stats
    return ImportResult(len(paths), frames, stats.frames_written, stats.snapshots)
