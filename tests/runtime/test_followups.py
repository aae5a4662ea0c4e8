"""Issue 6 leftovers in the runtime: a peer that already closed, the retry hook, readable
connect failures. Real TCP to the project's simulator."""

from __future__ import annotations

import pytest
import trio

from tests.helpers import FIXTURES
from tracker.ami import State
from tracker.errors import ConnectionLostError, ConnectTimeoutError, TrackerError
from tracker.runtime import AmiClient, run_simulator
from tracker.runtime.actions import ActionSpec
from tracker.runtime.tracker import Tracker

from ._support import SECRET, USER, free_port, tcp_server, url


async def test_tracker_reconnects_to_a_server_that_closes_at_the_end() -> None:
    """The server closes right after sending the capture: every request on the closing
    session is a lost connection (never ``LocalProtocolError``), so the tracker reconnects."""
    with trio.fail_after(30):
        async with run_simulator(
            FIXTURES / "basic.ami", username=USER, secret=SECRET, close_at_end=True
        ) as sim:
            retries: list[tuple[int, float, TrackerError]] = []
            client = AmiClient(
                url(sim.port),
                backoff_initial=0.01,
                backoff_max=0.05,
                on_retry=lambda *retry: retries.append(retry),
            )
            tracker = Tracker(client)
            began = 0
            async with trio.open_nursery() as nursery:
                with tracker.subscribe() as changes:
                    nursery.start_soon(tracker.run)
                    async for batch in changes:
                        began += sum(type(c).__name__ == "SessionBegan" for c in batch.changes)
                        if began == 4:
                            break
                await tracker.aclose()
    assert tracker.stats.sessions >= 4
    assert tracker.stats.disconnects >= 3
    # the retry hook heard of each lost session, with the reason (never the secret)
    assert len(retries) >= 3
    assert all(isinstance(reason, ConnectionLostError) for _, _, reason in retries)
    assert all(0.005 <= delay <= 0.05 for _, delay, _ in retries)
    ended = ("closed the connection", "connection reset by peer")  # RST when data is unread
    assert all(str(reason).endswith(ended) for _, _, reason in retries), retries
    assert not any(SECRET in str(reason) for _, _, reason in retries)


async def test_a_request_on_a_session_the_peer_closed_is_a_lost_connection() -> None:
    """The window between the peer's close and the session's end: ``_request`` (what every
    action and the resync use) must raise ``ConnectionLostError``, not ``LocalProtocolError``."""

    async def login_then_close(stream: trio.SocketStream) -> None:
        await stream.send_all(b"Asterisk Call Manager/11.0.0\r\n")
        data = b""
        while b"\r\n\r\n" not in data:
            data += await stream.receive_some(4096)
        aid = data.split(b"ActionID: ")[1].split(b"\r\n")[0]
        await stream.send_all(b"Response: Success\r\nActionID: " + aid + b"\r\n\r\n")
        await stream.aclose()

    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            port = await tcp_server(nursery, login_then_close)
            client = AmiClient(url(port), keepalive=None)
            session = await client._establish()
            session.conn.receive_data(b"")  # what the reader feeds on EOF
            assert session.conn.next_frame() is None
            assert session.conn.state is State.CLOSED
            with pytest.raises(ConnectionLostError, match="closed the connection"):
                await client._request(session, ActionSpec("Ping"), 1.0)
            await trio.aclose_forcefully(session.stream)
            nursery.cancel_scope.cancel()


async def test_on_retry_hears_each_failed_connect_with_a_readable_reason() -> None:
    retries: list[tuple[int, float, TrackerError]] = []
    third = trio.Event()

    def on_retry(attempt: int, delay: float, reason: TrackerError) -> None:
        retries.append((attempt, delay, reason))
        if attempt == 3:
            third.set()

    client = AmiClient(url(free_port()), backoff_initial=0.01, backoff_max=0.02, on_retry=on_retry)
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(client.run)
            await third.wait()
            nursery.cancel_scope.cancel()
    assert [attempt for attempt, _, _ in retries[:3]] == [1, 2, 3]
    assert all(0.005 <= delay <= 0.02 for _, delay, _ in retries)
    for _, _, reason in retries:
        assert isinstance(reason, ConnectionLostError)
        assert str(reason).endswith(": connection refused"), reason
        assert SECRET not in str(reason)


async def test_connect_timeout_error_says_why_the_attempts_failed() -> None:
    port = free_port()
    client = AmiClient(url(port), backoff_initial=0.01, backoff_max=0.02)
    with trio.fail_after(10), pytest.raises(ConnectTimeoutError) as caught:
        await Tracker(client, first_connect_timeout=0.3).run()
    text = str(caught.value)
    assert f"cannot connect to ami://{USER}:***@127.0.0.1:{port}: connection refused)" in text
    assert "all attempts" not in text
    assert SECRET not in text
