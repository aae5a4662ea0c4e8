"""The persister's overflow: batches kept in a local file, in order, while the database is slow
or down (blocking file I/O: call it from a worker thread).

Records are ``u32 length + msgpack``; a batch keeps its frames' exact bytes and kinds, clocks,
receive times, change records, snapshot and session notes, so writing it later is the same as
writing it at once (envelopes are decoded again from the bytes). ``read`` does not consume:
``advance`` does, after the batches were written, so a crash in between writes them again
(the writer skips what it has).
"""

from __future__ import annotations

import os
import struct
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import msgspec

from ..ami import FrameKind
from ..state import Change
from ..store import Batch, Packed, SessionInfo
from ..store.blocks import KIND_CODES, Block, FrameRebuilder, block_envelopes
from ..store.packed import changes_decoder

_LEN = struct.Struct("<I")


class _Record(msgspec.Struct, array_like=True):
    key: str
    source: str
    session_first_seq: int
    origin: str | None
    first_seq: int
    raws: list[bytes]
    kinds: bytes
    problems: dict[int, str]
    received: list[float | None]
    clocks: list[float]
    changes: msgspec.Raw
    snapshot: bytes | None
    notes: dict[str, Any]


_encoder = msgspec.msgpack.Encoder()
_record_decoder = msgspec.msgpack.Decoder(_Record)
_packed_decoder = msgspec.msgpack.Decoder(Packed)


def frames_of(batch: Batch | Packed) -> int:
    return batch.count if isinstance(batch, Packed) else len(batch.frames)


def encode_batch(batch: Batch | Packed) -> bytes:
    if isinstance(batch, Packed):  # already in its stored form (an import's batches)
        return _encoder.encode(batch)
    s = batch.session
    frames = batch.frames
    record = _Record(
        key=s.key,
        source=s.source,
        session_first_seq=s.first_seq,
        origin=s.origin,
        first_seq=batch.envelopes[0].seq if batch.envelopes else s.first_seq,
        raws=[f.raw for f in frames],
        kinds=bytes(KIND_CODES[f.kind] for f in frames),
        problems={i: f.problem or "" for i, f in enumerate(frames) if f.kind is FrameKind.ANOMALY},
        received=[e.received_at for e in batch.envelopes],
        clocks=list(batch.clocks),
        changes=msgspec.Raw(_encoder.encode(list(batch.changes))),
        snapshot=batch.snapshot,
        notes=dict(batch.notes),
    )
    return _encoder.encode(record)


def decode_batch(data: bytes, rebuilder: FrameRebuilder) -> Batch | Packed:
    try:
        r = _record_decoder.decode(data)
    except msgspec.ValidationError:  # not a batch's record: a packed batch
        return _packed_decoder.decode(data)
    block = Block(r.raws, r.kinds, tuple(r.clocks), r.problems, r.received)
    pairs = list(block_envelopes(rebuilder, block, r.first_seq))
    changes: list[Change] = changes_decoder().decode(r.changes)
    return Batch(
        SessionInfo(r.key, r.source, r.session_first_seq, r.origin),
        [f for f, _ in pairs],
        [e for _, e in pairs],
        changes,
        r.clocks,
        r.snapshot,
        r.notes,
    )


class SpillFile:
    """An append-only FIFO of batches on disk; ``frames`` counts what is not consumed yet."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._offset = 0  # start of the first unconsumed record
        self.frames = 0
        self.batches = 0
        self._rebuilder = FrameRebuilder()
        if path.exists() and path.stat().st_size:
            for batch in self._scan():
                self.frames += frames_of(batch)
                self.batches += 1

    def _scan(self) -> list[Batch | Packed]:
        return self.read(1 << 62)[0]

    def append(self, batches: Sequence[Batch | Packed]) -> None:
        if not batches:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        parts = []
        for batch in batches:
            data = encode_batch(batch)
            parts.append(_LEN.pack(len(data)) + data)
        with self.path.open("ab") as f:
            f.write(b"".join(parts))
            f.flush()
            os.fsync(f.fileno())
        self.frames += sum(map(frames_of, batches))
        self.batches += len(batches)

    def read(self, max_frames: int) -> tuple[list[Batch | Packed], int]:
        """The oldest unconsumed batches (at least one, up to ``max_frames`` frames), and the
        offset to :meth:`advance` to once they are stored."""
        out: list[Batch | Packed] = []
        if not self.path.exists():
            return out, self._offset
        frames = 0
        offset = self._offset
        with self.path.open("rb") as f:
            f.seek(offset)
            while frames < max_frames:
                head = f.read(4)
                if len(head) < 4:
                    break  # the end (or a record cut short by a crash: never acknowledged)
                (size,) = _LEN.unpack(head)
                data = f.read(size)
                if len(data) < size:
                    break
                batch = decode_batch(data, self._rebuilder)
                out.append(batch)
                frames += frames_of(batch)
                offset += 4 + size
        return out, offset

    def advance(self, offset: int, batches: Sequence[Batch | Packed]) -> None:
        """Consume up to ``offset``; the file is removed once everything was consumed."""
        self._offset = offset
        self.frames -= sum(map(frames_of, batches))
        self.batches -= len(batches)
        if self.batches <= 0:
            self.path.unlink(missing_ok=True)
            self._offset = 0
            self.frames = self.batches = 0

    def rewrite(self, head: Sequence[Batch | Packed], tail: Sequence[Batch | Packed]) -> None:
        """Keep ``head`` + what is unconsumed + ``tail``, in that order (at shutdown)."""
        middle, _ = self.read(1 << 62)
        tmp = self.path.with_suffix(self.path.suffix + ".tmp")
        if tmp.exists():
            tmp.unlink()
        self.path.unlink(missing_ok=True)
        self._offset = 0
        self.frames = self.batches = 0
        keep = SpillFile(tmp)
        keep.append([*head, *middle, *tail])
        if keep.batches:
            tmp.replace(self.path)
        self.frames, self.batches = keep.frames, keep.batches
