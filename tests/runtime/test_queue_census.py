"""The simulator's ``QueueStatus`` for "now", read from the capture's own frames."""

from __future__ import annotations

from collections import Counter

import trio

from tests.helpers import FIXTURES
from tracker.ami import FrameParser
from tracker.events.actions import QueueStatusAction
from tracker.runtime import connect, run_simulator
from tracker.runtime.queue_census import QueueCensus
from tracker.runtime.script import load_script

from ._support import SECRET, url


def _items(answer: bytes) -> list[list[tuple[str, str]]]:
    parser = FrameParser(expect_banner=False)
    parser.feed(answer)
    out = []
    while (frame := parser.next_frame()) is not None:
        out.append([(k, v) for k, v in frame.headers if k != "ActionID"])
    return out


def test_at_the_recorded_point_it_is_the_recorded_answer() -> None:
    """Counters, members and waiting callers at the point where the capture's own client asked
    QueueStatus are what Asterisk answered it (members in another order)."""
    script = load_script(FIXTURES / "load.ami.gz")
    (recorded,) = script.answers["queuestatus"]
    census = QueueCensus(script.stream, [recorded])
    census.advance(recorded.position - len(recorded.frames) + 1)
    ours = _items(census.answer("x"))
    theirs = [[(k, v) for k, v in f.headers if k != "ActionID"] for f in recorded.frames]
    assert [i[0] for i in ours] == [i[0] for i in theirs]
    assert ours[1] == theirs[1]  # QueueParams: Calls 9, Completed 12, Abandoned 0

    def members(items: list[list[tuple[str, str]]]) -> list[dict[str, str]]:
        # Asterisk's order is its hash's; InCall, CallsTaken, LastCall and Status move with
        # calls without an event of their own: the census has the last announced ones
        keep = ("Name", "Location", "StateInterface", "Membership", "Penalty", "Paused")
        found = [dict(i) for i in items if i[0] == ("Event", "QueueMember")]
        return sorted(({k: m[k] for k in keep} for m in found), key=lambda m: m["Location"])

    assert members(ours) == members(theirs)
    ids = [dict(i)["Uniqueid"] for i in ours if i[0] == ("Event", "QueueEntry")]
    assert sorted(ids) == sorted(
        dict(i)["Uniqueid"] for i in theirs if i[0] == ("Event", "QueueEntry")
    )


def test_counters_follow_the_events_to_the_end() -> None:
    """At the end of the capture: every AgentComplete and QueueCallerAbandon counted (the
    queue_log has 52 CONNECT and 9 ABANDON), nobody waiting, the dynamic members removed."""
    script = load_script(FIXTURES / "load.ami.gz")
    census = QueueCensus(script.stream, script.answers["queuestatus"])
    census.advance(len(script.stream))
    (params,) = [dict(i) for i in _items(census.answer(None)) if i[0] == ("Event", "QueueParams")]
    events = Counter(f.name for f in script.stream)
    assert params["Completed"] == str(events["AgentComplete"]) == "52"
    assert params["Abandoned"] == str(events["QueueCallerAbandon"]) == "9"
    assert params["Calls"] == "0"
    assert len(_items(census.answer(None))) == 3  # response, QueueParams, complete


async def test_a_queue_status_after_its_recorded_point_is_answered_for_now() -> None:
    """Over TCP: once the stream passed the capture's own QueueStatus, the simulator answers
    one with the queues at the client's point (here the end of ``lists.ami``)."""
    script = load_script(FIXTURES / "lists.ami")
    census = QueueCensus(script.stream, script.answers["queuestatus"])
    census.advance(len(script.stream))
    expected = _items(census.answer(None))
    with trio.fail_after(10):
        async with (
            run_simulator(script, secret=SECRET, events_only=True) as sim,
            connect(url(sim.port), keepalive=None) as client,
        ):
            await sim.sessions[0].stream_done.wait()
            answer = await client.request(QueueStatusAction(), time_limit=5)
    assert answer.ok and answer.complete is not None
    got = [[(k, v) for k, v in f.headers if k != "ActionID"] for f in answer.items]
    assert got == expected[1:-1]
    (recorded,) = script.answers["queuestatus"]
    assert got != [[(k, v) for k, v in f.headers if k != "ActionID"] for f in recorded.frames[1:-1]]
