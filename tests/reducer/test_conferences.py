"""Conference machine vs ground truth: CEL BRIDGE_ENTER/BRIDGE_EXIT rows of the ConfBridge
application (who was in the room when), the user profiles in ``asterisk-conf/confbridge.conf``
(admin/marked), the actions the client sent (mute, unmute, kick) and Asterisk's own
ConfbridgeList replies (checked against our state just before each is applied).
"""

from __future__ import annotations

import configparser
import csv
import functools
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import sent_actions
from tracker.capture import iter_frames
from tracker.events import ConfbridgeList, ConfbridgeListRooms, envelopes
from tracker.reducer import Reducer
from tracker.state import Change, World
from tracker.state.conference import (
    ConferenceEnded,
    ConferenceStarted,
    ParticipantJoined,
    ParticipantLeft,
    ParticipantMuted,
)

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
WITH_CONFBRIDGE = ["confbridge", "lists", "reconnect", "transfers"]


@functools.cache
def fold(name: str) -> tuple[World, tuple[Change, ...], tuple[tuple[Any, Any], ...]]:
    """Final world, all changes, and (ours, Asterisk's) (channel, admin, muted) taken just
    before each ConfbridgeList item is applied."""
    reducer = Reducer()
    changes: list[Change] = []
    pairs: list[tuple[Any, Any]] = []
    for env in envelopes(iter_frames(FIXTURES / f"{name}.ami")):
        item = env.item
        if env.list_item and isinstance(item, ConfbridgeList):
            room = reducer.world.conferences.get(str(item.conference))
            p = None if room is None else room.participants.get(str(item.uniqueid))
            ours = None if p is None else (p.channel, p.admin, p.muted)
            pairs.append((ours, (item.channel, item.admin == "Yes", item.muted == "Yes")))
        changes.extend(reducer.apply(env))
    return reducer.world, tuple(changes), tuple(pairs)


def cel_rows(name: str) -> list[list[str]]:
    with (FIXTURES / f"{name}.cel.csv").open(newline="", encoding="latin-1") as f:
        return [r for r in csv.reader(f) if r and r[11] == "ConfBridge"]


def profiles() -> configparser.ConfigParser:
    conf = configparser.ConfigParser(strict=False)
    conf.read(FIXTURES / "asterisk-conf" / "confbridge.conf")
    return conf


@pytest.mark.parametrize("name", WITH_CONFBRIDGE)
def test_participants_over_time_match_cel(name: str) -> None:
    """Same joins and leaves, in the same order, by uniqueid and room, within 1 s."""
    truth = [
        ("join" if r[0] == "BRIDGE_ENTER" else "leave", r[12].split(",")[0], r[15], float(r[1]))
        for r in cel_rows(name)
    ]
    ours = [
        ("join" if isinstance(c, ParticipantJoined) else "leave", c.conference, c.uniqueid, c.at)
        for c in fold(name)[1]
        if isinstance(c, ParticipantJoined | ParticipantLeft)
    ]
    assert truth
    assert [t[:3] for t in ours] == [t[:3] for t in truth]
    for (_, _, _, at), (_, _, _, when) in zip(ours, truth, strict=True):
        assert abs(at - when) <= 1.0


@pytest.mark.parametrize("name", WITH_CONFBRIDGE)
def test_admin_flag_matches_user_profile(name: str) -> None:
    conf = profiles()
    admin_of = {
        r[15]: conf.getboolean(r[12].split(",")[2], "admin", fallback=False)
        for r in cel_rows(name)
        if r[0] == "BRIDGE_ENTER"
    }
    joins = [c for c in fold(name)[1] if isinstance(c, ParticipantJoined)]
    assert {c.uniqueid: c.admin for c in joins} == admin_of


@pytest.mark.parametrize("name", WITH_CONFBRIDGE)
def test_rooms_start_and_end_empty(name: str) -> None:
    world, changes, _ = fold(name)
    started = [c for c in changes if isinstance(c, ConferenceStarted)]
    ended = [c for c in changes if isinstance(c, ConferenceEnded)]
    assert [c.conference for c in started] == [c.conference for c in ended]
    assert all(c.participants_left == 0 for c in ended)
    assert not world.conferences


