"""The live Tracker over real TCP against the capture simulator: live == replay, resync,
reconnect, slow subscribers."""

from __future__ import annotations

import random
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import msgspec
import pytest
import trio

from tests.helpers import FIXTURES
from tracker.ami import Frame, FrameKind
from tracker.capture import iter_frames, read_bytes
from tracker.errors import AuthenticationError
from tracker.events.actions import CoreShowChannelsAction, QueueStatusAction
from tracker.replay import replay
from tracker.runtime import AmiClient, AmiSimulator, connect, run_simulator
from tracker.runtime.script import load_script
from tracker.runtime.tracker import ChangeBatch, Subscription, Tracker, open_tracker
from tracker.state import Change, encode_world
from tracker.state.call import Call, CallEnded
from tracker.state.world import ListReconciled

from ._support import SECRET, USER, served_through_drops, url

RESYNC_ORDER = [
    "CoreShowChannels",
    "BridgeList",
    "QueueStatus",
    "ConfbridgeListRooms",
    "ParkedCalls",
]


def _recorded(name: str, action_id: str, event: str) -> list[Frame]:
    """List items the capture recorded in answer to ``action_id`` (the ground truth)."""
    return [
        f
        for f in iter_frames(FIXTURES / name)
        if f.kind is FrameKind.LIST_ITEM and f.action_id == action_id and f.name == event
    ]


def _values(frames: list[Frame], header: str) -> set[str]:
    return {v for f in frames if (v := f.get(header))}


async def _collect(sub: Subscription, into: list[ChangeBatch]) -> None:
    async for batch in sub:
        into.append(batch)


def _changes(batches: list[ChangeBatch]) -> list[Change]:
    return [c for b in batches for c in b.changes]


def _records(batches: list[ChangeBatch]) -> list[Call]:
    return [c.record for c in _changes(batches) if isinstance(c, CallEnded)]


@asynccontextmanager
async def _running(tracker: Tracker, *, wait: bool = True) -> AsyncIterator[list[ChangeBatch]]:
    """Run ``tracker`` with a large subscriber attached before connecting; log off at exit.
    ``wait``: enter once logged in and synced (else at once)."""
    batches: list[ChangeBatch] = []
    async with trio.open_nursery() as nursery:
        sub = tracker.subscribe(buffer=1_000_000)
        nursery.start_soon(_collect, sub, batches)
        if wait:
            await nursery.start(tracker.run)
        else:
            nursery.start_soon(tracker.run)
        yield batches
        await tracker.aclose()


@pytest.mark.parametrize("name", ["basic.ami", "queue.ami", "transfers.ami", "load.ami.gz"])
async def test_live_fold_equals_replay(name: str) -> None:
    """The same bytes folded live over TCP and offline give the identical World and records.

    Nothing needs normalising: the simulator sends the capture's frames byte for byte after
    its own login answer (which folds like the capture's), the session ends with our Logoff's
    Goodbye (the capture ends with its own), and the tracker hands the fold the local receive
    time only in sessions whose live events carry no Timestamp -- these all do, so, as in
    replay, only Asterisk's Timestamps move the clock. Resync is off here because its answers
    are extra frames (they shift every later seq); resync is tested below.
    """
    expected = replay(FIXTURES / name)
    with trio.fail_after(45):
        async with run_simulator(FIXTURES / name, username=USER, secret=SECRET) as sim:
            client = AmiClient(url(sim.port), keepalive=None)
            tracker = Tracker(client, resync=False)
            async with _running(tracker) as batches:
                await sim.connected.wait()
                await sim.sessions[0].stream_done.wait()
    assert tracker.stats.frames == expected.events
    assert tracker.stats.subscriber_overflows == 0
    assert encode_world(tracker.world) == encode_world(expected.world)
    records = _records(batches)
    assert len(records) == expected.world.calls_ended > 0
    assert msgspec.to_builtins(records) == msgspec.to_builtins(expected.call_records)
    assert sum(len(b.changes) for b in batches) == tracker.stats.changes
    assert sum(expected.changes.values()) == tracker.stats.changes


