"""Gaps between sessions with frames lost (SQLite, PostgreSQL, real TCP to the simulator).

The simulator drops the connection at 20 random points of ``load.ami.gz`` and withholds the
frames Asterisk sent while the tracker was away (``lost``), then resumes after them: what the
tracker records is compared with an uninterrupted fold of the same capture. Only the capture's
events are streamed (``events_only``): the list answers the capture's own client received would
never reach another client, and a lost range could cut one in two.
"""

from __future__ import annotations

import bisect
import logging
import random
import re
from collections import Counter
from pathlib import Path
from typing import NamedTuple

import msgspec
import pytest

from tests.helpers import FIXTURES
from tracker.ami import FrameKind
from tracker.replay import replay
from tracker.runtime.script import CaptureScript, load_script
from tracker.runtime.tracker import Tracker
from tracker.state import encode_world
from tracker.state.call import Call
from tracker.state.gap import Gap
from tracker.state.world import World
from tracker.store import SessionRow, StoredFrame, load_call_records, load_gaps, open_store

from .test_service_db import run_through_drops

DROPS = 20
OFFSET = 2
"""The replay numbers stream frame ``i`` as seq ``i + 2`` (the banner and login response)."""


@pytest.fixture(autouse=True)
def spill_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))


def lossy_gaps(script: CaptureScript, seed: int) -> list[tuple[int, int]]:
    """``DROPS`` (first lost stream index, frames lost), one in each twentieth of the stream,
    of random place and length (a quarter to nine tenths of it: ~1 to 4 s of the capture)."""
    rng = random.Random(seed)
    size = len(script.stream) // DROPS
    out = []
    for k in range(DROPS):
        length = rng.randrange(size // 4, size * 9 // 10)
        out.append((rng.randrange(k * size + 1, (k + 1) * size - length), length))
    return out


def _comparable(record: Call) -> dict[str, object]:
    data = msgspec.to_builtins(record)
    assert isinstance(data, dict)
    return {k: v for k, v in data.items() if "seq" not in k}


def _timestamps(script: CaptureScript) -> list[float | None]:
    out: list[float | None] = []
    for frame in script.stream:
        stamp = frame.get("Timestamp") if frame.kind is FrameKind.EVENT else None
        out.append(None if stamp is None else float(stamp))
    return out


class Run(NamedTuple):
    script: CaptureScript
    holes: list[tuple[int, int]]
    lost: set[int]
    tracker: Tracker
    sessions: list[SessionRow]
    stored: list[StoredFrame]
    next_seq: int
    records: dict[str, Call]
    gaps: list[Gap]
    replayed: World


async def lossy_run(store_url: str, script: CaptureScript, holes: list[tuple[int, int]]) -> Run:
    """Serve ``script`` losing the frames of ``holes`` (a drop at each) to a service writing
    into ``store_url``; what the database holds then."""
    lost = {i for start, length in holes for i in range(start, start + length)}
    # a drop is given as the count of frames streamed before it
    sent = [i for i, f in enumerate(script.stream) if f.kind is FrameKind.EVENT and i not in lost]
    drops = [bisect.bisect_left(sent, start) for start, _ in holes]
    tracker = await run_through_drops(script, store_url, drops, lost=lost, events_only=True)
    assert tracker.stats.sessions == len(holes) + 1
    with open_store(store_url) as store:
        server = store.server("pbx")
        return Run(
            script=script,
            holes=holes,
            lost=lost,
            tracker=tracker,
            sessions=store.sessions(server.id),
            stored=list(store.iter_frames("pbx")),
            next_seq=server.next_seq,
            records={r.linkedid: r for r in load_call_records(store, server="pbx")},
            gaps=load_gaps(store, server="pbx"),
            replayed=store.world_at("pbx").world,
        )


def check(run: Run) -> int:
    """Every assertion on a lossy run against an uninterrupted fold; returns the number of
    queue calls hidden in gaps that the queue counters accounted for."""
    script, holes, lost, tracker = run.script, run.holes, run.lost, run.tracker
    sessions, stored, records, gaps = run.sessions, run.stored, run.records, run.gaps

    # the log: every seq once, and one gap marker per drop at the next session's banner
    assert [f.seq for f in stored] == list(range(run.next_seq))
    assert len(sessions) == len(holes) + 1
    assert [g.seq for g in gaps] == [s.first_seq for s in sessions[1:]]
    assert [g.session for g in gaps] == [s.id for s in sessions[1:]]
    assert all(g.last_seq == g.seq - 1 for g in gaps)
    banners = [f.seq for f in stored if f.frame.kind is FrameKind.BANNER]
    assert banners == [s.first_seq for s in sessions]
    # its time range: the last event time before the drop to the first one after it
    times = _timestamps(script)
    for gap, (start, length) in zip(gaps, holes, strict=True):
        before = max(t for i, t in enumerate(times[:start]) if t is not None and i not in lost)
        after = next(t for t in times[start + length :] if t is not None)
        assert gap.since == pytest.approx(before, abs=1e-6)
        assert gap.until == pytest.approx(after, abs=1e-6)
        assert gap.seconds == pytest.approx(after - before, abs=1e-6)
    # replay of the stored log gives the live World, gap included
    assert run.replayed.gap is not None
    assert encode_world(run.replayed) == encode_world(tracker.world)

    # the records against an uninterrupted fold
    whole = {r.linkedid: r for r in replay(FIXTURES / "load.ami.gz").call_records}
    assert records.keys() <= whole.keys()

    def meets(r: Call, start: int, length: int) -> bool:
        return r.first_seq - OFFSET < start + length and r.last_seq - OFFSET >= start

    def hole_of(index: int) -> int | None:
        return next((k for k, (s, n) in enumerate(holes) if s <= index < s + n), None)

    traced = {
        value
        for f in stored
        for key in ("Uniqueid", "DestUniqueid", "Linkedid")
        if (value := f.frame.get(key))
    }
    cut = {k for k, r in whole.items() if any(meets(r, *h) for h in holes)}
    # the calls without a record are exactly those that left no trace in the stored log: they
    # began and ended while the tracker was away (in one gap, or in two with a session between
    # them too short to resync and without an event of theirs)
    hidden = {k: hole_of(r.last_seq - OFFSET) for k, r in whole.items() if not set(r.legs) & traced}
    assert whole.keys() - records.keys() == hidden.keys()
    assert all(hole_of(whole[k].first_seq - OFFSET) is not None for k in hidden)
    assert None not in hidden.values()
    # calls that met a gap are flagged; the others are exactly the uninterrupted records
    assert {k for k, r in records.items() if r.gap} == cut - hidden.keys()
    for k, r in records.items():
        if not r.gap:
            assert _comparable(r) == _comparable(whole[k])
    assert sum(g.calls_cut + g.joined_unseen for g in gaps) >= len(cut - hidden.keys())
    # a recorded call whose last frame was lost ended unseen: a resync found it gone (so did
    # a call whose other channels hung up after the reconnect but before the resync's list)
    ended_in_gap = {k for k in records if hole_of(whole[k].last_seq - OFFSET) is not None}
    closed = {k for k, r in records.items() if r.ended_while_disconnected}
    assert ended_in_gap <= closed
    assert len(ended_in_gap) <= sum(g.ended_unseen for g in gaps) <= len(closed)

    # Asterisk's Uniqueid counter: the channels that came and went unseen, all of them
    met = {uid for r in records.values() for uid in r.legs} | set(tracker.world.channels)
    unseen = {uid for r in whole.values() for uid in r.legs} - met
    assert {uid for k in hidden for uid in whole[k].legs} <= unseen
    assert sum(g.channels_unseen or 0 for g in gaps) == len(unseen)

    # queue calls hidden in gaps: a gap's queue counters account for every gap since the
    # counters were last read (a resync may have been cut short); gaps before they were first
    # read cannot be accounted
    first_read = next(f.seq for f in stored if f.frame.name == "QueueParams")
    window: list[int] = []
    accounted = 0
    for index, gap in enumerate(gaps):
        if gap.seq < first_read:
            continue
        window.append(index)
        if not gap.queues:
            continue
        (q,) = gap.queues
        assert q.queue == "load"
        finished = Counter(
            passage.outcome
            for k, i in hidden.items()
            if i in window and (passage := whole[k].queue) is not None
        )
        lost_events = Counter(
            script.stream[i].name
            for i in lost
            if any(holes[w][0] <= i < sum(holes[w]) for w in window)
            and script.stream[i].get("Queue") == "load"
        )
        assert q.completed == lost_events["AgentComplete"]
        assert q.abandoned == lost_events["QueueCallerAbandon"]
        # the calls that lived inside: at most ``unrecorded`` (a recorded caller that left the
        # queue unseen in an earlier gap is not known to be one of the counted)
        inside = finished["answered"] + finished["abandoned"]
        assert inside <= q.unrecorded <= q.completed + q.abandoned
        assert set(finished) <= {"answered", "abandoned"}
        accounted += inside
        window = []
    return accounted


async def test_twenty_lossy_drops_flag_what_they_cut_and_account_for_what_they_hid(
    store_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="tracker.runtime.service")
    script = load_script(FIXTURES / "load.ami.gz")
    run = await lossy_run(store_url, script, lossy_gaps(script, seed=9))
    check(run)
    # the service says what each gap did when the next session is resynced
    said = [r.getMessage() for r in caplog.records if "after a gap of" in r.getMessage()]
    assert said and all(re.search(r"\d+ calls cut, \d+ ended unseen", m) for m in said)
    assert sum(g.seconds for g in run.gaps) > 20
    assert len(run.records) < 300  # some calls lived entirely inside gaps
    assert sum(r.gap for r in run.records.values()) > 200


async def test_a_long_outage_hides_queue_calls_and_the_counters_account_for_them(
    store_url: str,
) -> None:
    """One drop losing 30 % of the capture, at a random point after the queue's counters were
    first read (the simulator answers the first session's QueueStatus where the capture
    recorded one, mid-run): queue calls live and end inside the gap."""
    script = load_script(FIXTURES / "load.ami.gz")
    size = len(script.stream)
    start = random.Random(5).randrange(size // 2, size // 2 + size // 10)
    run = await lossy_run(store_url, script, [(start, size * 3 // 10)])
    assert check(run) >= 3
    (gap,) = run.gaps
    assert gap.seconds > 15
    assert (gap.channels_unseen or 0) > 20


def test_gap_records_roundtrip_on_an_empty_store(store_url: str) -> None:
    with open_store(store_url) as store:
        assert load_gaps(store) == []
    assert Gap(session=2, seq=10, last_seq=9, since=5.0).seconds == 0.0
