"""Parking machine vs ground truth: CEL PARK_START/PARK_END rows (who was parked, when, and why
the parking ended, with the retriever), ``asterisk-conf/res_parking.conf`` (the lot) and the
actions the client sent (the Park ``Timeout``)."""

from __future__ import annotations

import configparser
import csv
import functools
import json
from pathlib import Path

import pytest

from tests.helpers import sent_actions
from tracker.capture import iter_frames
from tracker.events import ParkedCall as ParkedCallEvent
from tracker.events import envelopes
from tracker.reducer import Reducer
from tracker.state import Change, World
from tracker.state.parking import (
    CallParked,
    CallUnparked,
    ParkedCallGaveUp,
    ParkingReconciled,
    ParkingTimedOut,
)

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
REASONS = {
    CallUnparked: "ParkedCallUnparked",
    ParkingTimedOut: "ParkedCallTimeOut",
    ParkedCallGaveUp: "ParkedCallGiveUp",
}


@functools.cache
def fold(name: str) -> tuple[World, tuple[Change, ...], tuple[Change, ...]]:
    """Final world, all changes, and the changes caused by ParkedCall list items."""
    reducer = Reducer()
    changes: list[Change] = []
    from_list: list[Change] = []
    for env in envelopes(iter_frames(FIXTURES / f"{name}.ami")):
        out = reducer.apply(env)
        changes.extend(out)
        if env.list_item and isinstance(env.item, ParkedCallEvent):
            from_list.extend(out)
    return reducer.world, tuple(changes), tuple(from_list)


def cel_parking(name: str) -> list[tuple[str, str, float, dict[str, str]]]:
    with (FIXTURES / f"{name}.cel.csv").open(newline="", encoding="latin-1") as f:
        return [
            (r[0], r[15], float(r[1]), json.loads(r[20]) if r[20] else {})
            for r in csv.reader(f)
            if r and r[0] in ("PARK_START", "PARK_END")
        ]


def lot_config() -> configparser.SectionProxy:
    conf = configparser.ConfigParser(strict=False, delimiters=("=>", "="))
    conf.read(FIXTURES / "asterisk-conf" / "res_parking.conf")
    return conf["default"]


@pytest.mark.parametrize("name", ["park", "lists"])
def test_parkings_match_cel(name: str) -> None:
    truth = cel_parking(name)
    ours: list[tuple[str, str | None, float, dict[str, str]]] = []
    for c in fold(name)[1]:
        if isinstance(c, CallParked):
            extra = {"parker_dial_string": c.parker_dial_string or "", "parking_lot": c.lot}
            ours.append(("PARK_START", c.parkee_uniqueid, c.at, extra))
        elif isinstance(c, CallUnparked | ParkingTimedOut | ParkedCallGaveUp):
            extra = {"reason": REASONS[type(c)]}
            if isinstance(c, CallUnparked):
                extra["retriever"] = c.retriever_channel or ""
            ours.append(("PARK_END", c.parkee_uniqueid, c.at, extra))
    assert truth
    assert [(k, u, x) for k, u, _, x in ours] == [(k, u, x) for k, u, _, x in truth]
    for (_, _, at, _), (_, _, when, _) in zip(ours, truth, strict=True):
        assert abs(at - when) <= 1.0


def test_three_outcomes_with_spaces_and_timeouts() -> None:
    """park.ami: retrieved by 121 dialling 701, timed out (Park Timeout 4000 ms), gave up."""
    changes = fold("park")[1]
    parked = [c for c in changes if isinstance(c, CallParked)]
    ended = [c for c in changes if isinstance(c, CallUnparked | ParkingTimedOut | ParkedCallGaveUp)]
    assert [type(c) for c in ended] == [CallUnparked, ParkingTimedOut, ParkedCallGaveUp]
    first, second, third = ended
    assert isinstance(first, CallUnparked)
    assert first.retriever_caller_id_num == "121"
    assert first.space == "701"
    start, stop = (int(x) for x in lot_config()["parkpos"].split("-"))
    assert all(start <= int(c.space) <= stop for c in parked)
    parks = [a for a in sent_actions("park") if a["Action"] == "Park"]
    timeout_ms = int(next(a["Timeout"] for a in parks if "Timeout" in a))
    default = int(lot_config()["parkingtime"])
    assert [c.timeout for c in parked] == [default, timeout_ms // 1000, default]
    assert abs(second.at - parked[1].at - timeout_ms / 1000) <= 1.0
    assert third.parkee_uniqueid == parked[2].parkee_uniqueid
    world = fold("park")[0]
    assert all(not lot.calls for lot in world.parking.values())


def test_parkinglot_list_matches_config() -> None:
    lot = fold("park")[0].parking["default"]
    conf = lot_config()
    start, stop = (int(x) for x in conf["parkpos"].split("-"))
    assert (lot.start_space, lot.stop_space, lot.timeout) == (start, stop, int(conf["parkingtime"]))


@pytest.mark.parametrize("name", ["park", "lists"])
def test_parked_call_list_item_changes_nothing(name: str) -> None:
    """``ParkedCall`` answering ``ParkedCalls`` for a call we track is not a new parking."""
    world, changes, from_list = fold(name)
    assert from_list == ()
    assert not [c for c in changes if isinstance(c, ParkingReconciled) and c.space]
    del world


def test_parked_call_list_item_seeds_a_late_joiner() -> None:
    """Folded without the live ParkedCall, the list item creates the parked call (reconciled),
    and the later UnParkedCall closes it without an anomaly."""
    reducer = Reducer()
    changes: list[Change] = []
    skipped = 0
    for env in envelopes(iter_frames(FIXTURES / "park.ami")):
        if not env.list_item and isinstance(env.item, ParkedCallEvent) and not skipped:
            skipped += 1
            continue
        changes.extend(reducer.apply(env))
    created = [c for c in changes if isinstance(c, ParkingReconciled) and c.action == "created"]
    assert [(c.lot, c.space) for c in created if c.space] == [("default", "701")]
    assert [type(c) for c in changes if isinstance(c, CallUnparked)] == [CallUnparked]
    assert not [c for c in changes if getattr(c, "kind", "").startswith("parking")]


def test_swap_replaces_the_parkee() -> None:
    """ParkedCallSwap is not in the lab captures: typed events built by hand."""
    from tracker import events as ev
    from tracker.events.envelope import Envelope
    from tracker.state.parking import ParkedCallSwapped

    reducer = Reducer()
    reducer.apply(
        Envelope(
            0,
            ev.ParkedCall(
                parkinglot="default", parking_space="701", parkee_uniqueid="a", timestamp=1.0
            ),
        )
    )
    out = reducer.apply(
        Envelope(
            1,
            ev.ParkedCallSwap(
                parkinglot="default", parking_space="701", parkee_uniqueid="b", timestamp=2.0
            ),
        )
    )
    swapped = [c for c in out if isinstance(c, ParkedCallSwapped)]
    assert [(c.previous_uniqueid, c.parkee_uniqueid) for c in swapped] == [("a", "b")]
    assert reducer.world.parking["default"].calls["701"].parkee_uniqueid == "b"
