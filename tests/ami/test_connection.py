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
    items = [f for f in frames if f.kind is FrameKind.LIST_ITEM]
    for r in lists:
        assert r.complete is not None
        mine = [i for i in items if i.action_id == r.action_id and i is not r.complete]
        assert int(r.complete.get("ListItems") or -1) == len(mine)
        # a passive capture: the lists were asked by another client, their items are not kept
        assert r.items == [] and r.dropped == len(mine)
    # every response is answered exactly once; list items never leak into live events
    responses = [f for f in frames if f.kind is FrameKind.RESPONSE]
    assert len(results) == len(responses)
    completes = {id(r.complete) for r in lists}
    assert {i.action_id for i in items} == {r.action_id for r in lists}
    assert len(items) == sum(r.dropped for r in lists) + len(completes)
    assert all(f.problem is None for f in frames)


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


LIST_START = b"Response: Success\r\nActionID: %s\r\nEventList: start\r\n\r\n"
ITEM = b"Event: CoreShowChannel\r\nActionID: %s\r\nUniqueid: %d\r\n\r\n"
COMPLETE = b"Event: CoreShowChannelsComplete\r\nActionID: %s\r\nEventList: Complete\r\n\r\n"


def test_unsolicited_list_items_flow_but_are_not_kept() -> None:
    """A server sending list items nobody asked for: classified, counted, never kept."""
    conn = AmiConnection(expect_banner=False, max_list_items=1000)
    assert conn.frames(LIST_START % b"theirs")[0].completes is None
    flood = b"".join(ITEM % (b"theirs", i) for i in range(5000))
    out = conn.frames(flood)
    assert len(out) == 5000 and all(f.kind is FrameKind.LIST_ITEM for f in out)
    assert conn._open_lists["theirs"].items == []  # nothing held
    # going over max_list_items is an anomaly, noted on the frame where it happened
    assert conn.list_overflows == 1
    assert [i for i, f in enumerate(out) if f.problem] == [1000]
    assert "more than 1000 items" in (out[1000].problem or "")
    done = conn.frames(COMPLETE % b"theirs")[0].completes
    assert done is not None and done.items == [] and done.dropped == 5000


def test_own_list_keeps_its_items_up_to_the_bound() -> None:
    conn = AmiConnection(expect_banner=False, action_id_prefix="t", max_list_items=3)
    conn.send_action("CoreShowChannels", response="list")
    stream = LIST_START % b"t-1" + b"".join(ITEM % (b"t-1", i) for i in range(5))
    out = conn.frames(stream + COMPLETE % b"t-1")
    assert [f.kind for f in out[1:6]] == [FrameKind.LIST_ITEM] * 5
    done = out[-1].completes
    assert done is not None and done.action == "CoreShowChannels"
    assert [f.get("Uniqueid") for f in done.items] == ["0", "1", "2"]
    assert done.dropped == 2 and conn.list_overflows == 1
    assert out[4].problem is not None and out[5].problem is None


def test_open_lists_are_bounded_unsolicited_ones_closed_first() -> None:
    conn = AmiConnection(expect_banner=False, action_id_prefix="t", max_open_lists=3)
    conn.send_action("CoreShowChannels", response="list")  # t-1: ours, opened first
    conn.frames(LIST_START % b"t-1")
    opened = conn.frames(b"".join(LIST_START % b"x%d" % i for i in range(10)))
    assert set(conn._open_lists) == {"t-1", "x8", "x9"}
    assert conn.list_overflows == 8
    assert sum(1 for f in opened if f.problem) == 8
    # an item of a closed list is a live event again; ours still collects
    out = conn.frames(ITEM % (b"x0", 1) + ITEM % (b"t-1", 2) + COMPLETE % b"t-1")
    assert [f.kind for f in out] == [FrameKind.EVENT, FrameKind.LIST_ITEM, FrameKind.LIST_ITEM]
    done = out[-1].completes
    assert done is not None and [f.get("Uniqueid") for f in done.items] == ["2"]
