"""Capture files: the exact bytes received on an AMI socket (``.ami``, or gzip ``.ami.gz``).

Gzip is recognised by its magic bytes, not by the file name. Whatever goes wrong reading a
capture (missing file, a directory, truncated or corrupt gzip, not AMI at all) is raised as
``CaptureError`` with a message naming the file, never as a bare ``OSError``/``EOFError``.
"""

from __future__ import annotations

import gzip
import io
import zlib
from collections.abc import Generator, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from .ami import AmiConnection, Frame, FrameKind
from .errors import TrackerError

CHUNK = 1 << 16
GZIP_MAGIC = b"\x1f\x8b"
AMI_BANNER_MARK = "Call Manager"
"""What every AMI banner line holds (``Asterisk Call Manager/11.0.0``)."""
_AMI_FIRST_FRAMES = (FrameKind.EVENT, FrameKind.RESPONSE, FrameKind.LIST_ITEM)
"""A capture cut without its banner still starts with one of these."""


class CaptureError(TrackerError):
    """A capture file cannot be read, or is not an AMI capture."""


def is_gzip(path: str | Path) -> bool:
    with _reading(path), open(path, "rb") as f:
        return f.read(2) == GZIP_MAGIC


@contextmanager
def _reading(path: str | Path) -> Iterator[None]:
    """Turn the errors of reading ``path`` into one ``CaptureError`` naming the file."""
    try:
        yield
    except IsADirectoryError:
        raise CaptureError(f"{path}: is a directory, not a capture file") from None
    except FileNotFoundError:
        raise CaptureError(f"{path}: no such file") from None
    except EOFError:
        raise CaptureError(
            f"{path}: truncated gzip file (it ends before the end of the compressed stream)"
        ) from None
    except (gzip.BadGzipFile, zlib.error) as exc:
        raise CaptureError(f"{path}: corrupt gzip data ({exc})") from None
    except OSError as exc:
        raise CaptureError(f"{path}: {exc.strerror or exc}") from None


def expanded_size(path: str | Path) -> int:
    """How many bytes of AMI the capture holds, without reading it: a plain file's size; for
    gzip, the uncompressed size its trailer states (exact for one member below 4 GiB; of the
    last member only, for several), and at least the file's size (past 4 GiB it wraps)."""
    with _reading(path), open(path, "rb") as f:
        size = f.seek(0, io.SEEK_END)
        f.seek(0)
        if size < 18 or f.read(2) != GZIP_MAGIC:  # 18: a gzip header and trailer
            return size
        f.seek(-4, io.SEEK_END)
        return max(int.from_bytes(f.read(4), "little"), size)


def expanded_total(paths: Iterable[str | Path]) -> int:
    """:func:`expanded_size` of each capture, summed (one that cannot be read counts nothing:
    reading it says why)."""
    total = 0
    for path in paths:
        try:
            total += expanded_size(path)
        except CaptureError:
            continue
    return total


def _open(path: str | Path) -> io.BufferedIOBase:
    p = Path(path)
    if is_gzip(p):
        return gzip.GzipFile(p, "rb")
    return p.open("rb")


def read_bytes(path: str | Path) -> bytes:
    """Whole capture as bytes, transparently gunzipping."""
    with _reading(path), _open(path) as f:
        return f.read()


def iter_chunks(path: str | Path, size: int = CHUNK) -> Iterator[bytes]:
    with _reading(path), _open(path) as f:
        while chunk := f.read(size):
            yield chunk


def iter_frames(
    path: str | Path, *, max_frame_size: int | None = None
) -> Generator[Frame, None, None]:
    """Every frame of a capture, with list replies classified, streaming in chunks."""
    conn = (
        AmiConnection() if max_frame_size is None else AmiConnection(max_frame_size=max_frame_size)
    )
    for chunk in iter_chunks(path):
        conn.receive_data(chunk)
        yield from conn
    conn.receive_data(b"")
    yield from conn


def check_capture(path: str | Path) -> None:
    """Raise ``CaptureError`` unless ``path`` reads as an AMI capture.

    An AMI capture starts with the AMI banner (``Asterisk Call Manager/...``) or, when it was
    cut without it, with a well-formed ``Event:``/``Response:`` frame. An empty file, random
    bytes or a text file do not. Only the start of the file is read.
    """
    frames = iter_frames(path)
    try:
        first = next(frames, None)
    finally:
        frames.close()
    if first is None:
        raise CaptureError(f"{path}: empty file, not an AMI capture")
    if first.kind is FrameKind.BANNER and AMI_BANNER_MARK in first.name:
        return
    if first.kind in _AMI_FIRST_FRAMES:
        return
    raise CaptureError(
        f"{path}: not an AMI capture (it starts with neither an AMI banner "
        f"'Asterisk {AMI_BANNER_MARK}/...' nor an AMI frame)"
    )
