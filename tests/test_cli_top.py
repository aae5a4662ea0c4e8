"""The switchboard of ``ami-tracker top``: a pure World -> rich renderable, on replayed captures."""

from __future__ import annotations

import io
from collections.abc import Callable

import pytest
from rich.console import Console

from tests.helpers import FIXTURES
from tracker.cli.switchboard import Status, call_state, duration, render
from tracker.query import active_calls
from tracker.reducer import Reducer
from tracker.replay import iter_envelopes
from tracker.state import World, encode_world


def world_when(capture: str, ready: Callable[[World], bool]) -> World:
    """The World of ``capture`` folded up to the first frame after which ``ready`` holds."""
    reducer = Reducer()
    for env in iter_envelopes(FIXTURES / capture):
        reducer.apply(env)
        if ready(reducer.world):
            return reducer.snapshot()
    raise AssertionError(f"{capture} never reached the state asked for")


def text(world: World, *, now: float | None = None, max_calls: int = 20, **status: str) -> str:
    console = Console(file=io.StringIO(), width=160, record=True, color_system=None)
    console.print(
        render(
            world,
            Status(server="pbx1", **status),  # type: ignore[arg-type]
            now=world.clock if now is None else now,
            max_calls=max_calls,
        )
    )
    return console.export_text()


def row(screen: str, *needles: str) -> str:
    """The one line of ``screen`` that holds every needle."""
    found = [line for line in screen.splitlines() if all(n in line for n in needles)]
    assert len(found) == 1, (needles, found)
    return found[0]


def test_load_mid_run_shows_calls_and_queue_load() -> None:
    def busy(w: World) -> bool:
        return len(w.calls) >= 40 and "load" in w.queues and bool(w.queues["load"].callers)

    world = world_when("load.ami.gz", busy)
    before = encode_world(world)
    screen = text(world, now=world.clock + 1, max_calls=10)
    assert encode_world(world) == before  # rendering reads, never writes
    assert screen == text(world, now=world.clock + 1, max_calls=10)  # pure
    calls = active_calls(world)
    assert f"Calls ({len(calls)} active)" in screen
    assert f"... and {len(calls) - 10} more" in screen
    oldest = calls[0]
    line = row(screen, oldest.legs[0].name)
    assert call_state(oldest) in line
    assert duration(world.clock + 1 - oldest.call.start) in line
    assert oldest.call.caller.num in line
    queue = world.queues["load"]
    line = row(screen, " load ", f" {len(queue.callers)} ")
    for caller in queue.callers.values():
        assert caller.caller_id_num is not None and caller.caller_id_num in screen
    for member in queue.members.values():
        assert member.name.split()[-1] in screen
    assert "in use" in screen or "idle" in screen


def test_conference_participants() -> None:
    world = world_when(
        "confbridge.ami", lambda w: sum(len(c.participants) for c in w.conferences.values()) >= 2
    )
    screen = text(world, now=world.clock + 65)
    (room,) = world.conferences.values()
    line = row(screen, "(admin)")  # the room's row in the Conferences table
    assert line.split()[0] == room.name
    assert "1:05" in line  # started when the first participant joined, 65 s ago
    for p in room.participants.values():
        assert p.caller_id_num is not None and p.caller_id_num in line
    assert "(admin)" in line
    assert row(screen, "121 Conf Admin", "conference")


def test_parked_call() -> None:
    world = world_when("park.ami", lambda w: any(lot.calls for lot in w.parking.values()))
    screen = text(world, now=world.clock + 10)
    (lot,) = [lot for lot in world.parking.values() if lot.calls]
    (parked,) = lot.calls.values()
    line = row(screen, lot.name, parked.space)
    assert parked.timeout is not None and parked.parked_at is not None
    left = parked.timeout - (world.clock + 10 - parked.parked_at)
    assert duration(left) in line
    assert "parked" in row(screen, "Local/120@phones")


def test_queue_caller_waiting_and_member_states() -> None:
    world = world_when("queue.ami", lambda w: any(q.callers for q in w.queues.values()))
    screen = text(world, now=world.clock + 3)
    line = row(screen, " sales ")
    assert " 1 " in line and "(0:03)" in line
    assert "Agent 602 idle, paused" in line
    assert "queued" in row(screen, "Local/111@phones")
    assert "<unknown>" not in screen


def test_status_line_and_empty_world() -> None:
    screen = text(World(), state="reconnecting", note="cannot connect to ami://u:***@h:5038")
    first, second = screen.splitlines()[:2]
    assert first.startswith("pbx1 ") and "reconnecting" in first and "0 channels" in first
    assert second == "cannot connect to ami://u:***@h:5038"
    assert "Calls (0 active)" in screen
    assert "Queues" not in screen and "Conferences" not in screen and "Parked" not in screen


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(None, ""), (-3, "0:00"), (5.9, "0:05"), (65, "1:05"), (3723, "1:02:03")],
)
def test_duration(seconds: float | None, shown: str) -> None:
    assert duration(seconds) == shown


def test_clock_ticks_between_events() -> None:
    from tracker.cli.top import _Clock

    clock = _Clock()
    assert clock.now(1000.0, 50.0) == 1000.0  # first event time, at local 50
    assert clock.now(1000.0, 52.5) == 1002.5  # no event since: 2.5 s of local time later
    assert clock.now(1001.0, 53.0) == 1001.0  # a new event time takes over
    assert clock.now(1001.0, 54.0) == 1002.0
