"""Channels machine vs Asterisk's CEL (``NAME.cel.csv``): lifecycle, answer, hangup cause, DTMF.

CEL columns (0-based): 0 eventtype, 1 eventtime, 10 channame, 15 uniqueid, 16 linkedid, 20 extra.
Rules: every CHAN_START Uniqueid is created once and hung up once (``reconnect.late`` creates the
ones it learnt from CoreShowChannels, and sees the CHAN_ENDs of its period only); the first
``Up`` of a channel is CEL's ANSWER within 50 ms; the Hangup cause is CEL HANGUP's
``hangupcause``; completed DTMF digits per channel are CEL's DTMF digits, in order.
"""

from __future__ import annotations

import csv
import functools
import json
from collections import defaultdict
from typing import Any

import pytest

from tests.helpers import FIXTURES
from tracker.events import DTMFEnd
from tracker.reducer import Reducer
from tracker.replay import iter_envelopes
from tracker.state.channel import (
    ChannelCreated,
    ChannelDtmf,
    ChannelHungUp,
    ChannelStateChanged,
    DialStarted,
)

SMALL = sorted(p.name for p in FIXTURES.glob("*.ami") if p.name != "md5_login.fail.ami")
FULL = [c for c in SMALL if c != "reconnect.late.ami"]


@functools.cache
def cel(capture: str) -> list[list[str]]:
    path = FIXTURES / (capture.split(".")[0] + ".cel.csv")
    with path.open(encoding="latin-1", newline="") as f:
        return list(csv.reader(f))


@functools.cache
def changes(capture: str) -> tuple[Any, ...]:
    reducer = Reducer()
    out: list[Any] = []
    for env in iter_envelopes(FIXTURES / capture):
        out.extend(reducer.apply(env))
    return tuple(out)


def of(capture: str, cls: type[Any]) -> list[Any]:
    return [c for c in changes(capture) if type(c) is cls]


@pytest.mark.parametrize("capture", FULL)
def test_created_and_hung_up_once_per_cel_channel(capture: str) -> None:
    started = [r[15] for r in cel(capture) if r[0] == "CHAN_START"]
    created = [c.uniqueid for c in of(capture, ChannelCreated)]
    hung = [c.uniqueid for c in of(capture, ChannelHungUp)]
    assert sorted(created) == sorted(started)
    assert sorted(hung) == sorted(started)
    names = {r[15]: r[10] for r in cel(capture) if r[0] == "CHAN_END"}
    assert {c.uniqueid: c.name for c in of(capture, ChannelHungUp)} == names


def test_late_session_hangs_up_every_channel_it_knew() -> None:
    capture = "reconnect.late.ami"
    created = {c.uniqueid for c in of(capture, ChannelCreated)}
    hung = {c.uniqueid for c in of(capture, ChannelHungUp)}
    assert created == hung
    listed = {c.uniqueid for c in of(capture, ChannelCreated) if c.from_list}
    assert len(listed) == 12  # the CoreShowChannel items of its first list
    assert created <= {r[15] for r in cel(capture) if r[0] == "CHAN_START"}


@pytest.mark.parametrize("capture", FULL)
def test_first_up_is_cel_answer(capture: str) -> None:
    answers: dict[str, float] = {}
    for r in cel(capture):
        if r[0] == "ANSWER":
            answers.setdefault(r[15], float(r[1]))
    ours: dict[str, float] = {}
    for c in of(capture, ChannelStateChanged):
        if c.state == 6:
            ours.setdefault(c.uniqueid, c.at)
    # Channels created Up (Originate's Local ;2 halves) have no state change: count those too.
    for c in of(capture, ChannelCreated):
        if c.uniqueid in answers and c.uniqueid not in ours:
            ours[c.uniqueid] = c.at
    assert set(ours) == set(answers)
    for uid, t in answers.items():
        assert abs(ours[uid] - t) < 0.05, uid


@pytest.mark.parametrize("capture", FULL)
def test_hangup_cause_is_cel_hangupcause(capture: str) -> None:
    causes = {r[15]: json.loads(r[20])["hangupcause"] for r in cel(capture) if r[0] == "HANGUP"}
    assert {c.uniqueid: c.cause for c in of(capture, ChannelHungUp)} == causes


@pytest.mark.parametrize("capture", ["hold_moh_mixmonitor.ami", "transfers.ami", "load.ami.gz"])
def test_dtmf_digits_are_cel_dtmf(capture: str) -> None:
    expected: dict[str, str] = defaultdict(str)
    for r in cel(capture):
        if r[0] == "DTMF":
            expected[r[15]] += json.loads(r[20])["digit"]
    got: dict[str, str] = defaultdict(str)
    for c in of(capture, ChannelDtmf):
        if c.end:
            got[c.uniqueid] += c.digit
    assert got == expected


def test_channel_details_mid_call() -> None:
    """Hold, MOH, recording and DTMF flags at moments of hold_moh_mixmonitor (times from CEL)."""
    capture = "hold_moh_mixmonitor.ami"
    reducer = Reducer()
    seen: dict[str, set[str]] = defaultdict(set)
    for env in iter_envelopes(FIXTURES / capture):
        reducer.apply(env)
        for ch in reducer.world.channels.values():
            if ch.on_hold:
                seen[ch.uniqueid].add("hold")
            if ch.moh_class is not None:
                seen[ch.uniqueid].add("moh")
            if ch.recording:
                seen[ch.uniqueid].add("recording")
            if ch.recording_muted is not None:
                seen[ch.uniqueid].add("muted")
        if isinstance(env.item, DTMFEnd):
            ch = reducer.world.channels[env.item.uniqueid or ""]
            assert ch.dtmf.endswith(env.item.digit or "?")
    caller = "1795663974.0"  # the Originate's PBX leg: Local/130@phones ;1 (CEL linkedid)
    assert {r[16] for r in cel(capture)} == {caller}
    assert {"moh", "recording", "muted", "hold"} <= seen[caller]
    assert reducer.world.channels == {}


def test_dial_relations_basic() -> None:
    dials = of("basic.ami", DialStarted)
    # Originate's own dial has no dialling channel; then the PBX leg dials the callee.
    assert [d.caller for d in dials] == [None, "1795663834.0"]
    uid_by_name = {r[10]: r[15] for r in cel("basic.ami") if r[0] == "CHAN_START"}
    peer = next(
        r[17] for r in cel("basic.ami") if r[0] == "BRIDGE_ENTER" and r[15] == dials[1].caller
    )
    assert dials[1].dest == uid_by_name[peer]
