"""Periodic reconciliation while connected, the simulator's channel census, and the first
connect timeout, over real TCP.

Lost ``Hangup`` events used to leave zombie channels and phantom calls for the whole session
(only a reconnect's resync cleared them). Here the simulator withholds every 10th ``Hangup`` of
several copies of ``load.ami.gz`` (fault injection: the census it answers ``CoreShowChannels``
from still follows them, as Asterisk would), and the tracker's periodic ``CoreShowChannels``
must bring the state back to what the PBX has.
"""

from __future__ import annotations

import dataclasses
import inspect
import socket
from pathlib import Path

import pytest
import trio

from tests.helpers import FIXTURES
from tracker.ami import AmiConnection, Frame
from tracker.capture import read_bytes
from tracker.errors import ConnectTimeoutError
from tracker.events.actions import CoreShowChannelsAction
from tracker.runtime import AmiClient, connect, run_simulator
from tracker.runtime.census import ChannelCensus
from tracker.runtime.copies import CopyShift
from tracker.runtime.script import load_script
from tracker.runtime.tracker import Tracker, open_tracker
from tracker.state import Change
from tracker.state.call import CallEnded
from tracker.state.channel import ChannelHungUp
from tracker.state.world import ListReconciled

from ._support import SECRET, USER, url


def _copies(tmp_path: Path, n: int) -> Path:
    """``n`` copies of load.ami.gz's stream in one session, each moved on in time with its own
    Uniqueids, Linkedids and bridge ids (``tracker.runtime.copies``, as the simulator's
    ``copies=`` does)."""
    raw = read_bytes(FIXTURES / "load.ami.gz")
    shift = CopyShift(load_script(FIXTURES / "load.ami.gz").stream)
    login = raw.index(b"Message: Authentication accepted\r\n\r\n") + 36
    goodbye = raw.rindex(b"Response: Goodbye\r\n")
    head, body, tail = raw[:login], raw[login:goodbye], raw[goodbye:]
    path = tmp_path / f"load-x{n}.ami"
    path.write_bytes(b"".join([head, *(shift(body, k) for k in range(n)), tail]))
    return path


def _lost_hangups(stream: tuple[Frame, ...], every: int) -> dict[int, str]:
    """Stream index -> Uniqueid of every ``every``-th Hangup (deterministic)."""
    hangups = [(i, f.get("Uniqueid") or "") for i, f in enumerate(stream) if f.name == "Hangup"]
    return dict(hangups[::every])


@dataclasses.dataclass
class _Outcome:
    tracker: Tracker
    changes: list[Change]
    channels: set[str]
    """Channels in the fold once every frame was folded."""
    calls: set[str]
    truth: set[str]
    """Channels the PBX (the simulator's census) had then."""


async def _serve(path: Path, lost: dict[int, str], interval: float | None) -> _Outcome:
    """Serve ``path`` to a tracker, withholding the ``lost`` frames. Once the stream was sent
    (and, with ``interval``, two more reconciles were answered), compare the fold's channels
    with the census."""
    changes: list[Change] = []
    script = load_script(path)
    async with run_simulator(
        script, username=USER, secret=SECRET, lost=lost, events_only=True
    ) as sim:
        client = AmiClient(url(sim.port), keepalive=None)
        tracker = Tracker(client, reconcile_interval=interval)
        sub = tracker.subscribe(buffer=1_000_000)

        async def collect() -> None:
            async for batch in sub:
                changes.extend(batch.changes)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(collect)
            await nursery.start(tracker.run)
            session = sim.sessions[0]
            await session.stream_done.wait()
            if interval:
                done = tracker.stats.reconciles
                for _ in range(10_000):  # the tracker's own reconciles, not ours
                    if tracker.stats.reconciles >= done + 2:
                        break
                    await trio.sleep(interval / 4)
            await client.send("Ping")  # answered after every frame sent before it
            await tracker.wait_folded(client.stats.frames - 1)
            world = tracker.world
            channels, calls = set(world.channels), set(world.calls)
            census = sim._census(session)
            truth = set(census.live)
            await tracker.aclose()
    return _Outcome(tracker, changes, channels, calls, truth)


