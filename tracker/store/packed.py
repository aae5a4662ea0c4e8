"""A batch as the writer stores it: frames' bytes joined, per-frame columns as packed arrays, and
only the change records and envelopes the writer uses (pure: no SQL, no I/O).

A :class:`~tracker.store.writer.Batch` holds Frame objects, one Envelope per frame and every
change record the fold made: about 3 KB of Python objects per frame, most of which no table
needs. :func:`pack` keeps what storing a batch takes, built with C-level passes over the batch
(no Python code per frame): the frames' exact bytes in one ``bytes``, their lengths, kinds and
clocks as arrays, the anomalies and the change records the projections declared, and the
positions of the frames whose envelopes they read (Asterisk's ``Cdr``/``CEL``), decoded again
from the bytes by whoever writes. A packed batch is ~0.5 KB per frame, crosses a pipe or a
spill file as one msgpack message (one copy of the bytes), and is what the persister queues.
"""

from __future__ import annotations

import array
import itertools
import operator
import sys
from collections.abc import Mapping, Sequence
from functools import cache
from typing import TYPE_CHECKING, Any, NamedTuple, Union

import msgspec

from ..ami import Frame, FrameKind, speedups
from ..events import decode_frame
from ..events.base import SessionStarted
from ..events.decode import decode_headers
from ..events.envelope import Envelope, Item
from ..state import Anomaly, Change
from .blocks import KIND_CODES, KINDS, FrameRebuilder, _le, _positions, frame_columns

if TYPE_CHECKING:
    from .schema import Projection
    from .writer import Batch


class SessionInfo(NamedTuple):
    """What identifies a session and how to create its row."""

    key: str
    source: str
    """``live`` or ``import``."""
    first_seq: int
    origin: str | None = None


class Needs(NamedTuple):
    """What a projection reads of a batch: change records of these exact types, envelopes of
    frames whose items are of these exact types (None: all of them), and with ``causes`` the
    envelopes of the frames that caused the change records it reads."""

    changes: frozenset[type[Change]] | None
    events: frozenset[type[Any]] | None
    causes: bool = False

    def __or__(self, other: object) -> Needs:
        if not isinstance(other, Needs):
            return NotImplemented
        return Needs(
            _union(self.changes, other.changes),
            _union(self.events, other.events),
            self.causes or other.causes,
        )


NOTHING = Needs(frozenset(), frozenset())
EVERYTHING = Needs(None, None)


def _union(a: frozenset[type[Any]] | None, b: frozenset[type[Any]] | None) -> Any:
    return None if a is None or b is None else a | b


def needs_of(projections: Sequence[Projection]) -> Needs:
    """What ``projections`` read together (a projection that does not say reads everything),
    plus the anomalies the writer keeps itself."""
    needs = Needs(frozenset({Anomaly}), frozenset())
    for projection in projections:
        needs = needs | getattr(projection, "needs", EVERYTHING)
    return needs


class Packed(msgspec.Struct, array_like=True, frozen=True):
    """A batch of consecutive frames of one session, as stored (see the module docstring)."""

    key: str
    source: str
    session_first_seq: int
    origin: str | None
    first_seq: int
    """Seq of the first frame (the session's first seq when there is none)."""
    raw: bytes
    """Every frame's exact bytes, in order."""
    lengths: bytes
    """u32 little-endian per frame."""
    kinds: bytes
    """A :data:`~tracker.store.blocks.KIND_CODES` code per frame."""
    clocks: bytes
    """float64 little-endian per frame: the fold's clock right after it."""
    problems: dict[int, str]
    """Frame index -> the codec's problem (anomalies, and rare noted frames)."""
    received: list[float | None] | None
    """Receive times the fold used, or None when there are none."""
    live: int
    """Live events (event frames that do not answer a list action)."""
    stamped: int
    """Live events with a time (a ``Timestamp`` header or a receive time)."""
    versions: list[tuple[int, str]]
    """(frame index, Asterisk version) of banners and ``AsteriskVersion`` answers."""
    records: list[int] | None
    """Indexes of the frames whose envelopes the projections read (None: every frame)."""
    changes: msgspec.Raw
    """msgpack list of the change records the writer and its projections read."""
    snapshot: bytes | None = None
    notes: dict[str, Any] = {}

    @property
    def count(self) -> int:
        return len(self.kinds)

    @property
    def session(self) -> SessionInfo:
        return SessionInfo(self.key, self.source, self.session_first_seq, self.origin)

    def length_array(self) -> array.array[int]:
        return _array("I", self.lengths)

    def clock_array(self) -> array.array[float]:
        return _array("d", self.clocks)

    def change_records(self) -> list[Change]:
        if self.changes == _EMPTY:
            return []
        return changes_decoder().decode(self.changes)