async def test_resync_seeds_late_joiner_state_from_list_answers() -> None:
    """``reconnect.late.ami`` joined while calls were up. Streaming only its live events,
    everything the tracker knows after sync comes from its own resync queries, answered by
    the simulator from the capture's recorded lists (the ground truth compared against)."""
    name = "reconnect.late.ami"
    channels = _values(_recorded(name, "B-2", "CoreShowChannel"), "Uniqueid")
    bridges = _values(_recorded(name, "B-3", "BridgeListItem"), "BridgeUniqueid")
    members = _recorded(name, "B-4", "QueueMember")
    participants = _values(_recorded(name, "B-6", "ConfbridgeList"), "Channel")
    assert len(channels) == 12 and len(bridges) == 3 and members and len(participants) == 2
    with trio.fail_after(20):
        async with (
            # recorded pace: the first live event after login comes 1 s later
            run_simulator(
                FIXTURES / name, username=USER, secret=SECRET, events_only=True, speed=1.0
            ) as sim,
            open_tracker(url(sim.port), keepalive=None) as tracker,
        ):
            assert tracker.synced.is_set()
            world = tracker.snapshot()
            sent = list(sim.sessions[0].actions)
            streamed = sim.sessions[0].streamed
    assert streamed == 2  # FullyBooted, SuccessfulAuth: no live call event folded yet
    assert set(world.channels) == channels
    assert set(world.bridges) == bridges
    for m in members:
        queue = world.queues[m.get("Queue") or ""]
        assert m.get("Location") in queue.members
    conference = world.conferences["1000"]
    assert {p.channel for p in conference.participants.values()} == participants
    # the queries in order (pipelined), plus one follow-up per listed bridge and room
    assert [a for a in sent if a in RESYNC_ORDER] == RESYNC_ORDER
    assert sorted(a for a in sent if a == "BridgeInfo") == ["BridgeInfo"] * len(bridges)
    assert sent.count("ConfbridgeList") == 1
    report = tracker.stats.last_resync
    assert report is not None
    assert set(report.bridges) == bridges and report.rooms == ["1000"]
    assert tracker.stats.resyncs == 1
    # BridgeInfo and ParkedCalls were not recorded: answered with Error, still "answered"
    assert tracker.stats.resync_errors == len(bridges) + 1


async def test_reconnect_resyncs_and_closes_vanished_channels() -> None:
    """Session 1 (``reconnect.ami``) is dropped mid-call; the tracker reconnects to the same
    address, now served by ``reconnect.late.ami``, resyncs, and closes as "ended while
    disconnected" the channels the new session's CoreShowChannels does not list."""
    listed = _values(_recorded("reconnect.late.ami", "B-2", "CoreShowChannel"), "Uniqueid")
    sim_a = AmiSimulator(FIXTURES / "reconnect.ami", username=USER, secret=SECRET, drop_after=300)
    serving_a = trio.CancelScope()

    async def serve_a(*, task_status: trio.TaskStatus[int]) -> None:
        with serving_a:
            await sim_a.serve(task_status=task_status)

    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            port: int = await nursery.start(serve_a)
            client = AmiClient(url(port), keepalive=None, backoff_initial=0.5)
            tracker = Tracker(client)
            # the drop may come before the first resync is answered: do not wait for it
            async with _running(tracker, wait=False) as batches:
                await sim_a.connected.wait()
                await sim_a.sessions[0].done.wait()
                serving_a.cancel()  # free the port before the reconnect
                await tracker.wait_folded(client.stats.frames - 1)
                before = set(tracker.world.channels)
                vanished = before - listed
                assert vanished, "the drop point must leave channels the new session lacks"
                async with run_simulator(
                    FIXTURES / "reconnect.late.ami",
                    port=port,
                    username=USER,
                    secret=SECRET,
                    events_only=True,
                    speed=4.0,
                ) as sim_b:
                    await tracker.wait_synced(2)
                    assert tracker.synced.is_set()  # the second session's Event
                    after_sync = set(tracker.world.channels)
                    await sim_b.sessions[-1].stream_done.wait()
                    await trio.sleep(0.05)
    assert sim_a.sessions[0].closed_by == "server"
    assert after_sync == listed
    assert tracker.stats.sessions == 2 and tracker.stats.disconnects == 1
    assert client.stats.sessions == 2
    reconciled = [
        c for c in _changes(batches) if isinstance(c, ListReconciled) and c.kind == "channels"
    ]
    assert any(set(c.closed) == vanished for c in reconciled)
    assert any(r.ended_while_disconnected for r in _records(batches))
    assert tracker.world.channels == {}
    assert tracker.world.bridges == {}