@pytest.fixture(scope="module")
def three(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _copies(tmp_path_factory.mktemp("reconcile"), 3)


async def test_periodic_reconcile_closes_channels_whose_hangup_was_lost(three: Path) -> None:
    lost = _lost_hangups(load_script(three).stream, 10)
    assert len(lost) > 300
    with trio.fail_after(120):
        out = await _serve(three, lost, 0.25)
    stats = out.tracker.stats
    # converged to what the PBX has (the capture ends with no channel up)
    assert out.truth == set()
    assert out.channels == out.truth
    assert out.calls == set()
    assert stats.reconciles >= 3 and stats.reconcile_failures == 0
    periodic = [c for c in out.changes if type(c) is ListReconciled and c.periodic]
    assert len(periodic) == stats.reconciles
    # exactly the channels whose Hangup was lost were closed by a list, nothing else: by the
    # session's first list (the resync's, answered where copy 1 recorded it: "ended while
    # disconnected") or, after it, by the periodic ones ("reconciled")
    by_list = [
        c
        for c in out.changes
        if type(c) is ChannelHungUp and (c.reconciled or c.ended_while_disconnected)
    ]
    assert sorted(c.uniqueid for c in by_list) == sorted(lost.values())
    reconciled = [c for c in by_list if c.reconciled]
    assert len(reconciled) > len(lost) * 2 / 3
    first = next(c for c in out.changes if type(c) is ListReconciled)
    assert not first.periodic
    assert all(c.seq == first.seq for c in by_list if c.ended_while_disconnected)
    # the calls they ended say so; every other call ended by its own hangups
    records = [c.record for c in out.changes if type(c) is CallEnded]
    closed_calls = {c.linkedid for c in reconciled}
    assert {r.linkedid for r in records if r.reconciled} == closed_calls
    assert len(records) == out.tracker.world.calls_ended


async def test_without_reconcile_the_zombies_stay(three: Path) -> None:
    """The failure the reconciliation fixes: the same stream with no periodic list."""
    lost = _lost_hangups(load_script(three).stream, 10)
    with trio.fail_after(120):
        out = await _serve(three, lost, None)
    assert out.truth == set()
    # every channel whose Hangup was lost after the session's first list (the resync's,
    # answered mid-copy 1) is still "up"
    assert out.channels <= set(lost.values())
    assert len(out.channels) > len(lost) * 3 / 4
    assert out.calls and len(out.calls) <= len(out.channels)


async def test_census_matches_the_list_asterisk_recorded() -> None:
    """The census at the point where load.ami.gz recorded a CoreShowChannels answer lists the
    same channels with the same snapshot, but for the newest channels whose events Asterisk
    sent only after the list, and Duration (Asterisk counts to the moment of the list)."""
    script = load_script(FIXTURES / "load.ami.gz")
    (recorded,) = script.answers["coreshowchannels"]
    start = next(i for i, f in enumerate(script.stream) if f is recorded.frames[0])
    census = ChannelCensus(script.stream)
    census.advance(start)
    conn = AmiConnection()
    conn.receive_data(b"Asterisk Call Manager/11.0.0\r\n" + census.answer("x"))
    ours = {f.get("Uniqueid"): f for f in conn if f.name == "CoreShowChannel"}
    theirs = {f.get("Uniqueid"): f for f in recorded.frames if f.name == "CoreShowChannel"}
    assert len(theirs) == 220
    assert set(ours) <= set(theirs)
    late = set(theirs) - set(ours)
    assert len(late) <= 2  # created as the list was taken: its Newchannel came after it
    differing = set()
    for uid, item in ours.items():
        mine = [(k, v) for k, v in item.headers if k not in ("ActionID", "Duration")]
        real = [(k, v) for k, v in theirs[uid].headers if k not in ("ActionID", "Duration")]
        if mine != real:
            differing.add(uid)
        lag = _seconds(theirs[uid].get("Duration")) - _seconds(item.get("Duration"))
        assert 0 <= lag <= 1
    assert len(differing) <= 2, differing  # the Local ;1 of the newest channels: not Up yet


async def test_coreshowchannels_anywhere_in_the_capture_is_answered_from_the_census() -> None:
    """After its recorded answer (and when none is recorded) CoreShowChannels still gets the
    channels live at the client's point: here at the end of the capture, none."""
    with trio.fail_after(30):
        async with (
            run_simulator(FIXTURES / "load.ami.gz", username=USER, secret=SECRET) as sim,
            connect(url(sim.port), keepalive=None) as client,
        ):
            await sim.connected.wait()
            await sim.sessions[0].stream_done.wait()
            answer = await client.request(CoreShowChannelsAction())
    assert answer.ok
    assert len(answer.items) == 0
    assert answer.complete is not None and answer.complete.get("ListItems") == "0"


def _seconds(hms: str | None) -> int:
    h, m, sec = (int(x) for x in (hms or "").split(":"))
    return h * 3600 + m * 60 + sec


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_open_tracker_on_a_refused_port_gives_up_with_a_clear_error() -> None:
    port = _closed_port()
    began = trio.current_time()
    with trio.fail_after(20), pytest.raises(ConnectTimeoutError) as info:
        async with open_tracker(
            url(port, secret="s3cr3t-never-shown"), keepalive=None, first_connect_timeout=1.5
        ):
            pass  # pragma: no cover
    elapsed = trio.current_time() - began
    assert 1.5 <= elapsed < 5
    text = str(info.value)
    assert f"ami://{USER}:***@127.0.0.1:{port}" in text
    assert "s3cr3t" not in text and "s3cr3t" not in repr(info.value)
    assert "cannot connect" in text
    assert "within 1.5s" in text


def test_open_tracker_default_first_connect_timeout_is_bounded() -> None:
    default = inspect.signature(open_tracker).parameters["first_connect_timeout"].default
    assert default is not None and 0 < default <= 30


async def test_after_a_first_session_open_tracker_keeps_reconnecting() -> None:
    """The first-connect limit is for the first session only: a tracker whose sessions keep
    dropping reconnects (with backoff) long after it."""
    with trio.fail_after(30):
        async with (
            run_simulator(
                FIXTURES / "basic.ami", username=USER, secret=SECRET, drop_after=100, speed=2
            ) as sim,
            open_tracker(
                url(sim.port), keepalive=None, first_connect_timeout=0.5, backoff_initial=0.05
            ) as tracker,
        ):
            await trio.sleep(1.0)  # twice the first-connect limit
            seen = tracker.stats.sessions
            for _ in range(1000):
                if tracker.stats.sessions >= seen + 1:
                    break
                await trio.sleep(0.02)
            assert tracker.stats.sessions >= seen + 1 >= 2
            assert len(sim.sessions) == tracker.stats.sessions
