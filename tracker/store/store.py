"""Reading the store (blocking SQLAlchemy): servers, frames over a range, the world at a point.

    with open_store("sqlite:///calls.sqlite") as store:
        world = store.world_at(seq=12_345).world           # nearest snapshot + later frames
        for f in store.iter_frames(since=t0, until=t1): f.frame.raw, f.envelope

Ranges are inclusive and in the server's ``seq`` numbering (see :mod:`tracker.store.schema`);
times are the fold's clock (epoch seconds).
"""

from __future__ import annotations

import operator
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from itertools import chain
from types import TracebackType
from typing import Any, NamedTuple, NoReturn

from sqlalchemy import (
    BindParameter,
    Engine,
    Integer,
    bindparam,
    delete,
    func,
    insert,
    inspect,
    select,
    text,
    update,
)

from ..ami import Frame
from ..errors import StoreError
from ..events.envelope import Envelope
from ..reducer import Reducer
from ..reducer.version import fold_version
from ..state import World
from . import migrate
from .blocks import (
    BlockError,
    EnvelopeDecoder,
    FrameRebuilder,
    Payload,
    block_envelopes,
    decode_block,
    decode_snapshot,
    open_block,
)
from .engine import create, is_memory, redact, translated
from .gcpause import CollectorHold
from .prefetch import prefetched
from .schema import AnomalyRow, FrameBlock, Server, Session, Snapshot, table_of

FETCH_BLOCKS = 16
"""Blocks fetched per round trip when streaming a range."""


class PrunedError(StoreError):
    """The frames asked for were dropped by ``db prune``."""


class NoSuchServer(StoreError):
    """The database holds no server of that name (or none at all)."""


class ServerInfo(NamedTuple):
    id: int
    name: str
    ami_url: str | None
    versions: list[str]
    next_seq: int
    """Seq the server's next frame will get (frames stored so far, pruned ones included)."""


class SessionRow(NamedTuple):
    id: int
    first_seq: int
    frames: int


class PruneResult(NamedTuple):
    blocks: int
    frames: int
    snapshots: int
    kept_from: int | None
    """Seq from which the log is now kept (None: nothing was pruned)."""


class StoredFrame(NamedTuple):
    seq: int
    session_id: int
    clock: float
    """The fold's clock after this frame."""
    frame: Frame
    envelope: Envelope


class CallSpan(NamedTuple):
    first_seq: int
    last_seq: int
    uniqueids: tuple[str, ...]
    """Every leg's Uniqueid."""


class WorldAt(NamedTuple):
    world: World
    seq: int
    """Seq of the last frame folded into ``world`` (-1: none)."""
    snapshot_seq: int | None
    """Seq of the snapshot it started from (None: from the first frame)."""
    folded: int
    """Frames folded on top of the snapshot."""


class BlockRow(NamedTuple):
    session_id: int
    first_seq: int
    last_seq: int
    first_time: float
    codec: int
    data: bytes


_SERVER_TABLE = table_of(Server)
_SERVER = _SERVER_TABLE.c
_SESSION = table_of(Session).c
_BLOCK_TABLE = table_of(FrameBlock)
_BLOCK = _BLOCK_TABLE.c
_SNAPSHOT_TABLE = table_of(Snapshot)
_SNAPSHOT = _SNAPSHOT_TABLE.c
_ANOMALY = table_of(AnomalyRow).c
"""The read path's columns as plain Core: a statement over ORM attributes makes its first
compilation configure every mapper of the registry (~12 ms of a process's first ``world_at``)
and costs more to compile; these statements return plain rows anyway."""
_BLOCK_COLUMNS = (
    _BLOCK.session_id,
    _BLOCK.first_seq,
    _BLOCK.last_seq,
    _BLOCK.first_time,
    _BLOCK.codec,
    _BLOCK.data,
)


_ENVELOPE = operator.attrgetter("envelope")
_SEQ: BindParameter[int] = bindparam("seq")
PREFETCH = 2
"""Blocks fetched and decompressed ahead of the reader (in a worker thread)."""
PREFETCH_FROM = 8192
"""Frames from which a range is worth a worker thread (``world_at`` reads fewer)."""
HOLD_COLLECTOR_UP_TO = 20_000
"""``world_at`` holds the garbage collector off when it folds at most this many frames (10
times the default snapshot spacing); a longer fold (snapshots missing or of another fold
version) runs with the collector on."""


