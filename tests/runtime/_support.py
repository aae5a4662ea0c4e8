"""Helpers for runtime tests: expected frames parsed straight from the capture files."""

from __future__ import annotations

import re
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path

import trio

from tests.helpers import FIXTURES
from tracker.ami import Frame, FrameKind
from tracker.capture import iter_frames
from tracker.runtime.simulator import AmiSimulator

USER = "lab"
SECRET = "labsecret"  # fixtures/asterisk-conf/manager.conf
HOST = "127.0.0.1"


def free_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
    return port


def url(port: int, *, secret: str = SECRET, auth: str = "plain", user: str = USER) -> str:
    query = "?auth=md5" if auth == "md5" else ""
    return f"ami://{user}:{secret}@{HOST}:{port}{query}"


def sent_ids(capture: Path) -> dict[str, str]:
    """ActionID -> action name, read from the capture's .sent file with a plain regex."""
    stem = capture.name.removesuffix(".gz").removesuffix(".ami")
    text = (capture.parent / f"{stem}.sent").read_bytes().decode("latin-1")
    return {
        m.group(2): m.group(1) for m in re.finditer(r"Action: (\S+)\r\nActionID: (\S+)\r\n", text)
    }


def expected_stream(name: str) -> list[Frame]:
    """The capture's frames after its own Login response, without the final Goodbye."""
    path = FIXTURES / name
    login_ids = {aid for aid, action in sent_ids(path).items() if action == "Login"}
    frames = list(iter_frames(path))
    start = next(
        i for i, f in enumerate(frames) if f.kind is FrameKind.RESPONSE and f.action_id in login_ids
    )
    stream = frames[start + 1 :]
    assert stream[-1].name == "Goodbye"
    return stream[:-1]


def recorded_list(name: str, action_id: str) -> tuple[list[Frame], Frame]:
    """List items and the complete event that the capture recorded for ``action_id``."""
    items = [
        f
        for f in iter_frames(FIXTURES / name)
        if f.kind is FrameKind.LIST_ITEM and f.action_id == action_id
    ]
    return items[:-1], items[-1]


def without_action_id(frame: Frame) -> tuple[tuple[str, str], ...]:
    return tuple((k, v) for k, v in frame.headers if k != "ActionID")


async def tcp_server(
    nursery: trio.Nursery, handler: Callable[[trio.SocketStream], Awaitable[None]]
) -> int:
    """Serve ``handler`` on an ephemeral loopback port; return the port."""
    listeners = await trio.open_tcp_listeners(0, host=HOST)
    await nursery.start(trio.serve_listeners, handler, listeners)
    return int(listeners[0].socket.getsockname()[1])


async def silent_ami(stream: trio.SocketStream) -> None:
    """An AMI server that accepts any login, then never answers anything."""
    await stream.send_all(b"Asterisk Call Manager/11.0.0\r\n")
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = await stream.receive_some(4096)
        if not chunk:
            return
        data += chunk
    aid = re.search(rb"ActionID: (\S+)", data)
    assert aid is not None
    await stream.send_all(
        b"Response: Success\r\nActionID: "
        + aid.group(1)
        + b"\r\nMessage: Authentication accepted\r\n\r\n"
    )
    while await stream.receive_some(4096):
        pass


async def served_through_drops(sim: AmiSimulator) -> None:
    """Until a session streamed the capture to its end (not to a drop)."""
    await sim.connected.wait()
    while True:
        session = sim.sessions[-1]
        await session.stream_done.wait()
        if not (session.reason or "").startswith("dropped"):
            return
        await session.done.wait()
        while sim.sessions[-1] is session:  # the tracker reconnects after its backoff
            await trio.sleep(0.01)
            assert not session.authenticated or session.done.is_set()
