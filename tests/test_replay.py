"""Offline replay: captures -> frames -> envelopes -> fold, several files in a row, ``until``."""

from __future__ import annotations

import csv

import pytest

from tests.helpers import FIXTURES
from tracker.events import SessionStarted
from tracker.query import active_calls, channels_of_call, summary, talking_pairs
from tracker.replay import iter_envelopes, replay
from tracker.state.world import SessionBegan


def cdr_spans(name: str) -> dict[str, tuple[float, float]]:
    spans: dict[str, tuple[float, float]] = {}
    with (FIXTURES / f"{name}.cdr.csv").open(encoding="latin-1", newline="") as f:
        for r in csv.reader(f):
            start, end = float(r[21]), float(r[23])
            old = spans.get(r[18], (start, end))
            spans[r[18]] = (min(old[0], start), max(old[1], end))
    return spans


def test_replay_one_capture() -> None:
    result = replay(FIXTURES / "basic.ami")
    assert result.events == sum(1 for _ in iter_envelopes(FIXTURES / "basic.ami"))
    assert [c.linkedid for c in result.call_records] == list(cdr_spans("basic"))
    assert result.world.sessions == 1
    assert result.changes["CallEnded"] == 1
    assert result.changes["ChannelCreated"] == 4
    assert result.anomalies == []


def test_replay_several_captures_starts_a_session_each() -> None:
    paths = [FIXTURES / "basic.ami", FIXTURES / "unanswered.ami", FIXTURES / "md5_login.ami"]
    result = replay(paths)
    assert result.world.sessions == 3
    assert result.changes["SessionBegan"] == 3
    expected = {*cdr_spans("basic"), *cdr_spans("unanswered"), *cdr_spans("md5_login")}
    assert {c.linkedid for c in result.call_records} == expected
    assert result.world.calls_ended == len(expected)
    seqs = [env.seq for env in iter_envelopes(paths)]
    assert seqs == list(range(len(seqs)))
    banners = [env.seq for env in iter_envelopes(paths) if isinstance(env.item, SessionStarted)]
    assert len(banners) == 3


@pytest.mark.parametrize("name", ["unanswered", "queue"])
def test_until_stops_at_a_point_in_time(name: str) -> None:
    spans = cdr_spans(name)
    ends = sorted(end for _, end in spans.values())
    cut = (ends[0] + ends[1]) / 2 if ends[1] > ends[0] + 0.01 else ends[0] + 0.005
    result = replay(FIXTURES / f"{name}.ami", until=cut)
    assert result.world.clock <= cut
    ended = {c.linkedid for c in result.call_records}
    assert ended == {lid for lid, (_, end) in spans.items() if end <= cut}
    active = {lid for lid, (start, end) in spans.items() if start <= cut < end}
    assert set(result.world.calls) == active
    full = replay(FIXTURES / f"{name}.ami")
    assert result.events < full.events


def test_session_began_change_per_banner() -> None:
    result = replay([FIXTURES / "md5_login.fail.ami"])
    assert result.changes == {"SessionBegan": 1}
    assert SessionBegan.__name__ in result.changes


def test_query_who_talks_to_whom_mid_call() -> None:
    """At a cut in basic: CEL's BRIDGE_ENTER rows name who is bridged with whom."""
    with (FIXTURES / "basic.cel.csv").open(encoding="latin-1", newline="") as f:
        cel = list(csv.reader(f))
    entered = [r for r in cel if r[0] == "BRIDGE_ENTER"]
    cut = max(float(r[1]) for r in entered) + 0.01
    world = replay(FIXTURES / "basic.ami", until=cut).world
    pairs = talking_pairs(world)
    assert [(a.name, b.name) for a, b in pairs] == [(r[10], r[17]) for r in entered if r[17]]
    (active,) = active_calls(world)
    assert [ch.uniqueid for ch in active.legs] == sorted(
        {r[15] for r in cel if r[0] == "CHAN_START"}, key=lambda u: int(u.split(".")[1])
    )
    assert [b.uniqueid for b in active.bridges] == [pairs[0][0].bridge]
    assert channels_of_call(world, active.call.linkedid) == active.legs
    assert channels_of_call(world, "nope") == []
    counts = summary(world)
    assert (counts["channels"], counts["bridges"], counts["calls_active"]) == (4, 1, 1)
