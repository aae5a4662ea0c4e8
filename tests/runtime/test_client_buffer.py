"""The client's event buffer: bounded by bytes as well as frames; ``async for`` keeps up."""

from __future__ import annotations

import re
from functools import partial

import pytest
import trio

from tests.helpers import FIXTURES
from tracker.ami import FrameKind
from tracker.errors import OverloadError
from tracker.runtime import AmiClient, Received, connect, run_simulator

from ._support import expected_stream, tcp_server, url


async def drain(client: AmiClient, into: list[Received]) -> None:
    async for received in client.events():
        into.append(received)


async def endless_header(stream: trio.SocketStream, gone: trio.Event | None = None) -> None:
    """Logs the client in, then sends one header that never ends (until the client goes)."""
    await stream.send_all(b"Asterisk Call Manager/11.0.0\r\n")
    data = b""
    while b"\r\n\r\n" not in data:
        data += await stream.receive_some(4096)
    aid = re.search(rb"ActionID: (\S+)", data)
    assert aid is not None
    login = b"Response: Success\r\nActionID: %s\r\nMessage: Authentication accepted\r\n\r\n"
    try:
        await stream.send_all(login % aid.group(1) + b"Event: Big\r\nX-Endless: ")
        while True:
            await stream.send_all(b"y" * 65536)
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        if gone is not None:
            gone.set()


async def test_buffer_bounded_by_bytes_drops_the_connection() -> None:
    """64 KB anomaly chunks of one endless header: the overload fires on bytes, long before
    the frame count bound (it used to take 100 000 chunks, 6.3 GB)."""
    limit = 4 << 20
    gone = trio.Event()
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            port = await tcp_server(nursery, partial(endless_header, gone=gone))
            async with connect(url(port), keepalive=None, buffer_bytes=limit) as client:
                await gone.wait()  # nobody consumed: the client dropped the connection
                assert client.stats.overflows == 1
                waiting = client.receive_channel.statistics().current_buffer_used
                got: list[Received] = []
                with pytest.raises(OverloadError, match="bytes"):
                    await drain(client, got)
            nursery.cancel_scope.cancel()
    assert len(got) == waiting < 100
    chunks = got[2:]  # after the banner and the login answer
    assert chunks and all(r.frame.kind is FrameKind.ANOMALY for r in chunks)
    assert limit - (2 << 20) < sum(len(r.frame.raw) for r in got) <= limit
    assert b"".join(r.frame.raw for r in chunks).startswith(b"Event: Big\r\nX-Endless: yyy")


async def test_do_nothing_async_for_keeps_up_with_the_fast_simulator() -> None:
    """The documented ``async for`` drains what is buffered without a checkpoint per frame,
    so even a small buffer never overflows on ``load.ami.gz`` served as fast as possible."""
    expected = expected_stream("load.ami.gz")
    n = 0
    with trio.fail_after(60):
        async with (
            run_simulator(FIXTURES / "load.ami.gz") as sim,
            connect(url(sim.port), keepalive=None, buffer=2000) as client,
        ):
            async for received in client.events():
                n += 1
                if n == 2 + len(expected):
                    last = received
                    break
            assert client.stats.overflows == 0
            assert client.connected
    assert last.frame.raw == expected[-1].raw
    assert sim.sessions[0].streamed == len(expected)


async def test_leaving_async_for_loses_nothing() -> None:
    expected = expected_stream("basic.ami")
    got: list[Received] = []
    with trio.fail_after(10):
        async with (
            run_simulator(FIXTURES / "basic.ami") as sim,
            connect(url(sim.port), keepalive=None) as client,
        ):
            await sim.sessions[0].stream_done.wait()
            await trio.sleep(0.1)  # everything buffered
            for size in (1, 7, 600, 10_000):
                async for received in client.events():
                    got.append(received)
                    if len(got) % size == 0 or len(got) == 2 + len(expected):
                        break
                if len(got) == 2 + len(expected):
                    break
    assert [r.envelope.seq for r in got] == list(range(2 + len(expected)))
    assert [r.frame.raw for r in got[2:]] == [f.raw for f in expected]


async def chatty_before_login(stream: trio.SocketStream) -> None:
    """Sends events forever and never answers the login."""
    await stream.send_all(b"Asterisk Call Manager/11.0.0\r\n")
    block = b"Event: Newexten\r\nUniqueid: 1\r\nApplication: Wait\r\n\r\n" * 1000
    try:
        while True:
            await stream.send_all(block)
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        pass


async def test_frames_before_the_login_answer_are_bounded() -> None:
    """They wait for the login answer: the buffer's bounds apply to them too."""
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            port = await tcp_server(nursery, chatty_before_login)
            with pytest.raises(OverloadError, match="before answering the login"):
                async with connect(url(port), buffer=5000, connect_timeout=60):
                    pytest.fail("the login was never answered")
            nursery.cancel_scope.cancel()
