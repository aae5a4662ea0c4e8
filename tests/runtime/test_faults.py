"""Timeouts, keepalive, banner check, slow consumers and secret hygiene over real TCP."""

from __future__ import annotations

import logging

import pytest
import trio

from tests.helpers import FIXTURES
from tracker.errors import (
    ActionTimeoutError,
    AuthenticationError,
    ConnectionLostError,
    OverloadError,
    RemoteProtocolError,
    TrackerError,
)
from tracker.events.actions import PingAction, StatusAction
from tracker.events.base import SessionStarted
from tracker.runtime import AmiClient, Received, connect, run_simulator

from ._support import HOST, expected_stream, silent_ami, tcp_server, url

LEAKY = "Sup3r-s3cret-Value_42"


async def drain(client: AmiClient, into: list[Received]) -> None:
    async for received in client.events():
        into.append(received)


async def test_action_timeout_keeps_the_connection() -> None:
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            port = await tcp_server(nursery, silent_ami)
            async with connect(url(port), keepalive=None, action_timeout=0.2) as client:
                with pytest.raises(ActionTimeoutError, match="Ping"):
                    await client.send("Ping")
                assert client.connected
                with pytest.raises(ActionTimeoutError):
                    await client.send(("Status", {}), time_limit=0.05)
            nursery.cancel_scope.cancel()


async def test_unanswered_keepalive_drops_the_connection() -> None:
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            port = await tcp_server(nursery, silent_ami)
            async with connect(url(port), keepalive=0.05, action_timeout=0.1) as client:
                got: list[Received] = []
                with pytest.raises(ConnectionLostError, match="keepalive"):
                    await drain(client, got)
                assert client.stats.keepalive_failures == 1
                assert len(got) == 2  # banner and login response
            nursery.cancel_scope.cancel()


async def test_keepalive_pings_are_sent() -> None:
    with trio.fail_after(10):
        async with (
            run_simulator(FIXTURES / "basic.ami", events_only=True) as sim,
            connect(url(sim.port), keepalive=0.05) as client,
        ):
            await trio.sleep(0.4)
            assert client.connected
        assert sim.sessions[0].actions.count("Ping") >= 3


@pytest.mark.parametrize(
    "greeting", [b"SSH-2.0-OpenSSH_9.6\r\n", b"HTTP/1.1 400 Bad Request\r\nServer: x\r\n\r\n"]
)
async def test_not_an_ami_server(greeting: bytes) -> None:
    async def handler(stream: trio.SocketStream) -> None:
        await stream.send_all(greeting)
        await trio.sleep(5)

    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            port = await tcp_server(nursery, handler)
            with pytest.raises(RemoteProtocolError, match="not an AMI server"):
                async with connect(url(port)):
                    pytest.fail("should not connect")
            nursery.cancel_scope.cancel()


async def test_connection_refused_is_connection_lost() -> None:
    with trio.fail_after(10):
        listeners = await trio.open_tcp_listeners(0, host=HOST)
        port = listeners[0].socket.getsockname()[1]
        await listeners[0].aclose()  # nothing listens there now
        with pytest.raises(ConnectionLostError, match="cannot connect"):
            async with connect(url(port)):
                pytest.fail("should not connect")


async def test_slow_consumer_overflow_is_counted_and_drops_the_connection() -> None:
    with trio.fail_after(10):
        async with run_simulator(FIXTURES / "basic.ami") as sim:
            async with connect(url(sim.port), buffer=8, keepalive=None) as client:
                await sim.sessions[0].done.wait()  # the client hung up on overload
                assert client.stats.overflows == 1
                assert not client.connected
                got: list[Received] = []
                with pytest.raises(OverloadError):
                    await drain(client, got)
            assert len(got) == 8
            assert sim.sessions[0].closed_by == "peer"
            assert sim.sessions[0].streamed == len(expected_stream("basic.ami"))


async def test_reconnect_after_overload_resyncs() -> None:
    """With run(), an overload drops the session and a new SessionStarted follows."""
    with trio.fail_after(10):
        async with run_simulator(FIXTURES / "basic.ami") as sim:
            client = AmiClient(url(sim.port), buffer=8, keepalive=None, backoff_initial=0.01)
            async with trio.open_nursery() as nursery:
                await nursery.start(client.run)
                await sim.sessions[0].done.wait()  # first session dropped on overload
                assert client.stats.overflows == 1
                names = []
                async for received in client.events():
                    names.append(type(received.envelope.item).__name__)
                    if names.count("SessionStarted") == 2:
                        break
                await client.aclose()
                nursery.cancel_scope.cancel()
    assert names[0] == "SessionStarted"
    assert len(names) > 8  # the 8 buffered frames, then the new session
    assert client.stats.sessions >= 2


