"""Typed actions: required parameters, wire encoding round trips, secrets, and the .sent files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec
import pytest

from tracker.ami import AmiConnection, FrameKind, encode_action
from tracker.events.action_base import AmiAction
from tracker.events.action_registry import decode_action, lookup_action
from tracker.events.actions import (
    ACTION_TYPES,
    ChallengeAction,
    GetvarAction,
    LoginAction,
    OriginateAction,
    QueueStatusAction,
    StatusAction,
)

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "fixtures"
SPEC_ACTIONS = json.loads((ROOT / "spec" / "ami-actions.json").read_text())


def parse_client_frames(data: bytes) -> list[tuple[tuple[str, str], ...]]:
    conn = AmiConnection(expect_banner=False)
    conn.receive_data(data)
    conn.receive_data(b"")
    frames = list(conn)
    assert all(f.kind is FrameKind.ACTION for f in frames), frames
    return [f.headers for f in frames]


def sample_kwargs(cls: type[AmiAction], *, required_only: bool) -> dict[str, Any]:
    info = msgspec.inspect.type_info(cls)
    assert isinstance(info, msgspec.inspect.StructType)
    kwargs: dict[str, Any] = {}
    numbered = {attr for attr, _, n in cls.__params__ if n}
    for attr, _wire, _ in cls.__params__:
        f = next(f for f in info.fields if f.name == attr)
        if required_only and not f.required:
            continue
        t = f.type
        kinds = t.types if isinstance(t, msgspec.inspect.UnionType) else (t,)
        if attr in numbered or any(isinstance(k, msgspec.inspect.ListType) for k in kinds):
            kwargs[attr] = [f"{attr}-a", f"{attr}-b"]
        else:
            kwargs[attr] = f"v-{attr}"
    return kwargs


def test_registry() -> None:
    assert len(ACTION_TYPES) == len(SPEC_ACTIONS) + 2 == 152
    for spec in SPEC_ACTIONS:
        cls = ACTION_TYPES[spec["wire"]]
        assert cls.__name__ == spec["wire"] + "Action"
        assert cls.__wire__ == spec["wire"]
        expected = "follow" if spec.get("follow_events") else spec["response"]
        assert cls.__response__ == expected
        if spec["response"] == "list":
            assert cls.__complete_event__ == spec["complete_event"]
            assert cls.__list_events__ == tuple(spec["list_events"])
        assert cls.__doc__
    assert lookup_action("getvar") is GetvarAction
    assert lookup_action("GetVar") is GetvarAction
    assert lookup_action("NoSuchAction") is None
    assert ACTION_TYPES["Login"] is LoginAction
    assert ACTION_TYPES["Challenge"] is ChallengeAction


@pytest.mark.parametrize("wire", sorted(ACTION_TYPES))
def test_required_params_and_round_trip(wire: str) -> None:
    cls = ACTION_TYPES[wire]
    required = sample_kwargs(cls, required_only=True)
    cls(**required)  # enough
    for missing in required:
        partial = {k: v for k, v in required.items() if k != missing}
        with pytest.raises(TypeError):
            cls(**partial)

    action = cls(action_id="id-1", **sample_kwargs(cls, required_only=False))
    params = action.wire_params()
    wire_bytes = encode_action(wire, "id-1", params)
    (headers,) = parse_client_frames(wire_bytes)
    assert headers == (("Action", wire), ("ActionID", "id-1"), *params)
    assert decode_action(headers) == action


def test_spec_required_params_are_required() -> None:
    for spec in SPEC_ACTIONS:
        cls = ACTION_TYPES[spec["wire"]]
        info = msgspec.inspect.type_info(cls)
        assert isinstance(info, msgspec.inspect.StructType)
        required = {f.encode_name for f in info.fields if f.required}
        documented = {
            p["name"]
            for p in spec["parameters"]
            if p["required"] and p["name"] != "ActionID" and not p.get("name_pattern")
        }
        assert required == documented, spec["wire"]


def test_value_encoding() -> None:
    o = OriginateAction(
        channel="Local/100@phones",
        exten="200",
        priority=1,
        async_=True,
        early_media=False,
        variable={"__LAB_SCENARIO": "x", "PHONE_HOLD": "60"},
    )
    params = o.wire_params()
    assert ("Async", "true") in params
    assert ("EarlyMedia", "false") in params
    assert ("Priority", "1") in params
    assert [v for k, v in params if k == "Variable"] == ["__LAB_SCENARIO=x", "PHONE_HOLD=60"]
    as_list = OriginateAction(channel="c", variable=["A=1", "A=2"])
    assert [v for k, v in as_list.wire_params() if k == "Variable"] == ["A=1", "A=2"]


def test_send_args_and_to_bytes() -> None:
    name, params, kwargs = StatusAction(channel="Local/1@x").send_args()
    assert name == "Status"
    assert params == [("Channel", "Local/1@x")]
    assert kwargs == {"response": "list", "complete_event": "StatusComplete"}

    conn = AmiConnection(expect_banner=False)
    data = QueueStatusAction(queue="sales").to_bytes(conn)
    aid = conn.last_action_id
    assert aid is not None
    assert aid in conn.awaiting
    assert data == f"Action: QueueStatus\r\nActionID: {aid}\r\nQueue: sales\r\n\r\n".encode()
    # the connection now groups the answer as a list ending with QueueStatusComplete
    reply = (
        f"Response: Success\r\nActionID: {aid}\r\nEventList: start\r\n\r\n"
        f"Event: QueueParams\r\nActionID: {aid}\r\nQueue: sales\r\n\r\n"
        f"Event: QueueStatusComplete\r\nActionID: {aid}\r\nEventList: Complete\r\n"
        "ListItems: 1\r\n\r\n"
    ).encode()
    frames = conn.frames(reply)
    done = frames[-1].completes
    assert done is not None
    assert done.action == "QueueStatus"
    assert len(done.items) == 1

    fixed = GetvarAction(variable="X", action_id="mine").to_bytes(AmiConnection())
    assert fixed.startswith(b"Action: Getvar\r\nActionID: mine\r\nVariable: X\r\n")


def test_secrets_hidden_from_repr() -> None:
    login = LoginAction(username="lab", secret="labsecret", events="on")
    assert "labsecret" not in repr(login)
    assert "labsecret" not in str(login)
    assert "lab" in repr(login)
    md5 = LoginAction(username="lab", auth_type="MD5", key="0123abcd")
    assert "0123abcd" not in repr(md5)
    extra = decode_action((("Action", "Login"), ("Username", "u"), ("SECRET", "zz9")))
    assert extra is not None
    assert "zz9" not in repr(extra)
    assert ("Secret", "zz9") in [(k.title(), v) for k, v in extra.wire_params()]


SENT = sorted(FIXTURES.glob("*.sent"))


@pytest.mark.parametrize("path", SENT, ids=[p.name for p in SENT])
def test_sent_files_decode_and_reencode(path: Path) -> None:
    frames = parse_client_frames(path.read_bytes())
    assert frames
    typed = 0
    for headers in frames:
        name = headers[0][1]
        if name == "NoSuchAction":
            assert decode_action(headers) is None
            continue
        keys = {k.lower() for k, _ in headers}
        if name == "Hangup" and "channel" not in keys:  # lists.sent: the deliberate bad request
            with pytest.raises(TypeError, match="channel"):
                decode_action(headers)
            continue
        action = decode_action(headers)
        assert action is not None, name
        typed += 1
        assert type(action).__wire__.lower() == name.lower()
        assert type(action) is ACTION_TYPES[type(action).__wire__]
        assert not action.extra_params, (name, action.extra_params)
        again = [("Action", type(action).__wire__)]
        if action.action_id is not None:
            again.append(("ActionID", action.action_id))
        again += action.wire_params()

        def norm(hs: Any) -> list[tuple[str, str]]:
            return sorted((k.lower(), v) for k, v in hs)

        assert norm(again) == norm(headers)
    assert typed >= 1
