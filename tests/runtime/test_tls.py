"""``amis://``: TLS to the simulator with a test CA (tests/runtime/tls, valid until 2126)."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest
import trio

from tests.helpers import FIXTURES
from tracker.errors import ConnectionLostError, TrackerError
from tracker.runtime import connect, run_simulator

from ._support import HOST, SECRET, USER, expected_stream, url

TLS = Path(__file__).parent / "tls"


def server_context() -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(TLS / "server.pem", TLS / "server.key")
    return ctx


async def test_tls_login_and_stream() -> None:
    expected = expected_stream("basic.ami")
    client_ctx = ssl.create_default_context(cafile=str(TLS / "ca.pem"))
    with trio.fail_after(10):
        async with (
            run_simulator(
                FIXTURES / "basic.ami", username=USER, secret=SECRET, ssl_context=server_context()
            ) as sim,
            connect(
                f"amis://{USER}:{SECRET}@{HOST}:{sim.port}", ssl_context=client_ctx, keepalive=None
            ) as client,
        ):
            assert (await client.send("Ping")).ok
            got = []
            async for received in client.events():
                got.append(received)
                if len(got) == 2 + len(expected) + 1:
                    break
    assert [r.frame.raw for r in got[2:-1]] == [f.raw for f in expected]
    assert got[-1].frame.get("Ping") == "Pong"
    assert sim.sessions[0].authenticated


async def test_tls_verifies_the_certificate_by_default() -> None:
    with trio.fail_after(10):
        async with run_simulator(FIXTURES / "basic.ami", ssl_context=server_context()) as sim:
            with pytest.raises(ConnectionLostError, match=r"(?i)certificate"):
                async with connect(f"amis://{USER}:{SECRET}@{HOST}:{sim.port}"):
                    pytest.fail("an untrusted certificate must be refused")


async def test_plaintext_and_failed_handshakes_leave_the_tls_simulator_serving() -> None:
    """A plaintext client and a client refusing the certificate on the TLS port end only their
    own connection; a TLS client afterwards is served as usual."""
    client_ctx = ssl.create_default_context(cafile=str(TLS / "ca.pem"))
    with trio.fail_after(20):
        async with run_simulator(
            FIXTURES / "basic.ami", ssl_context=server_context(), login_timeout=1.0
        ) as sim:
            with pytest.raises(TrackerError):
                async with connect(url(sim.port), connect_timeout=2.0):
                    pass
            with pytest.raises(ConnectionLostError):
                async with connect(f"amis://{USER}:{SECRET}@{HOST}:{sim.port}"):
                    pass
            for session in sim.sessions:
                await session.done.wait()
            async with connect(
                f"amis://{USER}:{SECRET}@{HOST}:{sim.port}", ssl_context=client_ctx, keepalive=None
            ) as client:
                assert (await client.send("Ping")).ok
    plain, refused, good = sim.sessions
    assert (plain.closed_by, plain.reason) == ("server", "no login in time")  # no ClientHello
    assert refused.closed_by == "peer" and refused.reason and "SSL" in refused.reason
    assert good.authenticated
