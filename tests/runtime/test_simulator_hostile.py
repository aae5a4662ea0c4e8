"""The simulator keeps serving everyone whatever one client does (real TCP, real captures).

Each hostile client misbehaves while a well-behaved client is connected; that client, and one
connecting afterwards, must still get the capture's full stream. ``load.ami.gz`` (14 MB) is
served when the simulator must be in the middle of sending as a client goes away.
"""

from __future__ import annotations

import logging
import socket
import ssl
import struct
from collections.abc import Awaitable, Callable

import pytest
import trio

from tests.helpers import FIXTURES
from tracker.errors import OverloadError, TrackerError
from tracker.runtime import AmiClient, connect, run_simulator
from tracker.runtime.simulator import ACTIONS_KEPT, MAX_PENDING_ANSWERS, AmiSimulator

from ._support import HOST, SECRET, USER, expected_stream, url

BIG, SMALL = "load.ami.gz", "lists.ami"
LOGIN = f"Action: Login\r\nActionID: h-1\r\nUsername: {USER}\r\nSecret: {SECRET}\r\n\r\n".encode()

Hostile = Callable[[int], Awaitable[None]]


async def _logged_in(port: int) -> trio.SocketStream:
    stream = await trio.open_tcp_stream(HOST, port)
    await stream.send_all(LOGIN)
    data = b""
    while b"Authentication accepted" not in data:
        data += await stream.receive_some(65536)
    return stream


async def stops_reading_then_closes(port: int) -> None:
    stream = await _logged_in(port)
    await trio.sleep(1)  # the simulator's sends back up
    await stream.aclose()


async def resets(port: int) -> None:
    stream = await _logged_in(port)
    await trio.sleep(0.2)
    stream.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    await stream.aclose()  # RST, with unread data on both sides


