"""Capture files: the exact bytes received on an AMI socket (``.ami``, or gzip ``.ami.gz``)."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path

from .ami import AmiConnection, Frame

CHUNK = 1 << 16


def read_bytes(path: str | Path) -> bytes:
    """Whole capture as bytes, transparently gunzipping ``.gz``."""
    p = Path(path)
    if p.suffix == ".gz":
        with gzip.open(p, "rb") as f:
            return f.read()
    return p.read_bytes()


def iter_chunks(path: str | Path, size: int = CHUNK) -> Iterator[bytes]:
    p = Path(path)
    opener = gzip.open if p.suffix == ".gz" else open
    with opener(p, "rb") as f:
        while chunk := f.read(size):
            yield chunk


def iter_frames(path: str | Path, *, max_frame_size: int | None = None) -> Iterator[Frame]:
    """Every frame of a capture, with list replies classified, streaming in chunks."""
    conn = (
        AmiConnection() if max_frame_size is None else AmiConnection(max_frame_size=max_frame_size)
    )
    for chunk in iter_chunks(path):
        conn.receive_data(chunk)
        yield from conn
    conn.receive_data(b"")
    yield from conn