def test_mute_unmute_kick_follow_the_sent_actions() -> None:
    """The client muted then unmuted one channel and kicked another (confbridge.sent)."""
    actions = sent_actions("confbridge")
    muting = [
        (a["Channel"], a["Action"] == "ConfbridgeMute")
        for a in actions
        if a["Action"] in ("ConfbridgeMute", "ConfbridgeUnmute")
    ]
    kicked = [a["Channel"] for a in actions if a["Action"] == "ConfbridgeKick"]
    _, changes, _ = fold("confbridge")
    channel_of = {c.uniqueid: c.channel for c in changes if isinstance(c, ParticipantJoined)}
    assert [
        (channel_of[c.uniqueid], c.muted) for c in changes if isinstance(c, ParticipantMuted)
    ] == muting
    first_left = next(c for c in changes if isinstance(c, ParticipantLeft))
    assert [first_left.channel] == kicked


@pytest.mark.parametrize("name", ["confbridge", "lists"])
def test_state_equals_asterisk_confbridge_list(name: str) -> None:
    """Each ConfbridgeList item describes a participant we already track, with the same
    admin and mute flags (the mute in confbridge.ami happens between two lists)."""
    pairs = fold(name)[2]
    assert pairs
    for ours, theirs in pairs:
        assert ours == theirs
    if name == "confbridge":
        assert any(muted for _, (_, _, muted) in pairs)


def test_list_items_create_no_phantom_changes() -> None:
    """ConfbridgeListRooms/ConfbridgeList over a live-tracked session emit no change at all."""
    reducer = Reducer()
    emitted: list[Change] = []
    for env in envelopes(iter_frames(FIXTURES / "confbridge.ami")):
        changes = reducer.apply(env)
        if env.list_item and isinstance(env.item, ConfbridgeList | ConfbridgeListRooms):
            emitted.extend(c for c in changes if type(c).__module__ == "tracker.state.conference")
    assert emitted == []


def _apply(reducer: Reducer, seq: int, item: Any, list_item: bool = False) -> list[Change]:
    from tracker.events.envelope import Envelope

    return reducer.apply(Envelope(seq, item, list_item))


def test_meetme_and_recording_share_the_model() -> None:
    """No MeetMe in the lab (app_meetme needs DAHDI timing): typed events built by hand."""
    from tracker import events as ev

    reducer = Reducer()
    joined = _apply(
        reducer,
        0,
        ev.MeetmeJoin(meetme="600", user="1", uniqueid="u1", channel="SIP/a-1", timestamp=10.0),
    )
    assert [type(c).__name__ for c in joined] == ["ConferenceStarted", "ParticipantJoined"]
    room = reducer.world.conferences["600"]
    assert room.kind == "meetme"
    _apply(reducer, 1, ev.MeetmeMute(meetme="600", user="1", uniqueid="u1", status="on"))
    assert room.participants["u1"].muted
    _apply(reducer, 2, ev.MeetmeTalking(meetme="600", user="1", uniqueid="u1", status="on"))
    assert room.participants["u1"].talking
    listed = _apply(
        reducer,
        3,
        ev.MeetmeList(conference="600", user_number="1", channel="SIP/a-1", muted="Yes"),
        True,
    )
    assert listed == []
    left = _apply(reducer, 4, ev.MeetmeLeave(meetme="600", user="1", uniqueid="u1", timestamp=15.0))
    assert isinstance(left[0], ParticipantLeft)
    assert left[0].duration == 5.0
    ended = _apply(reducer, 5, ev.MeetmeEnd(meetme="600", timestamp=16.0))
    assert isinstance(ended[0], ConferenceEnded)
    assert ended[0].participants_left == 0
    assert "600" not in reducer.world.conferences

    _apply(reducer, 6, ev.ConfbridgeStart(conference="7", timestamp=20.0))
    _apply(reducer, 7, ev.ConfbridgeRecord(conference="7", timestamp=21.0))
    assert reducer.world.conferences["7"].recording
    _apply(reducer, 8, ev.ConfbridgeStopRecord(conference="7", timestamp=22.0))
    assert not reducer.world.conferences["7"].recording


def test_unknown_leave_is_an_anomaly_not_an_error() -> None:
    from tracker import events as ev
    from tracker.state import Anomaly

    reducer = Reducer()
    out = _apply(reducer, 0, ev.ConfbridgeLeave(conference="1", uniqueid="x", timestamp=1.0))
    mine = [c.kind for c in out if isinstance(c, Anomaly) and c.kind.startswith("conference")]
    assert mine == ["conference_leave_unknown"]