async def speaks_tls(port: int) -> None:
    """An ``amis://`` URL pointed at the plaintext port."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with pytest.raises(TrackerError):
        async with connect(f"amis://{USER}:{SECRET}@{HOST}:{port}", ssl_context=ctx):
            pass


async def overloads_the_project_client(port: int) -> None:
    """Our own AmiClient, too slow on purpose: it drops the session mid-stream."""
    async with connect(url(port), buffer=50, keepalive=None) as client:
        with pytest.raises(OverloadError):
            await consume_slowly(client)
    assert client.stats.overflows == 1


async def consume_slowly(client: AmiClient) -> None:
    async for _ in client.events():
        await trio.sleep(0.01)


async def sends_a_non_ascii_md5_key(port: int) -> None:
    async with await trio.open_tcp_stream(HOST, port) as stream:
        await stream.send_all(b"Action: Challenge\r\nActionID: c\r\nAuthType: MD5\r\n\r\n")
        await stream.send_all(
            b"Action: Login\r\nActionID: l\r\nAuthType: MD5\r\nUsername: lab\r\n"
            b"Key: \xc3\xa9\xff0123\r\n\r\n"
        )
        data = b""
        while chunk := await stream.receive_some(65536):
            data += chunk
    assert b"Authentication failed" in data  # answered like a wrong key, then closed


async def sends_garbage_and_never_logs_in(port: int) -> None:
    async with await trio.open_tcp_stream(HOST, port) as stream:
        await stream.send_all(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(range(256)))
        with trio.fail_after(10):
            while await stream.receive_some(65536):
                pass  # the simulator closes it after its login timeout


async def bad_action_id_then_hangs_up(port: int) -> None:
    stream = await _logged_in(port)
    await stream.send_all(b"Action: Ping\r\nActionID: a\rb\r\n\r\nAction: Nope\r\n\r\n")
    await trio.sleep(0.2)
    await stream.aclose()


HOSTILE: dict[str, tuple[Hostile, str]] = {
    "stops reading, then closes": (stops_reading_then_closes, BIG),
    "resets the connection": (resets, BIG),
    "overloaded AmiClient drops the session": (overloads_the_project_client, BIG),
    "speaks TLS to the plaintext port": (speaks_tls, SMALL),
    "non-ASCII MD5 key": (sends_a_non_ascii_md5_key, SMALL),
    "garbage, no login": (sends_garbage_and_never_logs_in, SMALL),
    "bare CR in an ActionID": (bad_action_id_then_hangs_up, SMALL),
}


async def full_capture(client: AmiClient, expected: bytes) -> bytes:
    got = bytearray()
    logged_in = False
    async for received in client.events():
        if logged_in:
            got += received.frame.raw
            if len(got) >= len(expected):
                break
        logged_in = logged_in or received.frame.get("Message") == "Authentication accepted"
    return bytes(got)


@pytest.mark.parametrize("name", HOSTILE)
async def test_one_hostile_client_never_stops_the_others(
    name: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="tracker.runtime.simulator")
    hostile_client, capture = HOSTILE[name]
    expected = b"".join(f.raw for f in expected_stream(capture))
    with trio.fail_after(90):
        async with run_simulator(
            FIXTURES / capture, username=USER, secret=SECRET, login_timeout=1.0
        ) as sim:
            async with connect(url(sim.port), keepalive=None) as during:
                await hostile_client(sim.port)
                hostile = sim.sessions[1]
                await hostile.done.wait()
                assert await full_capture(during, expected) == expected
            async with connect(url(sim.port, auth="md5"), keepalive=None) as after:
                assert await full_capture(after, expected) == expected
            assert hostile.closed_by in ("peer", "server")
            assert all(s.done.is_set() for s in sim.sessions[:2])
    assert "Traceback" not in caplog.text
    assert f"{hostile.peer}: connected" in caplog.text
    assert f"{hostile.peer}: closed by {hostile.closed_by}" in caplog.text
    assert SECRET not in caplog.text


async def test_a_client_that_never_logs_in_is_closed(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="tracker.runtime.simulator")
    with trio.fail_after(10):
        async with run_simulator(FIXTURES / "basic.ami", login_timeout=0.3) as sim:
            async with await trio.open_tcp_stream(HOST, sim.port) as stream:
                banner = await stream.receive_some(100)
                assert banner.startswith(b"Asterisk Call Manager/")
                assert await stream.receive_some(100) == b""  # closed by the simulator
            await sim.sessions[0].done.wait()
    assert sim.sessions[0].closed_by == "server"
    assert sim.sessions[0].reason == "no login in time"
    assert "no login within 0.3s" in caplog.text


async def test_finished_sessions_are_pruned() -> None:
    with trio.fail_after(20):
        async with (
            run_simulator(FIXTURES / "basic.ami", events_only=True, history=2) as sim,
            connect(url(sim.port), keepalive=None) as first,
        ):
            for _ in range(5):
                async with connect(url(sim.port), keepalive=None) as client:
                    assert (await client.send("Ping")).ok
                await sim.sessions[-1].done.wait()
            assert len(sim.sessions) == 3  # the open one and the last 2 finished
            assert not sim.sessions[0].done.is_set()
            assert all(s.done.is_set() for s in sim.sessions[1:])
            assert (await first.send("Ping")).ok


async def test_connections_are_logged_without_the_secret(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="tracker.runtime.simulator")
    with trio.fail_after(10):
        async with run_simulator(FIXTURES / "basic.ami", username=USER, secret=SECRET) as sim:
            async with connect(url(sim.port), keepalive=None):
                pass
            with pytest.raises(TrackerError):
                async with connect(url(sim.port, secret=SECRET + "x", auth="md5")):
                    pass
            await sim.sessions[1].done.wait()
    good, bad = sim.sessions
    lines = caplog.text
    assert f"{good.peer}: connected" in lines
    assert f"{good.peer}: logged in as '{USER}' (plain)" in lines
    assert f"{good.peer}: closed by server (logoff)" in lines
    assert f"{bad.peer}: login as '{USER}' failed" in lines
    assert f"{bad.peer}: closed by server (authentication failed)" in lines
    assert SECRET not in lines


async def test_a_client_spamming_actions_without_reading_holds_bounded_memory() -> None:
    """Deferred answers and the action log of one session are bounded."""
    spam = b"".join(
        b"Action: CoreShowChannels\r\nActionID: s%d\r\n\r\n" % i for i in range(300)
    ) + b"".join(b"Action: Ping\r\nActionID: p%d\r\n\r\n" % i for i in range(3000))
    with trio.fail_after(30):
        async with run_simulator(FIXTURES / BIG, username=USER, secret=SECRET) as sim:
            stream = await _logged_in(sim.port)
            stream.socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 16)
            async with stream:
                session = sim.sessions[0]
                with trio.move_on_after(2):
                    await stream.send_all(spam)  # reads nothing: the simulator backs up
                assert len(session.pending) == MAX_PENDING_ANSWERS
                assert session.streamed < len(expected_stream(BIG))
            await session.done.wait()
            # a client that reads: its actions keep being answered, the log stays bounded
            async with connect(url(sim.port), keepalive=None) as client:
                for _ in range(2 * ACTIONS_KEPT + 10):
                    await client.send("Ping")
                assert len(sim.sessions[-1].actions) <= 2 * ACTIONS_KEPT
                assert sim.sessions[-1].actions[-1] == "Ping"


async def test_connections_logging_in_are_limited() -> None:
    """Like Asterisk's authlimit: silent connections cannot crowd out a client that logs in."""
    with trio.fail_after(20):
        async with run_simulator(FIXTURES / "basic.ami", auth_limit=3, login_timeout=5) as sim:
            silent = [await trio.open_tcp_stream(HOST, sim.port) for _ in range(5)]
            try:
                for stream in silent[3:]:  # over the limit: closed at once, no banner
                    assert await stream.receive_some(100) == b""
                assert [s.reason for s in sim.sessions[3:]] == [
                    "too many connections logging in"
                ] * 2
                await silent[0].aclose()
                await sim.sessions[0].done.wait()
                async with connect(url(sim.port), keepalive=None) as client:
                    assert (await client.send("Ping")).ok
            finally:
                for stream in silent:
                    await stream.aclose()


def test_simulator_defaults() -> None:
    sim = AmiSimulator(FIXTURES / "basic.ami")
    assert sim.login_timeout == 30.0  # Asterisk's authtimeout
    assert sim.auth_limit == 50  # Asterisk's authlimit
    assert sim.history > 0


async def test_a_client_that_stops_reading_is_closed_after_the_write_timeout() -> None:
    """As Asterisk's ``writetimeout``: a write that cannot go out for that long closes the
    connection (the fault tests rely on it to show that the tracker keeps reading)."""
    with trio.fail_after(30):
        async with run_simulator(
            FIXTURES / BIG, username=USER, secret=SECRET, write_timeout=0.2
        ) as sim:
            stream = await _logged_in(sim.port)  # then reads nothing more
            session = sim.sessions[0]
            await session.done.wait()
            await stream.aclose()
    assert session.closed_by == "server"
    assert session.reason == "client not reading (write timeout 0.2s)"
    assert 0 < session.streamed < len(expected_stream(BIG))