def _open(block: BlockRow) -> tuple[BlockRow, Payload]:
    try:
        return block, open_block(block.codec, block.data)
    except BlockError as exc:
        raise StoreError(f"block at seq {block.first_seq}: {exc}") from exc


def _statements() -> dict[str, Any]:
    """The statements the read path runs at every call, built once (building a select costs
    more than SQLite takes to run it)."""
    server = bindparam("server", type_=Integer)
    ends = (
        select(_SESSION.server_id, func.max(_SESSION.first_seq + _SESSION.frames).label("next_seq"))
        .group_by(_SESSION.server_id)
        .subquery()
    )
    holder = (
        select(func.max(_BLOCK.first_seq))
        .where(_BLOCK.server_id == server, _BLOCK.first_seq <= bindparam("first"))
        .scalar_subquery()
    )
    in_range = (_BLOCK.server_id == server) & (_BLOCK.first_seq <= bindparam("last"))
    blocks = select(*_BLOCK_COLUMNS).order_by(_BLOCK.first_seq).limit(FETCH_BLOCKS)
    snapshots = (
        select(_SNAPSHOT.seq, _SNAPSHOT.codec, _SNAPSHOT.data)
        .where(
            _SNAPSHOT.server_id == server,
            _SNAPSHOT.fold_version == bindparam("version"),
            _SNAPSHOT.seq <= bindparam("target"),
        )
        .order_by(_SNAPSHOT.seq.desc())
        .limit(4)
    )
    return {
        "servers": select(
            _SERVER.id, _SERVER.name, _SERVER.ami_url, _SERVER.versions, ends.c.next_seq
        )
        .outerjoin(ends, ends.c.server_id == _SERVER.id)
        .order_by(_SERVER.name),
        "from": blocks.where(
            in_range, _BLOCK.first_seq >= func.coalesce(holder, bindparam("first"))
        ),
        "after": blocks.where(in_range, _BLOCK.first_seq >= bindparam("at")),
        "snapshots": snapshots,
        "by_time": snapshots.where(_SNAPSHOT.clock <= bindparam("time")),
    }


_NO_END = 2**62
"""``last`` of a range without an end (a seq no log reaches)."""
_STATEMENTS = _statements()
_SERVERS = _STATEMENTS["servers"]
_BLOCKS_FROM = _STATEMENTS["from"]
"""Blocks from the one holding ``first`` (seq order, ``last`` None: to the end)."""
_BLOCKS_AFTER = _STATEMENTS["after"]
"""The next blocks from seq ``at``."""
_SNAPSHOTS = _STATEMENTS["snapshots"]
_SNAPSHOTS_BY_TIME = _STATEMENTS["by_time"]


def _check_start(stored_from: int, first: int) -> None:
    if stored_from > first:
        raise PrunedError(
            f"the log before seq {stored_from} was pruned (`db prune`); asked from seq {first}"
        )


