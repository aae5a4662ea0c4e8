"""Shared test helpers: fixture paths and h11-style chunked feeding."""

from __future__ import annotations

import random
from collections.abc import Iterable
from pathlib import Path

from tracker.ami import AmiConnection, Frame
from tracker.capture import read_bytes

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
CAPTURES = [*sorted(p for p in FIXTURES.glob("*.ami")), FIXTURES / "load.ami.gz"]
SMALL_CAPTURES = sorted(p for p in FIXTURES.glob("*.ami"))


def capture_id(path: Path) -> str:
    return path.name


def feed(data: bytes, chunks: Iterable[bytes], **kwargs: object) -> list[Frame]:
    conn = AmiConnection(**kwargs)  # type: ignore[arg-type]
    out: list[Frame] = []
    for chunk in chunks:
        if not chunk:
            continue  # b"" would mean end of stream
        conn.receive_data(chunk)
        out.extend(conn)
    conn.receive_data(b"")
    out.extend(conn)
    assert b"".join(f.raw for f in out) == data
    return out


def whole(data: bytes) -> list[bytes]:
    return [data]


def bytewise(data: bytes) -> list[bytes]:
    return [data[i : i + 1] for i in range(len(data))]


def random_chunks(data: bytes, seed: int, max_size: int = 300) -> list[bytes]:
    rng = random.Random(seed)
    out = []
    i = 0
    while i < len(data):
        n = rng.randint(1, max_size)
        out.append(data[i : i + n])
        i += n
    return out


def load(path: Path) -> bytes:
    return read_bytes(path)


def sent_actions(name: str) -> list[dict[str, str]]:
    """The actions of ``fixtures/NAME.sent`` (headers of each block; a repeated header keeps
    its last value)."""
    text = (FIXTURES / f"{name}.sent").read_bytes().decode("latin-1")
    actions = []
    for block in text.split("\r\n\r\n"):
        headers = dict(line.split(": ", 1) for line in block.split("\r\n") if ": " in line)
        if "Action" in headers:
            actions.append(headers)
    return actions
