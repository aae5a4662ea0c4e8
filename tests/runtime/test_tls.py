"""``amis://``: TLS to the simulator with a test CA (tests/runtime/tls, valid until 2126)."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest
import trio

from tests.helpers import FIXTURES
from tracker.errors import ConnectionLostError
from tracker.runtime import connect, run_simulator

from ._support import HOST, SECRET, USER, expected_stream

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