class Store:
    """An open database. Methods are blocking; use one Store per thread."""

    def __init__(self, engine: Engine, url: str) -> None:
        self.engine = engine
        self.url = url
        self._local = threading.local()
        self._threads = not (engine.dialect.name == "sqlite" and is_memory(engine.url))
        """Other threads see the same database (not so an in-memory SQLite one)."""

    @property
    def fold_version(self) -> str:
        """This build's fold version (computed on first use: ~10-20 ms in a new process, and
        a command that reads no snapshot never needs it)."""
        return fold_version()

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Store {redact(self.url)}>"

    # -- servers and sessions ----------------------------------------------------------------
    def servers(self) -> list[ServerInfo]:
        with translated(self.url), self.engine.connect() as conn:
            rows = conn.execute(_SERVERS).all()
        return [
            ServerInfo(r.id, r.name, r.ami_url, list(r.versions or []), int(r.next_seq or 0))
            for r in rows
        ]

    def server(self, name: str | None = None) -> ServerInfo:
        """The server called ``name``; without a name, the only one there is."""
        servers = self.servers()
        if name is None:
            if len(servers) == 1:
                return servers[0]
            if not servers:
                raise NoSuchServer(
                    f"{redact(self.url)} holds no server yet (import or record first)"
                )
            names = ", ".join(s.name for s in servers)
            raise StoreError(
                f"{redact(self.url)} holds several servers ({names}): pick one with --server"
            )
        for s in servers:
            if s.name == name:
                return s
        known = ", ".join(s.name for s in servers) or "none"
        raise NoSuchServer(f"no server {name!r} in {redact(self.url)} (known: {known})")

    def ensure_server(self, name: str, ami_url: str | None = None) -> ServerInfo:
        """The server called ``name``, created if new (``ami_url`` must carry no secret)."""
        with translated(self.url), self.engine.begin() as conn:
            found = conn.execute(
                select(_SERVER.id, _SERVER.ami_url).where(_SERVER.name == name)
            ).first()
            if found is None:
                conn.execute(
                    insert(_SERVER_TABLE).values(
                        name=name, ami_url=ami_url, versions=[], created_at=datetime.now(UTC)
                    )
                )
            elif ami_url is not None and found.ami_url != ami_url:
                conn.execute(
                    update(_SERVER_TABLE).where(_SERVER.id == found.id).values(ami_url=ami_url)
                )
        return self.server(name)

    def session(self, server_id: int, key: str) -> SessionRow | None:
        with translated(self.url), self.engine.connect() as conn:
            row = conn.execute(
                select(_SESSION.id, _SESSION.first_seq, _SESSION.frames).where(
                    _SESSION.server_id == server_id, _SESSION.key == key
                )
            ).first()
        return SessionRow(row.id, row.first_seq, row.frames) if row is not None else None

    def sessions(self, server_id: int) -> list[SessionRow]:
        with translated(self.url), self.engine.connect() as conn:
            rows = conn.execute(
                select(_SESSION.id, _SESSION.first_seq, _SESSION.frames)
                .where(_SESSION.server_id == server_id)
                .order_by(_SESSION.first_seq)
            ).all()
        return [SessionRow(r.id, r.first_seq, r.frames) for r in rows]

    def latest_snapshot_seq(self, server_id: int) -> int:
        """Seq of the newest snapshot of this fold version (-1: none)."""
        with translated(self.url), self.engine.connect() as conn:
            found = conn.execute(
                select(func.max(_SNAPSHOT.seq)).where(
                    _SNAPSHOT.server_id == server_id, _SNAPSHOT.fold_version == self.fold_version
                )
            ).scalar_one()
        return int(found) if found is not None else -1

    def first_stored_seq(self, server_id: int) -> int | None:
        """Seq of the oldest frame still in the log (None: no frame)."""
        with translated(self.url), self.engine.connect() as conn:
            found = conn.execute(
                select(func.min(_BLOCK.first_seq)).where(_BLOCK.server_id == server_id)
            ).scalar_one()
        return int(found) if found is not None else None

    def seq_at_time(self, server_id: int, since: float) -> int | None:
        """Seq of the first block that may hold frames at or after ``since``."""
        with translated(self.url), self.engine.connect() as conn:
            found = conn.execute(
                select(func.min(_BLOCK.first_seq)).where(
                    _BLOCK.server_id == server_id, _BLOCK.last_time >= since
                )
            ).scalar_one()
        return int(found) if found is not None else None

    # -- frames ------------------------------------------------------------------------------
    def iter_frames(
        self,
        server: str | None = None,
        *,
        first: int = 0,
        last: int | None = None,
        since: float | None = None,
        until: float | None = None,
        strict: bool = False,
    ) -> Iterator[StoredFrame]:
        """Stored frames with ``first <= seq <= last`` and ``since <= clock <= until``.

        With ``strict``, a range that starts in a pruned part of the log raises
        :class:`PrunedError` instead of starting at the oldest frame kept.
        """
        info = self.server(server)
        return self._frames(info.id, first, last, since, until, strict)

    def iter_envelopes(
        self,
        server: str | None = None,
        *,
        first: int = 0,
        last: int | None = None,
        since: float | None = None,
        until: float | None = None,
        strict: bool = False,
    ) -> Iterator[Envelope]:
        """Typed envelopes over a range (as :meth:`iter_frames`, without the frames)."""
        if since is not None or until is not None:
            stored = self.iter_frames(
                server, first=first, last=last, since=since, until=until, strict=strict
            )
            return map(_ENVELOPE, stored)
        return self._envelopes(self.server(server).id, first, last, strict=strict)

    def _envelopes(
        self, server_id: int, first: int, last: int | None, *, strict: bool
    ) -> Iterator[Envelope]:
        """The fast path for replay: whole blocks decoded at once, no per-frame wrappers.

        Per block, Python code runs only to fetch and open it; the envelopes come out of C
        iterators chained together (see :class:`EnvelopeDecoder`)."""
        decoder = self._decoder()

        def block_envelopes(opened: tuple[BlockRow, Payload]) -> Iterator[Envelope]:
            block, payload = opened
            lo = max(first - block.first_seq, 0)
            hi = None if last is None else last - block.first_seq + 1
            return decoder.payload_envelopes(payload, block.first_seq, lo, hi)

        def opened() -> Iterator[tuple[BlockRow, Payload]]:
            blocks = self._blocks(server_id, first, last)
            if strict:
                blocks = self._checked(blocks, server_id, first)
            return map(_open, blocks)

        if (last is not None and last - first < PREFETCH_FROM) or not self._threads:
            return chain.from_iterable(map(block_envelopes, opened()))
        return chain.from_iterable(map(block_envelopes, prefetched(opened, PREFETCH)))

    def _checked(
        self, blocks: Iterator[BlockRow], server_id: int, first: int
    ) -> Iterator[BlockRow]:
        """``blocks``, or :class:`PrunedError` when the log before ``first`` was pruned (and a
        StoreError when nothing is stored from ``first`` on)."""
        block = next(blocks, None)
        if block is None:
            self._raise_missing(server_id, first)
        _check_start(block.first_seq, first)
        yield block
        yield from blocks

    def _decoder(self) -> EnvelopeDecoder:
        """This thread's decoder (kept: its parser's header-line cache stays warm)."""
        decoder: EnvelopeDecoder | None = getattr(self._local, "decoder", None)
        if decoder is None:
            decoder = self._local.decoder = EnvelopeDecoder()
        return decoder

    def iter_raw(
        self, server_id: int, *, first: int = 0, last: int | None = None
    ) -> Iterator[tuple[int, int, list[bytes]]]:
        """``(session_id, first_seq, raws)`` per block over a seq range, without decoding."""
        for block in self._blocks(server_id, first, last):
            raws = decode_block(block.codec, block.data).raws
            lo = max(first - block.first_seq, 0)
            hi = len(raws) if last is None else min(len(raws), last - block.first_seq + 1)
            if lo < hi:
                yield block.session_id, block.first_seq + lo, raws[lo:hi]

    def _blocks(self, server_id: int, first: int, last: int | None) -> Iterator[BlockRow]:
        """Blocks overlapping ``first..last`` in seq order, streamed a few at a time.

        Every query seeks the ``(server_id, first_seq)`` index: the block holding ``first`` is
        the last one starting at or before it (blocks of a server never overlap); the first
        query finds it in a subquery, so a short range takes one round trip."""
        at: int | None = None
        while True:
            params = {
                "server": server_id,
                "first": first,
                "at": at,
                "last": _NO_END if last is None else last,
            }
            query = _BLOCKS_AFTER if at is not None else _BLOCKS_FROM
            with translated(self.url), self.engine.connect() as conn:
                rows = [BlockRow(*r) for r in conn.execute(query, params)]
            if not rows:
                return
            for row in rows:
                if row.last_seq >= first:  # the holder may end before ``first`` (a gap)
                    yield row
            at = rows[-1].last_seq + 1

    def _frames(
        self,
        server_id: int,
        first: int,
        last: int | None,
        since: float | None,
        until: float | None,
        strict: bool,
    ) -> Iterator[StoredFrame]:
        if since is not None:
            start = self.seq_at_time(server_id, since)
            if start is None:
                return
            first = max(first, start)
        rebuilder = FrameRebuilder()
        checked = not strict
        for block in self._blocks(server_id, first, last):
            if not checked:
                checked = True
                _check_start(block.first_seq, first)
            if until is not None and block.first_time > until:
                return
            try:
                decoded = decode_block(block.codec, block.data)
                pairs = block_envelopes(rebuilder, decoded, block.first_seq)
                for (frame, env), clock in zip(pairs, decoded.clocks, strict=True):
                    seq = env.seq
                    if seq < first:
                        continue
                    if last is not None and seq > last:
                        return
                    if since is not None and clock < since:
                        continue
                    if until is not None and clock > until:
                        return
                    yield StoredFrame(seq, block.session_id, clock, frame, env)
            except BlockError as exc:
                raise StoreError(f"block at seq {block.first_seq}: {exc}") from exc
        if not checked:
            self._raise_missing(server_id, first)

    def _raise_missing(self, server_id: int, first: int) -> NoReturn:
        kept = self.first_stored_seq(server_id)
        if kept is not None:
            _check_start(kept, first)
        raise StoreError(f"no frame stored from seq {first} on")

    def anomaly_kinds(self, server_id: int, last: int | None = None) -> dict[str, int]:
        """Anomalies the fold recorded up to seq ``last``, by kind."""
        query = (
            select(_ANOMALY.kind, func.count())
            .where(_ANOMALY.server_id == server_id)
            .group_by(_ANOMALY.kind)
        )
        if last is not None:
            query = query.where(_ANOMALY.seq <= last)
        with translated(self.url), self.engine.connect() as conn:
            return {kind: int(n) for kind, n in conn.execute(query)}

    def durations_known(self, server_id: int, last: int | None = None) -> bool:
        """False when live events were stored (up to the session holding ``last``) and none
        had a time: every duration folded from them is 0 (``timestampevents = no``)."""
        query = select(
            func.coalesce(func.sum(_SESSION.live_events), 0),
            func.coalesce(func.sum(_SESSION.stamped_events), 0),
        ).where(_SESSION.server_id == server_id)
        if last is not None:
            query = query.where(_SESSION.first_seq <= last)
        with translated(self.url), self.engine.connect() as conn:
            live, stamped = conn.execute(query).one()
        return int(stamped) > 0 or int(live) == 0

    def call_span(
        self, server_id: int, *, linkedid: str | None = None, uniqueid: str | None = None
    ) -> CallSpan | None:
        """Seq range of a call's frames (of the calls a channel was in) and the Uniqueids of
        its legs, from the reporting tables (None when they are not there or do not know the
        call: the caller then scans the log)."""
        with translated(self.url), self.engine.connect() as conn:
            tables = set(inspect(conn).get_table_names())
            if "calls" not in tables or "call_legs" not in tables:
                return None
            if linkedid is not None:
                where, value = "c.server_id = :s AND c.linkedid = :v", linkedid
            else:
                where = (
                    "c.id IN (SELECT call_id FROM call_legs WHERE server_id = :s AND uniqueid = :v)"
                )
                value = uniqueid or ""
            found = {"s": server_id, "v": value}
            row = conn.execute(
                text(f"SELECT min(c.first_seq), max(c.last_seq) FROM calls c WHERE {where}"), found
            ).first()
            if row is None or row[0] is None:
                return None
            legs = conn.execute(
                text(
                    "SELECT DISTINCT l.uniqueid FROM call_legs l JOIN calls c ON c.id = l.call_id"
                    f" WHERE {where} ORDER BY l.uniqueid"
                ),
                found,
            ).scalars()
            return CallSpan(int(row[0]), int(row[1]), tuple(legs))

    def widened(
        self, server_id: int, first: int, last: int, *, seconds: float, frames: int
    ) -> tuple[int, int]:
        """``first..last`` widened on each side by ``frames`` frames, and further to the
        frames within ``seconds`` of event time of its ends (to the block: a superset) when
        the log has event times."""
        lo, hi = max(0, first - frames), last + frames
        holder = (
            select(_BLOCK.first_time, _BLOCK.last_time)
            .where(_BLOCK.server_id == server_id, _BLOCK.first_seq <= _SEQ)
            .order_by(_BLOCK.first_seq.desc())
            .limit(1)
        )
        with translated(self.url), self.engine.connect() as conn:
            start = conn.execute(holder, {"seq": first}).first()
            end = conn.execute(holder, {"seq": last}).first()
            if start is not None and start.first_time > 0:
                found = conn.execute(
                    select(func.min(_BLOCK.first_seq)).where(
                        _BLOCK.server_id == server_id,
                        _BLOCK.last_time >= start.first_time - seconds,
                        _BLOCK.first_seq <= first,
                    )
                ).scalar_one()
                lo = min(lo, int(found)) if found is not None else lo
            if end is not None and end.last_time > 0:
                found = conn.execute(
                    select(func.max(_BLOCK.last_seq)).where(
                        _BLOCK.server_id == server_id,
                        _BLOCK.first_time <= end.last_time + seconds,
                        _BLOCK.first_seq >= last - frames,
                    )
                ).scalar_one()
                hi = max(hi, int(found)) if found is not None else hi
        return lo, hi

    # -- retention ---------------------------------------------------------------------------
    def prune(self, server_id: int, *, before: float) -> PruneResult:
        """Drop the raw log and snapshots before ``before`` (fold clock, epoch seconds).

        The newest snapshot taken before that time is kept, with every frame after it, so the
        world stays rebuildable from there on; reporting tables are left alone. Without such a
        snapshot nothing is dropped.
        """
        with translated(self.url), self.engine.begin() as conn:
            keep: int | None = conn.execute(
                select(func.max(_SNAPSHOT.seq)).where(
                    _SNAPSHOT.server_id == server_id,
                    _SNAPSHOT.fold_version == self.fold_version,
                    _SNAPSHOT.clock < before,
                )
            ).scalar_one()
            if keep is None:
                return PruneResult(0, 0, 0, None)
            old = (_BLOCK.server_id == server_id) & (_BLOCK.last_seq <= keep)
            blocks, frames = conn.execute(
                select(func.count(), func.coalesce(func.sum(_BLOCK.frame_count), 0)).where(old)
            ).one()
            conn.execute(delete(_BLOCK_TABLE).where(old))
            snaps = conn.execute(
                delete(_SNAPSHOT_TABLE).where(
                    _SNAPSHOT.server_id == server_id, _SNAPSHOT.seq < keep
                )
            ).rowcount
            first = conn.execute(
                select(func.min(_BLOCK.first_seq)).where(_BLOCK.server_id == server_id)
            ).scalar_one()
        kept_from = int(first) if first is not None else int(keep) + 1
        return PruneResult(int(blocks), int(frames), int(snaps or 0), kept_from)

    # -- the world at a point ----------------------------------------------------------------
    def world_at(
        self,
        server: str | None = None,
        *,
        seq: int | None = None,
        time: float | None = None,
    ) -> WorldAt:
        """The World right after frame ``seq``, or as folded up to event time ``time`` (the
        fold stops before the first event later than it, as ``replay --until`` does); neither:
        at the end of the log. Starts from the nearest earlier snapshot of this fold version.

        The cyclic garbage collector is held off meanwhile (when at most
        :data:`HOLD_COLLECTOR_UP_TO` frames are folded; see :mod:`tracker.store.gcpause`): a
        collection that comes due runs at the caller's next allocation instead."""
        with CollectorHold() as hold:
            info = self.server(server)
            end = info.next_seq - 1
            target = end if seq is None else min(seq, end)
            reducer, start_seq = self._start(info.id, target, time)
            if target - start_seq > HOLD_COLLECTOR_UP_TO:
                hold.release()  # a long fold (no snapshot near): may make cyclic garbage
            folded = 0
            last = start_seq
            if target > start_seq:
                for env in self._envelopes(info.id, start_seq + 1, target, strict=True):
                    if time is not None and reducer.time_of(env) > time:
                        break  # the fold's judged time: a far-future outlier does not stop it
                    reducer.apply(env)
                    folded += 1
                    last = env.seq
            return WorldAt(reducer.world, last, start_seq if start_seq >= 0 else None, folded)

    def _start(self, server_id: int, target: int, time: float | None) -> tuple[Reducer, int]:
        """A Reducer at the nearest usable snapshot at or before ``target`` (and ``time``)."""
        query = _SNAPSHOTS if time is None else _SNAPSHOTS_BY_TIME
        params = {
            "server": server_id,
            "version": self.fold_version,
            "target": target,
            "time": time,
        }
        with translated(self.url), self.engine.connect() as conn:
            candidates = conn.execute(query, params).all()
        for row in candidates:
            try:
                world = decode_snapshot(row.codec, row.data)
            except BlockError:
                continue  # unreadable: an earlier snapshot (or the log) will do
            return Reducer(world), int(row.seq)
        return Reducer(), -1


def open_store(url: str, *, check: bool = True) -> Store:
    """Open the database at ``url``; with ``check``, fail unless its schema is up to date."""
    engine = create(url)
    try:
        with translated(url), engine.connect() as conn:
            if check:
                migrate.check(conn)
    except BaseException:
        engine.dispose()
        raise
    return Store(engine, url)