async def test_typed_actions() -> None:
    with trio.fail_after(10):
        async with (
            run_simulator(FIXTURES / "lists.ami", events_only=True) as sim,
            connect(url(sim.port), keepalive=None) as client,
        ):
            pong = await client.send(PingAction())
            mine = await client.send(PingAction(action_id="my-ping-1"))
            response, items = await client.send_list(StatusAction())
    assert pong.ok
    assert mine.action_id == "my-ping-1"
    assert response.ok
    assert len(items) == 16  # lists.ami: StatusComplete ListItems: 16
    assert {type(i).__name__ for i in items} == {"Status"}


async def test_secret_never_leaks(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    errors: list[TrackerError] = []
    with trio.fail_after(10):
        async with run_simulator(FIXTURES / "basic.ami", secret=LEAKY) as sim:
            for auth in ("plain", "md5"):
                async with connect(url(sim.port, secret=LEAKY, auth=auth)) as client:
                    texts = [repr(client), str(client.target), repr(client.target)]
                    assert (await client.send("Ping")).ok
                async with connect(url(sim.port, secret=LEAKY, auth=auth), buffer=4) as client:
                    await sim.sessions[-1].done.wait()  # overflowed: dropped
                    with pytest.raises(OverloadError) as over:
                        await drain(client, [])
                    errors.append(over.value)
                with pytest.raises(AuthenticationError) as auth_error:
                    async with connect(url(sim.port, secret=LEAKY + "x", auth=auth)):
                        pass
                errors.append(auth_error.value)
            with pytest.raises(ConnectionLostError) as lost:
                await client.send("Ping")
            errors.append(lost.value)
    texts += [str(e) for e in errors] + [repr(e) for e in errors]
    assert caplog.text  # the client did log
    assert "***" in texts[0]
    for text in [*texts, caplog.text]:
        assert LEAKY not in text


async def test_frames_arriving_with_the_login_response_are_delivered() -> None:
    """Events sent in the same segment as the login answer must not wait for more data."""
    stream_bytes = b"".join(f.raw for f in expected_stream("basic.ami"))

    async def eager(stream: trio.SocketStream) -> None:
        await stream.send_all(b"Asterisk Call Manager/11.0.0\r\n")
        request = b""
        while b"\r\n\r\n" not in request:
            request += await stream.receive_some(4096)
        await stream.send_all(
            b"Response: Success\r\nActionID: tracker-1\r\n"
            b"Message: Authentication accepted\r\n\r\n" + stream_bytes
        )
        await trio.sleep(10)

    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            port = await tcp_server(nursery, eager)
            async with connect(url(port), keepalive=None, action_timeout=0.5) as client:
                got: list[Received] = []
                async for received in client.events():
                    got.append(received)
                    if len(got) == 2 + len(expected_stream("basic.ami")):
                        break
                assert client.connected
            nursery.cancel_scope.cancel()
    assert b"".join(r.frame.raw for r in got[2:]) == stream_bytes


async def test_run_does_not_retry_a_refused_login() -> None:
    with trio.fail_after(10):
        async with run_simulator(FIXTURES / "basic.ami", secret="right") as sim:
            client = AmiClient(url(sim.port, secret="wrong"), backoff_initial=0.01)
            with pytest.raises(AuthenticationError):
                await client.run()
            with pytest.raises(AuthenticationError):
                await drain(client, [])
    assert len(sim.sessions) == 1


async def test_run_retries_until_the_server_answers() -> None:
    accepted = 0

    async def flaky(stream: trio.SocketStream) -> None:
        nonlocal accepted
        accepted += 1
        if accepted <= 2:
            return  # hang up before the banner
        await silent_ami(stream)

    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            port = await tcp_server(nursery, flaky)
            client = AmiClient(url(port), keepalive=None, backoff_initial=0.01, backoff_max=0.02)
            await nursery.start(client.run)
            assert client.connected
            assert client.stats.connect_failures == 2
            first = await client.receive_channel.receive()
            assert first.envelope.item == SessionStarted(banner="Asterisk Call Manager/11.0.0")
            nursery.cancel_scope.cancel()


def test_backoff_grows_with_jitter_and_is_capped() -> None:
    client = AmiClient("ami://u:s@127.0.0.1:1", backoff_initial=0.5, backoff_max=30.0)
    for attempt, (low, high) in enumerate([(0.25, 0.5), (0.5, 1.0), (1.0, 2.0), (2.0, 4.0)]):
        delays = {client._backoff(attempt) for _ in range(20)}
        assert all(low <= d <= high for d in delays)
        assert len(delays) > 1  # jittered
    assert all(15.0 <= client._backoff(50) <= 30.0 for _ in range(20))