_KIND_OF = operator.attrgetter("kind")
_ITEM = operator.attrgetter("item")
_LIST_ITEM = operator.attrgetter("list_item")
_RECEIVED = operator.attrgetter("received_at")
_TIMESTAMP = operator.attrgetter("timestamp")
_EVENT = KIND_CODES[FrameKind.EVENT]
_ANOMALY = KIND_CODES[FrameKind.ANOMALY]
_compiled = speedups.compiled() if speedups.ENABLED else None
"""The compiled codec's column builders (one pass over a batch instead of a map per column)."""
_BANNER = KIND_CODES[FrameKind.BANNER]
_RESPONSE = KIND_CODES[FrameKind.RESPONSE]
_encoder = msgspec.msgpack.Encoder()
_EMPTY = msgspec.Raw(_encoder.encode([]))


def pack(batch: Batch, needs: Needs = EVERYTHING) -> Packed:
    """The stored form of ``batch``, keeping the change records and envelopes ``needs`` names
    (and every anomaly)."""
    packer = Packer(needs)
    packer.add(batch)
    packed = packer.take(batch.snapshot, batch.notes)
    if packed is None:  # no frames
        return _notes_only(batch.session, batch.snapshot, batch.notes, needs)
    return packed


def _notes_only(
    session: SessionInfo, snapshot: bytes | None, notes: Mapping[str, Any], needs: Needs
) -> Packed:
    records: list[int] | None = None if needs.events is None else []
    return Packed(
        session.key, session.source, session.first_seq, session.origin, session.first_seq,
        b"", b"", b"", b"", {}, None, 0, 0, [], records, _EMPTY, snapshot, dict(notes),
    )  # fmt: skip


class Packer:
    """Packs consecutive batches of one session into one :class:`Packed`, each as it comes.

    Folding a capture in small batches and packing each at once keeps the frames, envelopes
    and changes alive for a few hundred frames only: the fold's working set stays in the CPU's
    caches (batches of 4 096 frames kept alive until the writer took them made the fold ~40 %
    slower than folding alone; batches of 256, ~1 %)."""

    def __init__(self, needs: Needs = EVERYTHING) -> None:
        self.needs = needs
        self._reset()

    def _reset(self) -> None:
        self.session: SessionInfo | None = None
        self.first_seq = 0
        self.count = 0
        self._raw: list[bytes] = []
        self._lengths: list[bytes] = []
        self._kinds: list[bytes] = []
        self._clocks: list[bytes] = []
        self._problems: dict[int, str] = {}
        self._received: list[tuple[int, int, list[float | None]]] = []
        self._live = self._stamped = 0
        self._versions: list[tuple[int, str]] = []
        self._records: list[int] | None = [] if self.needs.events is not None else None
        self._kept: list[Change] = []

    def add(self, batch: Batch) -> None:
        """Append ``batch``'s frames (the next ones of the same session)."""
        frames, envs = batch.frames, batch.envelopes
        n = len(frames)
        if len(envs) != n or len(batch.clocks) != n:
            raise ValueError("a batch needs one envelope and one clock per frame")
        if not n:
            return
        if self.session is None:
            self.session = batch.session
            self.first_seq = envs[0].seq
        elif batch.session.key != self.session.key or envs[0].seq != self.first_seq + self.count:
            raise ValueError("packed batches must be consecutive frames of one session")
        needs = self.needs
        events = needs.events
        if _compiled is not None and type(frames) is list and type(envs) is list:
            raw, lengths, kinds, problems = _compiled.frame_columns(frames, KINDS, _ANOMALY)
            if sys.byteorder != "little":  # pragma: no cover (x86-64 and arm64: little-endian)
                lengths = _le(_array("I", lengths))
            received, live, stamped, records = _compiled.envelope_columns(
                envs, kinds, _EVENT, events
            )
        else:
            raws, kinds, problems = frame_columns(frames)
            raw = b"".join(raws)
            lengths = _le(array.array("I", map(len, raws)))
            received, live, stamped, records = envelope_columns(envs, kinds, events)
        kept = _kept(batch.changes, needs.changes)
        if records is not None and needs.causes and kept:
            first = envs[0].seq
            causes = {c.seq - first for c in kept}
            records = sorted(causes.union(records).intersection(range(n)))
        at = self.count
        self._raw.append(raw)
        self._lengths.append(lengths)
        self._kinds.append(kinds)
        self._clocks.append(_le(array.array("d", batch.clocks)))
        if problems:
            self._problems.update({at + i: p for i, p in problems.items()})
        if received is not None:
            self._received.append((at, n, received))
        self._live += live
        self._stamped += stamped
        self._versions += [(at + i, v) for i, v in _versions(frames, kinds, envs)]
        if self._records is not None and records:
            self._records += [at + i for i in records] if at else records
        self._kept += kept
        self.count += n

    def take(
        self, snapshot: bytes | None = None, notes: Mapping[str, Any] | None = None
    ) -> Packed | None:
        """The frames added since the last take as one Packed (None if there are none), with
        ``snapshot`` (the world after the last of them) and session ``notes``."""
        session = self.session
        if session is None:
            return None
        received: list[float | None] | None = None
        if self._received:
            received = [None] * self.count
            for at, n, part in self._received:
                received[at : at + n] = part
        packed = Packed(
            session.key,
            session.source,
            session.first_seq,
            session.origin,
            self.first_seq,
            b"".join(self._raw),
            b"".join(self._lengths),
            b"".join(self._kinds),
            b"".join(self._clocks),
            self._problems,
            received,
            self._live,
            self._stamped,
            self._versions,
            self._records,
            msgspec.Raw(_encoder.encode(self._kept)) if self._kept else _EMPTY,
            snapshot,
            dict(notes or {}),
        )
        self._reset()
        return packed


