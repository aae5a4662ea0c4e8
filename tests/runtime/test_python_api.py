"""The trio API as the README shows it, over real TCP to the simulator: ``open_tracker`` ->
``t.world`` by name, ``t.changes()`` (bounded, with ``FellBehind`` gaps a consumer recovers
from by re-reading ``t.world``), ``t.send`` / ``t.send_list`` with typed actions."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest
import trio

from tests.helpers import FIXTURES
from tracker.ami import FrameKind
from tracker.capture import iter_frames
from tracker.errors import ActionTimeoutError
from tracker.events.actions import (
    CoreShowChannelsAction,
    HangupAction,
    OriginateAction,
    PingAction,
    QueueStatusAction,
)
from tracker.events.base import AmiEvent, AmiResponse
from tracker.events.lists import QueueMember
from tracker.runtime import ChangeStream, FellBehind, open_tracker, run_simulator
from tracker.state import Change
from tracker.state.call import CallEnded, CallStarted
from tracker.state.channel import ChannelCreated, ChannelHungUp
from tracker.state.conference import ConferenceEnded, ParticipantLeft
from tracker.state.queue import QueueCallerJoined
from tracker.store import migrate, open_store
from tracker.store.reporting_query import call_records

from ._support import SECRET, USER, recorded_list, silent_ami, tcp_server, url


async def test_world_is_read_by_the_names_asterisk_uses() -> None:
    """``t.world.queues["sales"]``: queues are keyed by their name in queues.conf, as every
    queue event and list item spells it; members by interface, callers by Uniqueid."""
    items, _ = recorded_list("queue.ami", "lab-8")  # the capture's own QueueStatus answer
    sales_members = {
        f.get("StateInterface") or f.get("Location")
        for f in items
        if f.name == "QueueMember" and f.get("Queue") == "sales"
    }
    assert len(sales_members) == 3
    with trio.fail_after(30):
        async with (
            run_simulator(FIXTURES / "queue.ami", username=USER, secret=SECRET, speed=1) as sim,
            open_tracker(url(sim.port), keepalive=None) as t,
        ):
            assert set(t.world.queues) == {"sales", "support", "load"}
            assert set(t.world.queues["sales"].members) == sales_members
            async for change in t.changes():
                if isinstance(change, QueueCallerJoined):
                    # the next frame touching this caller is >= 1 s of paced replay away
                    callers = t.world.queues[change.queue].callers
                    assert change.uniqueid in callers
                    assert callers[change.uniqueid].channel == change.channel
                    break


async def test_conferences_by_room_name() -> None:
    joined = [
        f.get("Channel")
        for f in iter_frames(FIXTURES / "confbridge.ami")
        if f.kind is FrameKind.EVENT and f.name == "ConfbridgeJoin"
    ]
    assert len(joined) == 3
    with trio.fail_after(30):
        async with (
            run_simulator(
                FIXTURES / "confbridge.ami", username=USER, secret=SECRET, speed=2
            ) as sim,
            open_tracker(url(sim.port), keepalive=None) as t,
        ):
            # logged in and resynced while the three are in room 1000 (>= 1 s before a leave)
            room = t.world.conferences["1000"]
            assert sorted(p.channel for p in room.participants.values()) == sorted(map(str, joined))
            left = 0
            async for change in t.changes():
                if isinstance(change, ParticipantLeft):
                    left += 1
                elif isinstance(change, ConferenceEnded):
                    assert change.conference == "1000"
                    assert "1000" not in t.world.conferences
                    break
            assert left == 3


async def test_changes_is_every_change_in_order_when_kept_up_with() -> None:
    """A consumer that keeps up sees exactly what the lossless batch subscription sees."""
    with trio.fail_after(60):
        async with run_simulator(FIXTURES / "load.ami.gz", username=USER, secret=SECRET) as sim:
            async with open_tracker(url(sim.port), keepalive=None) as t:
                seen: list[Change | FellBehind] = []
                batches = t.subscribe(buffer=1_000_000)
                stream = t.changes(buffer=1_000_000)
                async with trio.open_nursery() as nursery:

                    async def consume() -> None:
                        async for item in stream:
                            seen.append(item)

                    nursery.start_soon(consume)
                    await sim.sessions[-1].stream_done.wait()
                    await t.wait_folded(t.client.next_seq - 1)
                    await t.aclose()  # ends both streams after what they hold
            expected = [c for b in [b async for b in batches] for c in b.changes]
    assert len(expected) > 1000  # the capture went on after the resync
    assert not [s for s in seen if isinstance(s, FellBehind)]
    assert seen == expected


async def test_slow_consumer_is_told_it_fell_behind_and_recovers_from_world(
    tmp_path: Path,
) -> None:
    """A consumer far slower than the PBX gets ``FellBehind`` items at the gaps, never stalls
    the fold, and ends with the same live channels and calls as ``t.world`` by re-reading it
    at each gap and applying the changes in between. The database (``db=``) lost nothing."""
    path = FIXTURES / "load.ami.gz"
    db = f"sqlite:///{tmp_path / 'calls.db'}"
    migrate.upgrade(db)
    channels: set[str] = set()
    calls: set[str] = set()
    gaps: list[FellBehind] = []
    delivered: list[Change] = []
    behind_world_seq: list[int] = []

    async def consume(stream: ChangeStream) -> None:
        async for item in stream:
            if isinstance(item, FellBehind):
                gaps.append(item)
                behind_world_seq.append(t.world.seq)
                channels.clear()
                channels.update(t.world.channels)
                calls.clear()
                calls.update(t.world.calls)
                continue
            delivered.append(item)
            if isinstance(item, ChannelCreated):
                channels.add(item.uniqueid)
            elif isinstance(item, ChannelHungUp):
                channels.discard(item.uniqueid)
            elif isinstance(item, CallStarted):
                calls.add(item.linkedid)
            elif isinstance(item, CallEnded):
                calls.discard(item.record.linkedid)
            await trio.sleep(0.0005)  # a slow consumer: every change costs it a wait

    with trio.fail_after(90):
        async with (
            run_simulator(path, username=USER, secret=SECRET) as sim,
            trio.open_nursery() as nursery,
        ):
            async with open_tracker(url(sim.port), keepalive=None, db=db, server="pbx1") as t:
                stream = t.changes(buffer=200)
                base = t.stats.changes
                channels.update(t.world.channels)
                calls.update(t.world.calls)
                nursery.start_soon(consume, stream)
                # stop mid-load, with calls up, so that the final comparison means something
                await t.wait_folded(24_000)
            # the tracker closed: the stream ends after what it holds (and a last gap)
            total = t.stats.changes - base
    assert gaps, "the slow consumer never fell behind"
    assert [g.last_seq for g in gaps] == behind_world_seq  # t.world was at last_seq, exactly
    assert len(delivered) + sum(g.lost_changes for g in gaps) == total  # every change counted
    assert t.stats.subscriber_overflows > 0
    # order: nothing of a gap's frames is delivered, nothing is delivered twice
    seqs = [c.seq for c in delivered]
    assert seqs == sorted(seqs)
    for gap in gaps:
        assert gap.first_seq <= gap.last_seq
        assert not [s for s in seqs if gap.first_seq <= s <= gap.last_seq]
    assert t.world.calls and t.world.channels  # stopped mid-load: calls are up
    assert channels == set(t.world.channels)
    assert calls == set(t.world.calls)
    with open_store(db) as store, store.engine.connect() as conn:
        assert store.server("pbx1").next_seq == t.last_seq + 1  # every frame folded is stored
        stored = [c.linkedid for c in call_records(conn, server="pbx1")]
    assert len(stored) == len(set(stored)) == t.stats.calls_ended


async def test_a_stream_left_with_break_unsubscribes() -> None:
    with trio.fail_after(30):
        async with (
            run_simulator(FIXTURES / "load.ami.gz", username=USER, secret=SECRET) as sim,
            open_tracker(url(sim.port), keepalive=None) as t,
        ):
            with t.changes() as changes:
                assert len(t._subscribers) == 1
                async for _ in changes:
                    break
            assert len(t._subscribers) == 0
            async for _ in t.changes():  # no ``with``: dropped with its last reference
                break
            gc.collect()
            assert len(t._subscribers) == 0
            await sim.sessions[-1].stream_done.wait()
    with pytest.raises(ValueError, match="at least one"):
        t.changes(buffer=0)
    assert [c async for c in t.changes()] == []  # a closed tracker's stream is over


async def test_send_typed_actions_answered_by_action_id() -> None:
    """``t.send(OriginateAction(...))`` and friends over the tracker's own session: each answer
    is matched to its action by ActionID, even when sent concurrently."""
    with trio.fail_after(30):
        async with (
            run_simulator(FIXTURES / "queue.ami", username=USER, secret=SECRET) as sim,
            open_tracker(url(sim.port), keepalive=None) as t,
        ):
            originate = OriginateAction(
                channel="Local/201@phones",
                context="lab",
                exten="600",
                priority="1",
                caller_id='"Caller" <201>',
                timeout="30000",
                async_="true",
                action_id="my-originate-1",
            )
            answers: dict[str, AmiResponse] = {}
            lists: dict[str, tuple[AmiResponse, list[AmiEvent]]] = {}
            async with trio.open_nursery() as nursery:

                async def ask(key: str, action: object) -> None:
                    answers[key] = await t.send(action)

                async def ask_list(key: str, action: object) -> None:
                    lists[key] = await t.send_list(action)

                nursery.start_soon(ask, "originate", originate)
                nursery.start_soon(ask, "ping", PingAction())
                nursery.start_soon(ask_list, "queues", QueueStatusAction(queue="sales"))
                nursery.start_soon(ask_list, "channels", CoreShowChannelsAction())
                nursery.start_soon(ask, "unknown", ("NoSuchAction", {"Foo": "bar"}))
                nursery.start_soon(ask, "hangup", HangupAction(channel="Local/nobody"))
            session = sim.sessions[-1]
    originated = answers["originate"]
    assert originated.ok
    assert originated.message == "Originate successfully queued"
    assert originated.action_id == "my-originate-1"
    assert answers["ping"].ok
    response, items = lists["queues"]
    assert response.ok
    assert response.event_list == "start"
    members = [i for i in items if isinstance(i, QueueMember)]
    assert members
    assert {m.queue for m in members} == {"sales"}
    assert all(i.action_id == response.action_id for i in items)
    assert lists["channels"][0].ok
    assert not answers["unknown"].ok
    assert answers["hangup"].response in ("Success", "Error")
    everyone = [*answers.values(), *(r for r, _ in lists.values())]
    assert len({a.action_id for a in everyone}) == 6
    for name in ("Originate", "Ping", "QueueStatus", "CoreShowChannels", "NoSuchAction", "Hangup"):
        assert name in session.actions


async def test_send_is_bounded_by_time_limit() -> None:
    """A server that stops answering: ``send`` raises ``ActionTimeoutError`` after
    ``time_limit`` (and the tracker goes on)."""
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            port = await tcp_server(nursery, silent_ami)
            async with open_tracker(url(port), keepalive=None, resync=False, action_timeout=1) as t:
                with pytest.raises(ActionTimeoutError, match="Ping"):
                    await t.send(PingAction(), time_limit=0.5)
                assert t.client.connected
            nursery.cancel_scope.cancel()
