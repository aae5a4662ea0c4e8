"""A small soak: the load capture served several times in one session (the simulator's
``copies``, each copy later in time with its own ids), every 10th ``Hangup`` withheld, over
real TCP. The state for ended calls is released: after the stream and two reconciliations,
nothing in the World grew with the number of copies (``bench/soak.py`` is the 8-hour run).
"""

from __future__ import annotations

import re

import trio

from tests.helpers import FIXTURES
from tracker.ami import FrameParser
from tracker.query import sizes
from tracker.runtime import AmiClient, run_simulator
from tracker.runtime.copies import CopyShift, timestamp
from tracker.runtime.script import CaptureScript, load_script
from tracker.runtime.simulator import AmiSimulator, SimSession
from tracker.runtime.tracker import Tracker

from ._support import SECRET, USER, url

_TIME = re.compile(rb"\b1795[0-9]{6}\.")
_UUID_HEAD = re.compile(rb"\b[0-9a-f]{8}-(?=[0-9a-f]{4}-)")
_IDS = re.compile(rb"^(?:Uniqueid|Linkedid|DestUniqueid|BridgeUniqueid): (\S+)\r$", re.M)


def test_copies_move_on_in_time_with_their_own_ids() -> None:
    script = load_script(FIXTURES / "load.ami.gz")
    shift = CopyShift(script.stream)
    stamps = [t for t in map(timestamp, script.stream) if t is not None]
    assert max(stamps) - min(stamps) < shift.period <= max(stamps) - min(stamps) + 2
    seen: list[set[bytes]] = []
    for copy in range(3):
        raws = [shift(f.raw, copy) for f in script.stream]
        assert [len(r) for r in raws] == [len(f.raw) for f in script.stream]
        parser = FrameParser(expect_banner=False)
        parser.feed(b"".join(raws))
        frames = list(iter(parser.next_frame, None))
        assert [f.name for f in frames] == [f.name for f in script.stream]
        moved = [t for t in map(timestamp, frames) if t is not None]
        assert moved == [t + copy * shift.period for t in stamps]
        ids = set(_IDS.findall(b"".join(raws)))
        assert len(ids) > 600
        assert all(not (ids & other) for other in seen)  # no channel or bridge id repeats
        seen.append(ids)
        # what is not a time or an id is untouched
        assert [_masked(r) for r in raws] == [_masked(f.raw) for f in script.stream]


def _masked(raw: bytes) -> bytes:
    return _UUID_HEAD.sub(b"U", _TIME.sub(b"T", raw))


async def _soak(script: CaptureScript, copies: int, lost: list[int]) -> tuple[Tracker, int]:
    """Serve ``copies`` copies to a tracker reconciling every 0.2 s; once all was folded and
    two reconciliations followed, return it and the frames the simulator streamed."""
    async with run_simulator(
        script, username=USER, secret=SECRET, lost=lost, events_only=True, copies=copies
    ) as sim:
        tracker = Tracker(AmiClient(url(sim.port), keepalive=None), reconcile_interval=0.2)
        async with trio.open_nursery() as nursery:
            await nursery.start(tracker.run)
            session = sim.sessions[0]
            await session.stream_done.wait()
            done = tracker.stats.reconciles
            while tracker.stats.reconciles < done + 2:  # noqa: ASYNC110 (the tracker's own)
                await trio.sleep(0.05)
            await tracker.client.send("Ping")  # answered after every frame sent before it
            await tracker.wait_folded(tracker.client.stats.frames - 1)
            await tracker.aclose()
    assert (session.copy, session.reason) == (copies - 1, "logoff")
    return tracker, session.streamed


async def test_state_for_ended_calls_is_released() -> None:
    script = load_script(FIXTURES / "load.ami.gz")
    hangups = [i for i, f in enumerate(script.stream) if f.name == "Hangup"]
    lost = hangups[::10]
    with trio.fail_after(120):
        one, streamed_one = await _soak(script, 1, lost)
        four, streamed_four = await _soak(script, 4, lost)
    assert streamed_four == 4 * streamed_one
    assert one.world.calls_ended == 300
    assert four.world.calls_ended == 4 * 300  # every call of every copy ended...
    assert four.stats.reconciles >= 3 and four.stats.reconcile_failures == 0
    assert (four.stats.sessions, four.client.stats.overflows) == (1, 0)
    # ...and none left a trace: no zombie, no phantom call, nothing grew with the copies
    left = sizes(four.world)
    assert left["channels"] == left["calls"] == left["bridges"] == 0
    assert left == sizes(one.world)
    assert four.world.clock > one.world.clock + 3 * 80  # four copies of Asterisk time


async def test_a_recorded_answer_is_awaited_in_the_copy_being_served() -> None:
    """Paced: in copy k, a recorded answer lies k periods later than copy 0 recorded it, so
    one a whole paced minute ahead is not awaited (CoreShowChannels is answered from the
    census instead, before the client's action timeout)."""
    sim = AmiSimulator(FIXTURES / "load.ami.gz", speed=3, copies=2)
    (recorded,) = sim.script.answers["coreshowchannels"]
    assert recorded.timestamp is not None
    first = min(t for t in map(timestamp, sim.script.stream) if t is not None)
    session = SimSession(peer="test", clock0=(trio.current_time(), first))
    ahead = recorded.timestamp - 1  # just before it, in copy 0's time
    session.copy = 0
    assert not sim._due_soon(session, ahead)  # (recorded.timestamp - first) / 3 s away
    session.clock0 = (trio.current_time() - (ahead - first) / 3, first)  # copy 0 is there now
    assert sim._due_soon(session, recorded.timestamp)
    session.copy = 1  # the same clock in copy 1: the answer is a whole period later
    assert not sim._due_soon(session, recorded.timestamp)
