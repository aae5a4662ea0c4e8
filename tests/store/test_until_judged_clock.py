"""Point-in-time folds (``replay --until``, ``Store.world_at(time=...)``) stop by the fold's
judged clock, never by a raw ``Timestamp``: one far-future frame used to end them early."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.helpers import CAPTURES, FIXTURES, capture_id
from tracker.capture import read_bytes
from tracker.reducer import Reducer
from tracker.replay import import_capture, iter_envelopes, replay
from tracker.state import encode_world
from tracker.store import open_store

_STAMP = re.compile(rb"\r\nTimestamp: ([^\r]*)\r\n")
OUTLIERS = [b"9999999999.000000", b"inf", b"nan", b"-1", b"abc"]


def _with_outlier(tmp_path: Path, value: bytes, capture: str = "basic.ami") -> Path:
    """``capture`` with the Timestamp of its middle stamped event replaced by ``value``."""
    data = read_bytes(FIXTURES / capture)
    stamps = list(_STAMP.finditer(data))
    m = stamps[len(stamps) // 2]
    path = tmp_path / f"outlier.{capture}".removesuffix(".gz")
    path.write_bytes(data[: m.start(1)] + value + data[m.end(1) :])
    return path


def _last_time(path: Path) -> float:
    """The fold's clock at the end of the capture."""
    return replay(path).world.clock


@pytest.mark.parametrize("capture", CAPTURES, ids=capture_id)
def test_time_of_is_the_clock_the_fold_then_has(capture: Path, tmp_path: Path) -> None:
    """``Reducer.time_of`` predicts, without folding, the World's clock right after the
    envelope is folded: on real captures, and with outliers, steps and a stepped-back clock."""
    data = read_bytes(capture)
    stamps = list(_STAMP.finditer(data))
    edits: list[tuple[int, bytes]] = []
    for i, value in enumerate([*OUTLIERS, b"1.0"]):
        if stamps:
            edits.append(((i + 1) * len(stamps) // 8, value))
    for index, value in sorted(edits, reverse=True):
        m = stamps[index]
        data = data[: m.start(1)] + value + data[m.end(1) :]
    path = tmp_path / "edited.ami"
    path.write_bytes(data)
    reducer = Reducer(max_clock_jump=600, clock_confirm=2)
    for env in iter_envelopes(path):
        predicted = reducer.time_of(env)
        reducer.apply(env)
        assert predicted == reducer.world.clock, env.seq


@pytest.mark.parametrize("value", OUTLIERS)
def test_replay_until_is_not_ended_by_an_outlier(tmp_path: Path, value: bytes) -> None:
    path = _with_outlier(tmp_path, value)
    full = replay(path)
    until = replay(path, until=_last_time(FIXTURES / "basic.ami"))
    assert until.events == full.events
    assert encode_world(until.world) == encode_world(full.world)
    assert len(until.call_records) == len(replay(FIXTURES / "basic.ami").call_records) == 1


def test_replay_until_still_stops_before_later_events() -> None:
    path = FIXTURES / "load.ami.gz"
    full = replay(path)
    ends = sorted(r.end for r in full.call_records if r.end is not None)
    cut = ends[len(ends) // 2]
    part = replay(path, until=cut)
    assert 0 < part.events < full.events
    assert part.world.clock <= cut
    expected = {r.linkedid for r in full.call_records if r.end is not None and r.end <= cut}
    assert {r.linkedid for r in part.call_records} == expected


@pytest.mark.parametrize("value", [b"9999999999.000000", b"inf"])
def test_world_at_time_is_not_ended_by_an_outlier(
    tmp_path: Path, sqlite_url: str, value: bytes
) -> None:
    from tracker.store import migrate

    migrate.upgrade(sqlite_url)
    path = _with_outlier(tmp_path, value)
    with open_store(sqlite_url) as store:
        import_capture(store, path, server="pbx")
        at = store.world_at("pbx", time=_last_time(FIXTURES / "basic.ami"))
        assert at.seq == store.server("pbx").next_seq - 1
    assert encode_world(at.world) == encode_world(replay(path).world)
