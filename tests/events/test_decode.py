"""Every captured frame decodes into its typed item, and the typed fields say what the wire said."""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import msgspec
import pytest

from tracker.ami import AmiConnection, Frame, FrameKind
from tracker.capture import iter_frames, read_bytes
from tracker.events import (
    EVENT_TYPES,
    AmiEvent,
    AmiResponse,
    AttendedTransfer,
    Newchannel,
    OriginateResponse,
    ProtocolAnomaly,
    SessionStarted,
    Status,
    UndecodableEvent,
    UnknownEvent,
    UserEvent,
    VarSet,
    decode_frame,
    decode_headers,
    envelopes,
    lookup,
)

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "fixtures"
CAPTURES = [*sorted(p.name for p in FIXTURES.glob("*.ami")), "load.ami.gz"]
SPEC_EVENTS = json.loads((ROOT / "spec" / "ami-events.json").read_text())
BASE_WIRE = {"Privilege": "privilege", "ActionID": "action_id", "SystemName": "system_name"}


@cache
def frames_of(name: str) -> list[Frame]:
    return list(iter_frames(FIXTURES / name))


def event_frames() -> Iterator[tuple[str, Frame]]:
    for name in CAPTURES:
        for frame in frames_of(name):
            if frame.kind in (FrameKind.EVENT, FrameKind.LIST_ITEM):
                yield name, frame


@cache
def field_map(cls: type[AmiEvent]) -> dict[str, tuple[str, str]]:
    """Wire header -> (attribute, "dict" | "list" | "one")."""
    info = msgspec.inspect.type_info(cls)
    assert isinstance(info, msgspec.inspect.StructType)
    out: dict[str, tuple[str, str]] = {}
    for f in info.fields:
        t = f.type
        kinds = t.types if isinstance(t, msgspec.inspect.UnionType) else (t,)
        kind = "one"
        if any(isinstance(k, msgspec.inspect.DictType) for k in kinds):
            kind = "dict"
        elif any(isinstance(k, msgspec.inspect.ListType) for k in kinds):
            kind = "list"
        out[f.encode_name] = (f.name, kind)
    return out


def as_wire(value: Any) -> str:
    if isinstance(value, enum.Enum):
        return str(value.value)
    return str(value)


