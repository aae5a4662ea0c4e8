"""Client <-> simulator over real TCP on 127.0.0.1, serving the real captures."""

from __future__ import annotations

import hashlib

import pytest
import trio

from tests.helpers import FIXTURES
from tracker.ami import AmiConnection, FrameKind
from tracker.errors import AuthenticationError, ConnectionLostError
from tracker.events.base import AmiEvent, AmiResponse, SessionStarted
from tracker.runtime import AmiClient, Received, connect, run_simulator

from ._support import (
    HOST,
    SECRET,
    USER,
    expected_stream,
    recorded_list,
    url,
    without_action_id,
)


async def take(client: AmiClient, n: int) -> list[Received]:
    out: list[Received] = []
    async for received in client.events():
        out.append(received)
        if len(out) == n:
            break
    return out


async def collect(client: AmiClient, into: list[Received]) -> None:
    async for received in client.events():
        into.append(received)


async def test_plain_login_then_capture_stream() -> None:
    with trio.fail_after(10):
        expected = expected_stream("basic.ami")
        async with (
            run_simulator(FIXTURES / "basic.ami", username=USER, secret=SECRET) as sim,
            connect(url(sim.port)) as client,
        ):
            got = await take(client, 2 + len(expected))
        banner, login, *stream = got
        assert isinstance(banner.envelope.item, SessionStarted)
        assert banner.frame.raw == (FIXTURES / "basic.ami").read_bytes()[: len(banner.frame.raw)]
        assert isinstance(login.envelope.item, AmiResponse)
        assert login.frame.get("Message") == "Authentication accepted"
        assert [r.frame.raw for r in stream] == [f.raw for f in expected]
        assert [r.frame.kind for r in stream] == [f.kind for f in expected]
        assert [r.envelope.seq for r in got] == list(range(len(got)))
        assert all(r.envelope.received_at is not None for r in got)
        await sim.sessions[0].done.wait()
        assert sim.sessions[0].auth_type == "plain"
        assert sim.sessions[0].reason == "logoff"  # leaving connect() logs off


@pytest.mark.parametrize("name", ["encoding.ami", "lists.ami", "load.ami.gz"])
async def test_events_equal_parsing_the_file(name: str) -> None:
    """Same count, names and exact bytes as parsing the capture directly (incl. Latin-1)."""
    with trio.fail_after(45):
        expected = expected_stream(name)
        async with (
            run_simulator(FIXTURES / name, secret=SECRET) as sim,
            connect(url(sim.port)) as client,
        ):
            got = (await take(client, 2 + len(expected)))[2:]
        assert len(got) == len(expected)
        assert [r.frame.name for r in got] == [f.name for f in expected]
        assert b"".join(r.frame.raw for r in got) == b"".join(f.raw for f in expected)
        events = [r for r in got if r.frame.kind is FrameKind.EVENT]
        assert events
        assert all(isinstance(r.envelope.item, AmiEvent) for r in events)
        listed = [r.envelope.list_item for r in got]
        assert listed == [f.kind is FrameKind.LIST_ITEM for f in expected]


async def test_md5_login() -> None:
    with trio.fail_after(10):
        expected = expected_stream("md5_login.ami")
        async with (
            run_simulator(FIXTURES / "md5_login.ami", username=USER, secret=SECRET) as sim,
            connect(url(sim.port, auth="md5")) as client,
        ):
            got = await take(client, 3 + len(expected))
        banner, challenge, login, *stream = got
        assert banner.frame.kind is FrameKind.BANNER
        assert (challenge.frame.get("Challenge") or "").isdigit()
        assert login.frame.get("Message") == "Authentication accepted"
        assert [r.frame.raw for r in stream] == [f.raw for f in expected]
        assert sim.sessions[0].auth_type == "md5"