def envelope_columns(
    envs: Sequence[Envelope], kinds: bytes, events: frozenset[type[Any]] | None
) -> tuple[list[float | None] | None, int, int, list[int] | None]:
    """Receive times (None when there are none), live events, how many had a time, and the
    indexes of the envelopes whose items are of the types in ``events`` (the reference of
    the compiled ``envelope_columns``)."""
    n = len(envs)
    received: list[float | None] | None = list(map(_RECEIVED, envs))
    if received is not None and received.count(None) == n:
        received = None
    items = list(map(_ITEM, envs))
    live_items = list(itertools.compress(items, map(_EVENT.__eq__, kinds)))
    live = len(live_items)
    if received is None:
        stamped = live - list(map(_TIMESTAMP, live_items)).count(None)
    else:
        stamped = sum(
            t is not None or r is not None
            for t, r in zip(
                map(_TIMESTAMP, live_items),
                itertools.compress(received, map(_EVENT.__eq__, kinds)),
                strict=True,
            )
        )
    records = None
    if events is not None:
        records = list(itertools.compress(range(n), map(events.__contains__, map(type, items))))
    return received, live, stamped, records


def _kept(changes: Sequence[Change], kinds: frozenset[type[Change]] | None) -> Sequence[Change]:
    if kinds is None:
        return changes
    return list(itertools.compress(changes, map(kinds.__contains__, map(type, changes))))


def _versions(
    frames: Sequence[Frame], kinds: bytes, envs: Sequence[Envelope]
) -> list[tuple[int, str]]:
    """Banners and ``AsteriskVersion`` answers (CoreSettings) among the frames (found by their
    kind codes: a C-level scan, not a look at every frame)."""
    found: list[tuple[int, str]] = []
    for i in sorted((*_positions(kinds, _BANNER), *_positions(kinds, _RESPONSE))):
        item = envs[i].item
        if type(item) is SessionStarted:
            if item.banner:
                found.append((i, item.banner))
        elif b"AsteriskVersion: " in frames[i].raw:
            value = frames[i].get("AsteriskVersion")
            if value:
                found.append((i, f"Asterisk {value}"))
    return found


def _array(code: str, data: bytes) -> array.array[Any]:
    values = array.array(code)
    values.frombytes(data)
    if sys.byteorder != "little":  # pragma: no cover
        values.byteswap()
    return values


def _subclasses(cls: type[Change]) -> list[type[Change]]:
    out = []
    for sub in cls.__subclasses__():
        out.append(sub)
        out.extend(_subclasses(sub))
    return out


@cache
def changes_decoder() -> msgspec.msgpack.Decoder[list[Any]]:
    """Decodes a msgpack list of change records of any type (they are tagged structs)."""
    kinds = tuple(sorted(set(_subclasses(Change)), key=lambda c: c.__qualname__))
    return msgspec.msgpack.Decoder(list[Union[kinds]])  # type: ignore[valid-type]  # noqa: UP007


# -- reading a packed batch back --------------------------------------------------------------
def offsets(lengths: Sequence[int]) -> list[int]:
    """Start of each frame's bytes, and the end."""
    return [0, *itertools.accumulate(lengths)]


def frame_envelopes(
    packed: Packed,
    indexes: Sequence[int] | None = None,
    rebuilder: FrameRebuilder | None = None,
) -> list[Envelope]:
    """Envelopes of the frames at ``indexes`` (default: every frame), as the fold consumed
    them, decoded again from their bytes."""
    rebuilder = rebuilder if rebuilder is not None else FrameRebuilder()
    at = offsets(packed.length_array())
    raw, kinds, problems, received = packed.raw, packed.kinds, packed.problems, packed.received
    out: list[Envelope] = []
    for i in range(packed.count) if indexes is None else indexes:
        code = kinds[i]
        frame = rebuilder.one(raw[at[i] : at[i + 1]], code, problems.get(i))
        kind = frame.kind
        item: Item
        if kind is FrameKind.EVENT or kind is FrameKind.LIST_ITEM:
            item = decode_headers(frame.headers)
        else:
            item = decode_frame(frame)
        out.append(
            Envelope(
                packed.first_seq + i,
                item,
                code == 1,
                received[i] if received is not None else None,
                frame.problem,
            )
        )
    return out


__all__ = [
    "EVERYTHING",
    "NOTHING",
    "Needs",
    "Packed",
    "Packer",
    "SessionInfo",
    "changes_decoder",
    "envelope_columns",
    "frame_envelopes",
    "needs_of",
    "offsets",
    "pack",
]