def var_dict(values: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for v in values:
        name, _, val = v.partition("=")
        out[name] = val
    return out


def check_event(headers: tuple[tuple[str, str], ...], event: AmiEvent) -> None:
    """Each header is in a typed field (equal when turned back into text), extra or scoped_vars."""
    fields = field_map(type(event))
    by_key: dict[str, list[str]] = {}
    for k, v in headers[1:]:
        by_key.setdefault(k, []).append(v)
    for key, values in by_key.items():
        if key == "Timestamp":
            assert event.timestamp == float(values[0])
        elif key.startswith("ChanVariable("):
            assert event.scoped_vars[key[len("ChanVariable(") : -1]] == var_dict(values)
        elif key in fields and key not in ("__extra__", "__scoped_vars__"):
            attr, kind = fields[key]
            value = getattr(event, attr)
            if kind == "dict":
                assert value == var_dict(values), key
            elif kind == "list":
                assert value == values, key
            else:
                assert as_wire(value) == values[0], key
                if len(values) > 1:
                    assert event.extra[key] == "\n".join(values[1:])
        else:
            assert event.extra[key] == "\n".join(values), key
    # nothing invented: every set field came from a header
    for wire, (attr, _kind) in fields.items():
        if wire in ("__extra__", "__scoped_vars__", "Event"):
            continue
        value = getattr(event, attr)
        if value is not None and value != {} and value != []:
            assert wire in by_key, (type(event).__name__, wire)
    assert set(event.extra) <= set(by_key)


def test_every_captured_frame_decodes() -> None:
    problems: list[str] = []
    kinds_seen: set[type] = set()
    n = 0
    for capture in CAPTURES:
        for frame in frames_of(capture):
            item = decode_frame(frame)
            n += 1
            kinds_seen.add(type(item))
            if isinstance(item, UnknownEvent | UndecodableEvent):
                problems.append(f"{capture}: {item!r}")
            if frame.kind is FrameKind.BANNER:
                assert isinstance(item, SessionStarted)
                assert item.banner == "Asterisk Call Manager/11.0.0"
            elif frame.kind is FrameKind.RESPONSE:
                assert isinstance(item, AmiResponse)
                assert item.headers == frame.headers
                assert item.response == frame.headers[0][1]
                assert item.action_id == frame.get("ActionID")
                assert item.message == frame.get("Message")
                assert item.output == frame.get_all("Output")
            elif frame.kind in (FrameKind.EVENT, FrameKind.LIST_ITEM):
                assert isinstance(item, AmiEvent)
                assert type(item) is EVENT_TYPES[frame.name]
    assert problems == []
    assert n > 35_000


def test_command_output_lines() -> None:
    responses = [decode_frame(f) for f in frames_of("lists.ami") if f.kind is FrameKind.RESPONSE]
    outputs = [r.output for r in responses if isinstance(r, AmiResponse) and r.output]
    assert len(outputs) == 3  # three Command actions
    assert any(any("Asterisk 22.10.1" in line for line in out) for out in outputs)


def test_typed_fields_equal_raw_headers() -> None:
    seen: set[str] = set()
    for _capture, frame in event_frames():
        event = decode_frame(frame)
        assert isinstance(event, AmiEvent)
        check_event(frame.headers, event)
        seen.add(frame.name)
    assert len(seen) >= 70


def test_every_event_type_in_fixtures_has_typed_non_str_fields_where_expected() -> None:
    ev = decode_headers(next(f for _, f in event_frames() if f.name == "Newchannel").headers)
    assert isinstance(ev, Newchannel)
    assert isinstance(ev.channel_state, int)
    assert isinstance(ev.priority, int)
    assert isinstance(ev.timestamp, float)
    assert ev.channel_state_desc == "Down"
    assert isinstance(ev.exten, str)  # digits, but an extension is a name
    assert set(ev.chan_variable) == {"LAB_SCENARIO", "LAB_ROLE"}


def test_extras_scoped_vars_and_repeated_headers() -> None:
    user = [decode_headers(f.headers) for _, f in event_frames() if f.name == "UserEvent"]
    assert user
    assert all(isinstance(u, UserEvent) for u in user)
    assert any({"Caller", "Target"} <= set(u.extra) for u in user)

    orig = [
        e
        for _, f in event_frames()
        if f.name == "OriginateResponse" and (e := decode_frame(f)) is not None
    ]
    assert all(isinstance(o, OriginateResponse) for o in orig)
    scoped = [o for o in orig if isinstance(o, AmiEvent) and o.scoped_vars]
    assert scoped
    for o in scoped:
        for chan, variables in o.scoped_vars.items():
            assert chan.startswith("Local/")
            assert "LAB_SCENARIO" in variables or "LAB_ROLE" in variables

    transfers = [decode_frame(f) for _, f in event_frames() if f.name == "AttendedTransfer"]
    assert [t.is_external for t in transfers if isinstance(t, AttendedTransfer)] == ["No"]

    status_all = [
        s
        for _, f in event_frames()
        if f.name == "Status" and isinstance(s := decode_frame(f), Status) and s.variable
    ]
    assert status_all, "Status with AllVariables: true repeats Variable"
    assert all(isinstance(s.variable, dict) and len(s.variable) > 2 for s in status_all)


def test_fallback_frames_decode() -> None:
    fallback = [f for f in frames_of("encoding.ami") if f.fallback]
    assert fallback
    for frame in fallback:
        item = decode_frame(frame)
        assert isinstance(item, AmiEvent)
        assert not isinstance(item, UnknownEvent | UndecodableEvent)
    assert any("Jos\xe9 M\xfcller" in f.raw.decode("latin-1") for f in fallback)


def test_registry_completeness() -> None:
    readme = (ROOT / "spec" / "README.md").read_text()
    section = readme.split("## List replies missing from the seed", 1)[1].split("\n## ", 1)[0]
    missing = re.findall(r"`(\w+)` \(", section)
    assert len(missing) == 45
    spec_wire = [e["wire"] for e in SPEC_EVENTS if not e.get("catch_all")]
    assert len(spec_wire) == 180
    expected = set(spec_wire) | set(missing) | {"ChannelHungup", "ChannelsHungupListComplete"}
    assert set(EVENT_TYPES) == expected
    assert len(EVENT_TYPES) == 227
    for wire, cls in EVENT_TYPES.items():
        info = msgspec.inspect.type_info(cls)
        assert isinstance(info, msgspec.inspect.StructType)
        assert info.tag == wire
        assert issubclass(cls, AmiEvent)
        assert cls.__name__ == wire.replace("-", "_")
        assert cls.__doc__
        assert lookup(wire) is cls
        assert lookup(wire.lower()) is cls
        assert lookup(wire.upper()) is cls
    assert lookup("NoSuchEvent") is None
    assert EVENT_TYPES["newchannel"] is Newchannel
    assert EVENT_TYPES.get("NEWCHANNEL") is Newchannel
    assert EVENT_TYPES.get("NoSuchEvent") is None
    with pytest.raises(KeyError):
        EVENT_TYPES["NoSuchEvent"]


def test_spec_headers_are_fields() -> None:
    for spec in SPEC_EVENTS:
        if spec.get("catch_all"):
            continue
        fields = field_map(EVENT_TYPES[spec["wire"]])
        for h in spec["headers"]:
            assert h["name"] in fields or h["name"] in (*BASE_WIRE, "Timestamp", "Event"), (
                spec["wire"],
                h["name"],
            )


def test_case_insensitive_unknown_and_undecodable() -> None:
    ev = decode_headers((("Event", "newchannel"), ("Channel", "X/1"), ("ChannelState", "4")))
    assert isinstance(ev, Newchannel)
    assert ev.channel == "X/1"
    assert ev.channel_state == 4

    unk = decode_headers((("Event", "BrandNew"), ("Foo", "1"), ("Foo", "2"), ("ActionID", "a")))
    assert isinstance(unk, UnknownEvent)
    assert unk.name == "BrandNew"
    assert unk.headers == (("Event", "BrandNew"), ("Foo", "1"), ("Foo", "2"), ("ActionID", "a"))
    assert unk.action_id == "a"

    bad = decode_headers((("Event", "Newchannel"), ("ChannelState", "up")))
    assert isinstance(bad, UndecodableEvent)
    assert bad.name == "Newchannel"
    assert "ChannelState" in bad.error
    assert bad.headers == (("Event", "Newchannel"), ("ChannelState", "up"))

    empty_int = decode_headers((("Event", "Newchannel"), ("Priority", "")))
    assert isinstance(empty_int, UndecodableEvent)


def test_repeated_single_header_keeps_first_and_extra() -> None:
    ev = decode_headers(
        (
            ("Event", "Newchannel"),
            ("Channel", "A"),
            ("Channel", "B"),
            ("Odd", "1"),
            ("Odd", "2"),
            ("ChanVariable", "X=1=2"),
        )
    )
    assert isinstance(ev, Newchannel)
    assert ev.channel == "A"
    assert ev.extra == {"Channel": "B", "Odd": "1\n2"}
    assert ev.chan_variable == {"X": "1=2"}
    bare = decode_headers(
        (("Event", "VarSet"), ("ChanVariable", "BARE"), ("ChanVariable", "Y=")),
    )
    assert isinstance(bare, VarSet)
    assert bare.chan_variable == {"BARE": "", "Y": ""}


def test_decode_frame_banner_response_anomaly() -> None:
    conn = AmiConnection()
    frames = conn.frames(
        b"Asterisk Call Manager/11.0.0\r\n"
        b"Response: Success\r\nActionID: 1\r\nMessage: Pong\r\nTimestamp: 1.5\r\n\r\n"
        b"garbage line\r\n\r\n"
    )
    items = [decode_frame(f) for f in frames]
    assert isinstance(items[0], SessionStarted)
    assert isinstance(items[1], AmiResponse)
    assert items[1].ok
    assert items[1].message == "Pong"
    assert items[1].action_id == "1"
    assert ("Timestamp", "1.5") in items[1].headers
    assert isinstance(items[2], ProtocolAnomaly)
    assert items[2].raw == b"garbage line\r\n\r\n"


@pytest.mark.parametrize("capture", ["lists.ami", "reconnect.late.ami"])
def test_envelopes(capture: str) -> None:
    frames = frames_of(capture)
    envs = list(envelopes(frames, start_seq=10))
    assert [e.seq for e in envs] == list(range(10, 10 + len(frames)))
    assert [e.list_item for e in envs] == [f.kind is FrameKind.LIST_ITEM for f in frames]
    assert any(e.list_item for e in envs)
    assert all(e.received_at is None for e in envs)
    for env, frame in zip(envs, frames, strict=True):
        assert env.item == decode_frame(frame)


def test_load_capture_byte_count_matches() -> None:
    """The frames decoded from load.ami.gz cover the whole stream (nothing skipped)."""
    data = read_bytes(FIXTURES / "load.ami.gz")
    assert sum(len(f.raw) for f in frames_of("load.ami.gz")) == len(data)


def test_unmodelled_headers_keep_wire_order() -> None:
    """``extra`` follows the wire order (decoding must not depend on the hash seed)."""
    from tracker.events import UserEvent, decode_headers

    keys = [f"Custom{i}" for i in range(12)]
    headers = (("Event", "UserEvent"), ("UserEvent", "X"), *((k, k.lower()) for k in keys))
    event = decode_headers(headers)
    assert isinstance(event, UserEvent)
    assert list(event.extra) == keys