@pytest.mark.parametrize("auth", ["plain", "md5"])
async def test_wrong_secret_is_refused_and_server_closes(auth: str) -> None:
    with trio.fail_after(10):
        async with run_simulator(FIXTURES / "basic.ami", username=USER, secret=SECRET) as sim:
            with pytest.raises(AuthenticationError) as info:
                async with connect(url(sim.port, secret="not-the-secret", auth=auth)):
                    pytest.fail("login should have been refused")
            await sim.sessions[0].done.wait()
        session = sim.sessions[0]
        assert not session.authenticated
        assert (session.closed_by, session.reason) == ("server", "authentication failed")
        assert session.streamed == 0
        assert "Authentication failed" in str(info.value)
        assert "not-the-secret" not in str(info.value)


async def test_wrong_md5_key_answered_like_asterisk() -> None:
    """Replaying md5_login.fail.sent gets md5_login.fail.ami's bytes (challenge aside), then EOF."""
    fixture = (FIXTURES / "md5_login.fail.ami").read_bytes()
    recorded_challenge = b"201635043"
    assert recorded_challenge in fixture
    with trio.fail_after(10):
        async with run_simulator(FIXTURES / "md5_login.ami", username=USER, secret=SECRET) as sim:
            stream = await trio.open_tcp_stream(HOST, sim.port)
            async with stream:
                await stream.send_all((FIXTURES / "md5_login.fail.sent").read_bytes())
                received = b""
                while chunk := await stream.receive_some(4096):
                    received += chunk
    conn = AmiConnection()
    frames = conn.frames(received)
    challenge = frames[1].get("Challenge")
    assert challenge is not None
    assert challenge.isdigit()
    assert received.replace(challenge.encode(), recorded_challenge) == fixture


async def test_ping_round_trip_and_unknown_action() -> None:
    with trio.fail_after(10):
        async with (
            run_simulator(FIXTURES / "basic.ami", secret=SECRET) as sim,
            connect(url(sim.port), keepalive=None) as client,
        ):
            pong = await client.send(("Ping", {}))
            assert pong.ok
            assert ("Ping", "Pong") in pong.headers
            assert float(dict(pong.headers)["Timestamp"]) > 1.7e9
            assert pong.action_id is not None
            assert pong.action_id.startswith("tracker-")
            bad = await client.send(("NoSuchThing", {"Foo": "bar"}))
            assert bad.response == "Error"
            assert bad.message is not None
            assert bad.message.startswith("Invalid/unknown command")
            # responses are delivered on the event channel too, in order, after the stream
            seen = await take(client, 2 + len(expected_stream("basic.ami")) + 2)
        assert [r.frame.action_id for r in seen[-2:]] == [pong.action_id, bad.action_id]
        assert sim.sessions[0].actions == ["Ping", "NoSuchThing", "Logoff"]


@pytest.mark.parametrize(("action", "action_id"), [("Status", "lab-16")])
async def test_send_list_returns_recorded_items(action: str, action_id: str) -> None:
    """(CoreShowChannels and QueueStatus, once their recorded answer is behind, are answered
    with what is live at that point: tests/runtime/test_reconcile.py, test_queue_census.py.)"""
    items, complete = recorded_list("lists.ami", action_id)
    assert len(items) == int(complete.get("ListItems") or -1)
    with trio.fail_after(10):
        async with (
            run_simulator(FIXTURES / "lists.ami", secret=SECRET, events_only=True) as sim,
            connect(url(sim.port), keepalive=None) as client,
        ):
            response, typed = await client.send_list((action, {}))
            raw = await client.request((action, {}), response="list")
    assert response.ok
    assert response.event_list == "start"
    assert [type(t).__name__ for t in typed] == [f.name for f in items]
    assert [without_action_id(f) for f in raw.items] == [without_action_id(f) for f in items]
    assert all(f.action_id == raw.action_id for f in [raw.response, *raw.items])
    assert raw.complete is not None
    assert raw.complete.get("ListItems") == str(len(items))


