"""Channel lists as reconciliation, on load.ami.gz: what a list must not close or duplicate.

Asterisk writes a ``CoreShowChannels`` answer from its channel cache while events about those
channels may still be queued: a channel can be listed before its ``Newchannel`` arrives (the
capture has such a case), and a channel can be created while the list is in flight.
"""

from __future__ import annotations

import pytest

from tests.helpers import FIXTURES
from tracker.ami import AmiConnection, Frame
from tracker.capture import iter_frames
from tracker.events import envelopes
from tracker.reducer import Reducer
from tracker.runtime.census import ChannelCensus
from tracker.state import Anomaly, Change
from tracker.state.call import Call, CallEnded
from tracker.state.channel import ChannelCreated, ChannelHungUp
from tracker.state.world import ListReconciled


def _fold(frames: list[Frame]) -> tuple[list[Change], Reducer]:
    reducer = Reducer()
    changes = [c for env in envelopes(frames) for c in reducer.apply(env)]
    return changes, reducer


def _records(changes: list[Change]) -> list[Call]:
    return [c.record for c in changes if type(c) is CallEnded]


@pytest.fixture(scope="module")
def load() -> list[Frame]:
    return list(iter_frames(FIXTURES / "load.ami.gz"))


def test_a_listed_channel_whose_newchannel_comes_later_is_created_once(
    load: list[Frame],
) -> None:
    complete = next(i for i, f in enumerate(load) if f.name == "CoreShowChannelsComplete")
    listed = {f.get("Uniqueid") for f in load[:complete] if f.name == "CoreShowChannel"}
    born_later = {f.get("Uniqueid") for f in load[complete:] if f.name == "Newchannel"} & listed
    assert born_later  # the capture's own race: listed, then its Newchannel
    changes, reducer = _fold(load)
    for uid in born_later:
        created = [c for c in changes if type(c) is ChannelCreated and c.uniqueid == uid]
        assert len(created) == 1 and created[0].from_list
        hung = [c for c in changes if type(c) is ChannelHungUp and c.uniqueid == uid]
        assert len(hung) == 1 and not hung[0].ended_while_disconnected and not hung[0].reconciled
    assert not [c for c in changes if type(c) is Anomaly and c.kind == "duplicate_channel"]
    assert reducer.world.channels == {} and reducer.world.calls == {}


def _census_list(load: list[Frame], at: int, action_id: str) -> list[Frame]:
    """What Asterisk had at frame ``at`` of the capture, as a CoreShowChannels answer."""
    census = ChannelCensus(load)
    census.advance(at)
    conn = AmiConnection()
    conn.receive_data(b"Asterisk Call Manager/11.0.0\r\n" + census.answer(action_id))
    return list(conn)[1:]


def test_a_channel_created_while_a_periodic_list_is_in_flight_is_not_closed(
    load: list[Frame],
) -> None:
    """A second list (periodic) at 3/4 of the capture, with the next channel's Newchannel
    between its Response and its items: the list closes nothing, that channel lives on."""
    at = len(load) * 3 // 4
    answer = _census_list(load, at, "reconcile-1")
    born = next(i for i in range(at, len(load)) if load[i].name == "Newchannel")
    uid = load[born].get("Uniqueid")
    assert uid not in {f.get("Uniqueid") for f in answer}
    frames = [*load[:at], answer[0], load[born], *answer[1:], *load[at:born], *load[born + 1 :]]
    base, _ = _fold(load)
    changes, reducer = _fold(frames)
    (first, periodic) = [c for c in changes if type(c) is ListReconciled]
    assert not first.periodic and periodic.periodic
    assert periodic.closed == () and periodic.listed == len(answer) - 2 > 10
    hung = [c for c in changes if type(c) is ChannelHungUp and c.uniqueid == uid]
    assert len(hung) == 1 and not hung[0].reconciled and hung[0].cause is not None
    assert not any(type(c) is ChannelHungUp and c.reconciled for c in changes)
    assert [r.linkedid for r in _records(changes)] == [r.linkedid for r in _records(base)]
    assert reducer.world.channels == {} and reducer.world.calls == {}


def test_periodic_lists_close_a_channel_whose_hangup_was_lost(load: list[Frame]) -> None:
    """Drop one Hangup, then two census lists later: the first only notes the channel as
    unlisted (its Hangup may be on the way), the second closes it (and only it),
    ``reconciled``; its call ends with the flag."""
    lost = next(i for i in range(len(load) // 2, len(load)) if load[i].name == "Hangup")
    uid = load[lost].get("Uniqueid")
    one, two = lost + 500, lost + 1000
    first, second = _census_list(load, one, "reconcile-1"), _census_list(load, two, "reconcile-2")
    frames = [*load[:lost], *load[lost + 1 : one], *first, *load[one:two], *second, *load[two:]]
    changes, reducer = _fold(frames)
    periodic = [c for c in changes if type(c) is ListReconciled and c.periodic]
    assert [(p.closed, p.unlisted) for p in periodic] == [((), (uid,)), ((uid,), ())]
    (hung,) = [c for c in changes if type(c) is ChannelHungUp and c.uniqueid == uid]
    assert hung.reconciled and not hung.ended_while_disconnected
    assert hung.seq == periodic[1].seq
    (record,) = [r for r in _records(changes) if uid in r.legs]
    assert record.reconciled and not record.ended_while_disconnected
    assert reducer.world.channels == {} and reducer.world.calls == {}


def test_a_hangup_arriving_after_a_periodic_list_is_not_taken_for_a_lost_one(
    load: list[Frame],
) -> None:
    """Asterisk took the list after a channel was gone but wrote its Hangup after the list:
    the channel is only noted as unlisted, and its own Hangup ends it normally."""
    hangup = next(i for i in range(len(load) // 2, len(load)) if load[i].name == "Hangup")
    uid = load[hangup].get("Uniqueid")
    answer = _census_list(load, hangup + 1, "reconcile-1")  # taken after the hangup
    assert uid not in {f.get("Uniqueid") for f in answer}
    frames = [*load[:hangup], *answer, *load[hangup:]]
    changes, reducer = _fold(frames)
    (periodic,) = [c for c in changes if type(c) is ListReconciled and c.periodic]
    assert periodic.closed == () and periodic.unlisted == (uid,)
    (hung,) = [c for c in changes if type(c) is ChannelHungUp and c.uniqueid == uid]
    assert not hung.reconciled and hung.cause is not None
    assert not any(r.reconciled for r in _records(changes))
    assert reducer.world.channels == {} and reducer.world.calls == {}
