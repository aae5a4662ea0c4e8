"""ActionID correlation and EventList grouping, on real captures and by hand."""

from __future__ import annotations

import pytest

from tests.helpers import CAPTURES, FIXTURES, feed, load, whole
from tracker.ami import AmiConnection, FrameKind
from tracker.errors import LocalProtocolError


@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: p.name)
def test_every_list_is_complete_and_counts_match_list_items(path: object) -> None:
    data = load(path)  # type: ignore[arg-type]
    frames = feed(data, whole(data))
    starts = [f for f in frames if f.kind is FrameKind.RESPONSE and f.get("EventList") == "start"]
    results = [f.completes for f in frames if f.completes is not None]
    lists = [r for r in results if r.complete is not None]
    assert len(lists) == len(starts)
    for r in lists:
        assert r.complete is not None
        assert int(r.complete.get("ListItems") or -1) == len(r.items)
        assert all(i.action_id == r.action_id for i in r.items)
        assert all(i.kind is FrameKind.LIST_ITEM for i in r.items)
    # every response is answered exactly once; list items never leak into live events
    responses = [f for f in frames if f.kind is FrameKind.RESPONSE]
    assert len(results) == len(responses)
    listed = {id(i) for r in lists for i in r.items} | {id(r.complete) for r in lists}
    assert listed == {id(f) for f in frames if f.kind is FrameKind.LIST_ITEM}


def test_list_items_reusing_live_names_are_told_apart() -> None:
    data = load(FIXTURES / "park.ami")
    frames = feed(data, whole(data))
    parked = [f for f in frames if f.name == "ParkedCall"]
    live = [f for f in parked if f.kind is FrameKind.EVENT]
    items = [f for f in parked if f.kind is FrameKind.LIST_ITEM]
    assert live and items
    assert all(f.get("Timestamp") for f in live)
    assert all(f.get("Timestamp") is None and f.action_id for f in items)
    lists = load(FIXTURES / "lists.ami")
    dsc = [f for f in feed(lists, whole(lists)) if f.name == "DeviceStateChange"]
    assert {f.kind for f in dsc} == {FrameKind.EVENT, FrameKind.LIST_ITEM}


def test_send_and_correlate_single_and_list() -> None:
    conn = AmiConnection(action_id_prefix="t")
    wire = conn.send_action("Ping")
    assert wire == b"Action: Ping\r\nActionID: t-1\r\n\r\n"
    wire = conn.send_action(
        "CoreShowChannels", response="list", complete_event="CoreShowChannelsComplete"
    )
    assert b"ActionID: t-2" in wire
    assert conn.awaiting == {"t-1", "t-2"}
    stream = (
        b"Asterisk Call Manager/11.0.0\r\n"
        b"Response: Success\r\nActionID: t-1\r\nPing: Pong\r\n\r\n"
        b"Event: Newchannel\r\nUniqueid: 1\r\n\r\n"
        b"Response: Success\r\nActionID: t-2\r\nEventList: start\r\n\r\n"
        b"Event: CoreShowChannel\r\nActionID: t-2\r\nUniqueid: 1\r\n\r\n"
        b"Event: CoreShowChannelsComplete\r\nActionID: t-2\r\nEventList: Complete\r\n"
        b"ListItems: 1\r\n\r\n"
    )
    frames = conn.frames(stream)
    assert conn.banner == "Asterisk Call Manager/11.0.0"
    ping = frames[1].completes
    assert ping is not None and ping.ok and ping.action == "Ping" and ping.items == []
    assert frames[2].kind is FrameKind.EVENT
    assert frames[3].completes is None
    assert frames[4].kind is FrameKind.LIST_ITEM
    done = frames[5].completes
    assert done is not None and done.action == "CoreShowChannels"
    assert [i.get("Uniqueid") for i in done.items] == ["1"]
    assert conn.awaiting == frozenset()


def test_error_answer_to_a_list_action_completes_it() -> None:
    conn = AmiConnection(expect_banner=False, action_id_prefix="x")
    conn.send_action("ConfbridgeListRooms", response="list")
    frames = conn.frames(
        b"Response: Error\r\nActionID: x-1\r\nMessage: No active conferences.\r\n\r\n"
        b"Event: ConfbridgeListRooms\r\nActionID: x-1\r\n\r\n"
    )
    res = frames[0].completes
    assert res is not None and not res.ok and res.message == "No active conferences."
    assert frames[1].kind is FrameKind.EVENT  # list closed: not a list item


def test_values_cannot_inject_headers() -> None:
    conn = AmiConnection()
    with pytest.raises(LocalProtocolError):
        conn.send_action("Originate", [("Channel", "Local/1\r\nAction: Hangup")])
    with pytest.raises(LocalProtocolError):
        conn.send_action("Ping", action_id="a\nb")
    conn.send_action("Ping", action_id="same")
    with pytest.raises(LocalProtocolError):
        conn.send_action("Ping", action_id="same")


def test_sent_files_parse_as_action_frames() -> None:
    for sent in sorted(FIXTURES.glob("*.sent")):
        data = sent.read_bytes()
        frames = feed(data, whole(data), expect_banner=False)
        assert frames and all(f.kind is FrameKind.ACTION for f in frames), sent.name