async def test_list_answer_chosen_by_params() -> None:
    """BridgeList was recorded twice; ``BridgeType: basic`` picks the filtered one."""
    all_items, _ = recorded_list("lists.ami", "lab-13")
    basic_items, _ = recorded_list("lists.ami", "lab-15")
    assert len(all_items) != len(basic_items)
    with trio.fail_after(10):
        async with (
            run_simulator(FIXTURES / "lists.ami", secret=SECRET, events_only=True) as sim,
            connect(url(sim.port), keepalive=None) as client,
        ):
            _, every = await client.send_list(("BridgeList", {}))
            _, basic = await client.send_list(("BridgeList", {"BridgeType": "basic"}))
    assert (len(every), len(basic)) == (len(all_items), len(basic_items))


async def test_drop_after_n_raises_connection_lost() -> None:
    with trio.fail_after(10):
        async with run_simulator(FIXTURES / "basic.ami", secret=SECRET, drop_after=20) as sim:
            async with connect(url(sim.port)) as client:
                got: list[Received] = []
                with pytest.raises(ConnectionLostError):
                    await collect(client, got)
                assert len(got) == 2 + 20
                assert not client.connected
                with pytest.raises(ConnectionLostError):
                    await client.send("Ping")
            assert sim.sessions[0].reason == "dropped after 20 frames"


async def test_reconnect_loop_starts_new_sessions() -> None:
    with trio.fail_after(15):
        async with run_simulator(FIXTURES / "basic.ami", secret=SECRET, drop_after=10) as sim:
            client = AmiClient(url(sim.port), backoff_initial=0.01, backoff_max=0.05)
            got: list[Received] = []
            async with trio.open_nursery() as nursery:
                await nursery.start(client.run)
                starts = 0
                async for received in client.events():
                    got.append(received)
                    if isinstance(received.envelope.item, SessionStarted):
                        starts += 1
                        if starts == 3:
                            break
                await client.aclose()
                nursery.cancel_scope.cancel()
    assert [r.envelope.seq for r in got] == list(range(len(got)))
    starts_at = [i for i, r in enumerate(got) if isinstance(r.envelope.item, SessionStarted)]
    assert starts_at == [0, 12, 24]  # banner + login response + 10 streamed frames each
    assert client.stats.sessions >= 3
    assert len(sim.sessions) >= 3


async def test_events_off_streams_nothing() -> None:
    with trio.fail_after(10):
        async with (
            run_simulator(FIXTURES / "basic.ami", secret=SECRET) as sim,
            connect(url(sim.port), events="off", keepalive=None) as client,
        ):
            pong = await client.send("Ping")
            got = await take(client, 3)
    assert [r.frame.kind for r in got] == [FrameKind.BANNER, FrameKind.RESPONSE, FrameKind.RESPONSE]
    assert got[2].frame.action_id == pong.action_id
    assert sim.sessions[0].events is False
    assert sim.sessions[0].streamed == 0


async def test_paced_replay_follows_timestamps() -> None:
    expected = expected_stream("basic.ami")
    stamps = [float(t) for f in expected if (t := f.get("Timestamp")) is not None]
    span = stamps[-1] - stamps[0]
    assert span > 1.0
    speed = span / 0.6  # the whole capture in ~0.6 s
    with trio.fail_after(10):
        async with (
            run_simulator(FIXTURES / "basic.ami", secret=SECRET, speed=speed) as sim,
            connect(url(sim.port), keepalive=None) as client,
        ):
            start = trio.current_time()
            got = await take(client, 2 + len(expected))
            elapsed = trio.current_time() - start
    assert 0.5 <= elapsed < 5.0
    assert [r.frame.raw for r in got[2:]] == [f.raw for f in expected]


def test_md5_key_matches_the_capture() -> None:
    """The lab secret reproduces the MD5 key recorded in md5_login.sent (sanity of SECRET)."""
    sent = (FIXTURES / "md5_login.sent").read_bytes()
    ami = (FIXTURES / "md5_login.ami").read_bytes()
    assert b"Challenge: 158557105" in ami
    key = hashlib.md5(b"158557105" + SECRET.encode()).hexdigest()
    assert f"Key: {key}".encode() in sent
