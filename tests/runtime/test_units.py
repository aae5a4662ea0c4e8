"""URL parsing, action normalisation and capture indexing (no network)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.helpers import FIXTURES
from tracker.events.actions import PingAction, QueueStatusAction
from tracker.runtime.actions import ActionSpec, action_spec
from tracker.runtime.script import load_script, with_action_id
from tracker.runtime.url import parse_url

from ._support import expected_stream, recorded_list


def test_parse_url() -> None:
    t = parse_url("ami://lab:p%40ss@pbx.example:5040?auth=md5&events=call,agent")
    assert (t.host, t.port, t.username, t.secret) == ("pbx.example", 5040, "lab", "p@ss")
    assert (t.auth, t.events, t.tls) == ("md5", "call,agent", False)
    tls = parse_url("amis://u:s@h")
    assert (tls.tls, tls.port) == (True, 5039)
    assert parse_url("ami://u:s@h").port == 5038
    assert "p@ss" not in repr(t)
    assert "p@ss" not in str(t)


@pytest.mark.parametrize(
    "bad", ["http://u:s@h", "ami://h:5038", "ami://u:s@:5038", "ami://u:s@h?auth=kerberos"]
)
def test_parse_url_rejects(bad: str) -> None:
    with pytest.raises(ValueError, match="AMI URL") as info:
        parse_url(bad)
    assert ":s@" not in str(info.value)


def test_action_spec_forms() -> None:
    assert action_spec("Ping") == ActionSpec("Ping")
    spec = action_spec(
        ("Originate", {"Channel": "Local/1@x", "Async": True, "Variable": ["A=1", "B=2"]})
    )
    assert spec.params == (
        ("Channel", "Local/1@x"),
        ("Async", "true"),
        ("Variable", "A=1"),
        ("Variable", "B=2"),
    )
    assert action_spec(("Status", [("Channel", "x")]), response="list").response == "list"
    typed = action_spec(QueueStatusAction(queue="sales"))
    assert (typed.name, typed.response, typed.params) == (
        "QueueStatus",
        "list",
        (("Queue", "sales"),),
    )
    assert typed.complete_event == "QueueStatusComplete"
    assert action_spec(PingAction(action_id="x")).action_id == "x"
    with pytest.raises(TypeError):
        action_spec(42)


def test_with_action_id() -> None:
    raw = b"Response: Success\r\nActionID: lab-7\r\nMessage: ok\r\n\r\n"
    assert with_action_id(raw, "lab-7", "c-1") == raw.replace(b"lab-7", b"c-1")
    assert with_action_id(raw, "lab-7", None) == b"Response: Success\r\nMessage: ok\r\n\r\n"


def test_script_of_a_capture() -> None:
    script = load_script(FIXTURES / "lists.ami")
    assert script.banner == b"Asterisk Call Manager/11.0.0\r\n"
    assert [f.raw for f in script.stream] == [f.raw for f in expected_stream("lists.ami")]
    answer = script.find_answer("coreshowchannels", ())
    assert answer is not None
    items, complete = recorded_list("lists.ami", "lab-12")
    assert answer.frames[1:] == (*items, complete)
    assert script.find_answer("BridgeList", (("bridgetype", "basic"),)).action_id == "lab-15"  # type: ignore[union-attr]
    assert script.find_answer("NotRecorded", ()) is None


def test_script_without_sent_file_finds_lists_by_complete_event(tmp_path: Path) -> None:
    copy = tmp_path / "lists.ami"
    shutil.copy(FIXTURES / "lists.ami", copy)
    script = load_script(copy)
    answer = script.find_answer("QueueStatus", ())
    assert answer is not None
    items, complete = recorded_list("lists.ami", "lab-18")
    assert answer.frames[1:] == (*items, complete)
    assert script.find_answer("Ping", ()) is None  # single answers need the .sent file
    assert len(script.stream) == len(expected_stream("lists.ami"))


def test_parse_url_secret_from_elsewhere() -> None:
    assert parse_url("ami://lab@h", secret="from-env").secret == "from-env"
    assert parse_url("ami://lab:in-url@h", secret="from-env").secret == "in-url"
    with pytest.raises(ValueError, match="AMI URL needs"):
        parse_url("ami://lab@h")
