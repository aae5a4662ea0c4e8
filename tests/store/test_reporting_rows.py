"""Call records -> rows (``tracker.store.reporting_rows``): the row makers built once per record
class give exactly the values of a plain walk of the plan, with times as datetimes or as the
record's epoch seconds."""

from __future__ import annotations

import functools
from typing import Any

import msgspec
import pytest

from tests.helpers import FIXTURES
from tracker.replay import replay
from tracker.state.call import Call, Leg, Parking, Party, QueuePassage, Transfer
from tracker.store.reporting import CALL_LEGS, CALLS, TRANSFERS
from tracker.store.reporting_rows import (
    CHILD_LISTS,
    call_rows,
    fields_getter,
    plan,
    to_row,
)
from tracker.store.reporting_types import to_datetime

CAPTURES = sorted(p.name for p in FIXTURES.glob("*.ami"))


def walk(struct: msgspec.Struct, table: Any, skip: frozenset[str], epochs: bool) -> dict[str, Any]:
    """The row by reading every path of the plan one attribute at a time."""
    row: dict[str, Any] = {}
    for path, column, is_time in plan(type(struct), table, skip).columns:
        value: Any = struct
        for name in path:
            value = getattr(value, name)
            if value is None:
                break
        row[column] = to_datetime(value) if is_time and not epochs else value
    return row


@functools.cache
def records() -> list[Call]:
    """Every fixture's call records, and records whose nested parts are all set or all None."""
    calls = [c for capture in CAPTURES for c in replay(FIXTURES / capture).call_records]
    full = Call(
        linkedid="1.1",
        start=1795664001.5000005,
        answer=1795664002.25,
        end=1795664010.0,
        caller=Party(num="100", name="Ann", channel="PJSIP/100-1"),
        callee=Party(num="200", name="Bob", channel="PJSIP/200-2"),
        queue=QueuePassage(name="sales", joined=1795664001.75, left=None, agent="Bob"),
        parked=Parking(lot="default", space="701", at=1795664005.0),
        conference="room",
        transfers=[Transfer(kind="blind", at=1795664006.125, target="300")],
        ended_legs=[Leg(uniqueid="1.1", channel="PJSIP/100-1", created=1795664001.5)],
    )
    bare = msgspec.structs.replace(full, callee=None, queue=None, parked=None, caller=Party())
    return [*calls, full, bare]


def test_the_fixtures_give_calls_with_and_without_each_nested_record() -> None:
    calls = records()
    for field in ("callee", "queue", "parked"):
        assert any(getattr(c, field) is None for c in calls), field
        assert any(getattr(c, field) is not None for c in calls), field
    assert any(c.transfers for c in calls)


@pytest.mark.parametrize("epochs", [False, True])
def test_rows_equal_a_walk_of_the_plan(epochs: bool) -> None:
    for call in records():
        assert to_row(call, CALLS, epochs=epochs) == walk(call, CALLS, CHILD_LISTS, epochs)
        row, legs, transfers = call_rows(call, server_id=3, session_id=4, epochs=epochs)
        assert row == {**walk(call, CALLS, CHILD_LISTS, epochs), "server_id": 3, "session_id": 4}
        assert [
            {k: v for k, v in leg.items() if k not in ("ordinal", "server_id", "position", "role")}
            for leg in legs
        ] == [walk(leg, CALL_LEGS, frozenset(), epochs) for leg in call.ended_legs]
        assert [{k: v for k, v in t.items() if k != "ordinal"} for t in transfers] == [
            walk(t, TRANSFERS, frozenset(), epochs) for t in call.transfers
        ]


def test_epoch_rows_hold_the_times_of_the_datetime_rows() -> None:
    for call in records():
        dates, epochs = to_row(call, CALLS), to_row(call, CALLS, epochs=True)
        assert list(dates) == list(epochs)
        for column, value in dates.items():
            if column.endswith("at") and epochs[column] is not None:
                assert to_datetime(epochs[column]) == value, column
            else:
                assert epochs[column] == value, column
    assert to_row(records()[-2], CALLS, epochs=True)["start_at"] == 1795664001.5000005


def test_fields_getter_gives_a_tuple_for_any_number_of_names() -> None:
    party = Party(num="1", name="n", channel="c")
    assert fields_getter([])(party) == ()
    assert fields_getter(["num"])(party) == ("1",)
    assert fields_getter(["channel", "num"])(party) == ("c", "1")