async def test_slow_subscriber_never_stalls_the_fold() -> None:
    expected = replay(FIXTURES / "queue.ami")
    with trio.fail_after(30):
        async with run_simulator(FIXTURES / "queue.ami", username=USER, secret=SECRET) as sim:
            client = AmiClient(url(sim.port), keepalive=None)
            tracker = Tracker(client, resync=False, max_batch=8)
            slow = tracker.subscribe(buffer=1)  # never read until the end
            async with _running(tracker) as batches:
                await sim.connected.wait()
                await sim.sessions[0].stream_done.wait()
            late = [b async for b in slow]
    assert client.stats.overflows == 0  # the reader never overflowed
    assert tracker.stats.frames == expected.events
    assert encode_world(tracker.world) == encode_world(expected.world)
    assert slow.dropped > 0
    assert tracker.stats.subscriber_overflows == slow.dropped
    assert len(late) == 1  # the one batch its buffer held
    assert sum(len(b.changes) for b in batches) == tracker.stats.changes  # others lost nothing
    assert len(batches) == slow.dropped + 1


async def test_open_tracker_refused_login_raises() -> None:
    with trio.fail_after(10):
        async with run_simulator(FIXTURES / "basic.ami", username=USER, secret=SECRET) as sim:
            with pytest.raises(AuthenticationError):
                async with open_tracker(url(sim.port, secret="wrong"), keepalive=None):
                    pass  # pragma: no cover


async def test_recorded_answer_is_served_at_its_point_of_the_capture() -> None:
    """``load.ami.gz`` recorded CoreShowChannels mid-run: asked at the start, the simulator
    answers once its stream has passed that point (right after the capture's own copy), so
    a resync never takes a mid-run list for the state at the start."""
    path = FIXTURES / "load.ami.gz"
    recorded = [
        f for f in iter_frames(path) if f.name == "CoreShowChannelsComplete" and f.action_id
    ]
    assert len(recorded) == 1
    with trio.fail_after(30):
        async with (
            run_simulator(path, username=USER, secret=SECRET) as sim,
            connect(url(sim.port), keepalive=None) as client,
        ):
            answer = await client.request(CoreShowChannelsAction())
            assert answer.complete is not None
            seen: list[Frame] = []
            async for received in client.events():
                seen.append(received.frame)
                if received.frame is answer.complete:
                    break
    names = [(f.name, f.action_id) for f in seen]
    own = names.index(("CoreShowChannelsComplete", recorded[0].action_id))
    ours = names.index(("Success", answer.action_id))
    assert own < ours
    assert len(answer.items) == int(recorded[0].get("ListItems") or -1)
    assert sim.sessions[0].position > 0


async def test_far_future_answer_is_for_now_when_paced() -> None:
    """At the recorded pace the mid-run lists are ~30 s away: CoreShowChannels and QueueStatus
    are answered at once with what is live at this point (the queue's counters at zero)."""
    with trio.fail_after(10):
        async with (
            run_simulator(FIXTURES / "load.ami.gz", username=USER, secret=SECRET, speed=1) as sim,
            connect(url(sim.port), keepalive=None) as client,
        ):
            answer = await client.request(QueueStatusAction(), time_limit=3)
            channels = await client.request(CoreShowChannelsAction(), time_limit=3)
    assert answer.ok and answer.complete is not None
    (params,) = [f for f in answer.items if f.name == "QueueParams"]
    assert (params.get("Queue"), params.get("Completed"), params.get("Abandoned")) == (
        "load",
        "0",
        "0",
    )
    assert channels.ok and channels.complete is not None
    assert len(channels.items) == int(channels.complete.get("ListItems") or -1) < 220


async def test_receive_time_drives_the_clock_without_timestamps(tmp_path: Path) -> None:
    """``timestampevents = no``: live events carry no Timestamp, so the fold's clock follows
    the local receive time instead of standing still."""
    raw = re.sub(rb"\r\nTimestamp: [0-9.]+", b"", read_bytes(FIXTURES / "basic.ami"))
    assert b"Timestamp:" not in raw
    capture = tmp_path / "untimed.ami"
    capture.write_bytes(raw)
    with trio.fail_after(20):
        async with run_simulator(capture, username=USER, secret=SECRET) as sim:
            tracker = Tracker(AmiClient(url(sim.port), keepalive=None), resync=False)
            async with _running(tracker) as batches:
                await sim.connected.wait()
                await sim.sessions[0].stream_done.wait()
    assert abs(tracker.world.clock - time.time()) < 60
    (record,) = _records(batches)
    assert record.end is not None and abs(record.end - time.time()) < 60
    assert record.duration >= 0


async def test_aclose_before_the_first_login_stops_run_cleanly() -> None:
    """A real listening socket that never answers: ``aclose`` while the client waits for the
    banner (and again while it backs off) ends ``run`` without an error."""
    listener = (await trio.open_tcp_listeners(0, host="127.0.0.1"))[0]
    port = listener.socket.getsockname()[1]
    async with listener:
        for pause in (0.2, 1.5):  # waiting for the banner; then in a reconnect backoff
            tracker = Tracker(AmiClient(url(port), keepalive=None, connect_timeout=1.0))
            with trio.fail_after(20):
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(tracker.run)
                    await trio.sleep(pause)
                    await tracker.aclose()
            assert tracker.closed.is_set()
            assert not tracker.client.session_started.is_set()
            assert tracker.stats.frames == 0


def _comparable(record: Call) -> dict[str, object]:
    """A call record without the frame numbers (each reconnection adds its own frames) and the
    gap flag (checked on its own)."""
    data = msgspec.to_builtins(record)
    assert isinstance(data, dict)
    return {k: v for k, v in data.items() if "seq" not in k and k != "gap"}


async def test_twenty_drops_reconnect_resync_and_keep_every_call_record() -> None:
    """The simulator drops the connection at 20 random points of ``load.ami.gz`` and resumes
    the stream there on the next connection: the tracker reconnects (backoff), resyncs each
    time, and ends with the call records of an uninterrupted fold."""
    expected = replay(FIXTURES / "load.ami.gz")
    script = load_script(FIXTURES / "load.ami.gz")
    drops = sorted(random.Random(20).sample(range(1, len(script.stream)), 20))
    with trio.fail_after(120):
        async with run_simulator(script, username=USER, secret=SECRET, drops=drops) as sim:
            client = AmiClient(url(sim.port), keepalive=None, backoff_initial=0.01, backoff_max=0.1)
            tracker = Tracker(client)
            async with _running(tracker) as batches:
                await served_through_drops(sim)
    assert tracker.stats.sessions == 21 and tracker.stats.disconnects == 20
    # each connection starts a resync (a drop may cut it short: the next one redoes it)
    started = [s.actions[0] for s in sim.sessions if s.actions]
    assert started and set(started) == {"CoreShowChannels"}
    assert sim.sessions[-1].actions[0] == "CoreShowChannels"
    assert 1 <= tracker.stats.resyncs <= 21
    records = {r.linkedid: _comparable(r) for r in _records(batches)}
    wanted = {r.linkedid: _comparable(r) for r in expected.call_records}
    assert records.keys() == wanted.keys()
    assert records == wanted
    # the tracker cannot know that nothing was lost: a call up at a drop lived through a gap
    # (the replay numbers stream frame i as seq i + 2: the banner and login response first)
    cut = {
        r.linkedid
        for r in expected.call_records
        if any(r.first_seq < d + 2 <= r.last_seq for d in drops)
    }
    assert 0 < len(cut) < len(records)
    assert {r.linkedid for r in _records(batches) if r.gap} == cut
