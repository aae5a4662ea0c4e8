"""The live tracker: AMI client -> fold -> change batches, with a resync after every (re)connect.

One nursery runs the reconnecting ``AmiClient``, a fold task and, per session, a resync task::

    async with open_tracker("ami://user:secret@pbx") as tracker:   # logged in and synced
        tracker.world, tracker.snapshot(), tracker.active_calls()
        await tracker.send(OriginateAction(...))              # -> AmiResponse
        async for change in tracker.changes(): ...            # Change records, FellBehind gaps
        with tracker.subscribe() as batches:                  # or whole ChangeBatch-es
            async for batch in batches: ...

The fold task applies every ``Received.envelope`` in received order (list answers included: the
fold treats list items as reconciliation) and publishes the change records in batches. Each
subscriber has its own bounded buffer filled with ``send_nowait``: a slow subscriber loses
batches (counted, and flagged on the next batch it gets) and never stalls the fold or the
reader (DESIGN.md decision 4; only the reader's own buffer overflowing drops the connection).

While connected, a ``CoreShowChannels`` every ``reconcile_interval`` seconds (default 300)
lets the fold close channels whose ``Hangup`` was lost (``tracker.reducer.resync``); without
it only a reconnect's resync would clear them. ``open_tracker`` gives up with
``ConnectTimeoutError`` when its first session cannot be established within
``first_connect_timeout`` seconds; after that, lost sessions are retried with backoff.

Event time: the fold's clock follows Asterisk's ``Timestamp`` headers. The local receive time
is passed to the fold only in a session whose live events carry no ``Timestamp``
(``timestampevents = no``); otherwise the two clocks would be mixed (responses and list items
have no ``Timestamp``), and a live fold would differ from an offline replay of the same bytes.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import ssl
import weakref
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, NamedTuple, Protocol, TypeVar

import trio

from ..ami import Frame
from ..errors import ActionTimeoutError, ConnectionLostError, ConnectTimeoutError, TrackerError
from ..events.actions import CoreShowChannelsAction
from ..events.base import AmiEvent, AmiResponse, SessionStarted
from ..events.envelope import Envelope
from ..query import ActiveCall, active_calls, summary
from ..reducer import Reducer
from ..state import Anomaly, Change, World, snapshot
from ..state.call import CallEnded
from ._groups import single
from .changes import CHANGES_BUFFER, ChangeStream, FellBehind, Stream
from .client import AmiClient, Received, RetryHook
from .resync import ResyncReport, resync
from .url import AmiTarget, parse_url

if TYPE_CHECKING:
    from .persister import Persister

log = logging.getLogger(__name__)

MAX_BATCH = 512
"""Envelopes folded per published batch at most (a batch is whatever was buffered)."""
RECONCILE_INTERVAL = 300.0
"""Seconds between two ``CoreShowChannels`` reconciliations of a connected session."""
FIRST_CONNECT_TIMEOUT = 10.0
"""Seconds ``open_tracker`` tries to establish its first session before giving up."""
_UNSTAMPED_OK = frozenset({"FullyBooted"})
"""Live events Asterisk sends without ``Timestamp`` even with ``timestampevents = yes``."""


class ChangeBatch(NamedTuple):
    """Change records of consecutive frames ``first_seq..last_seq`` (inclusive)."""

    first_seq: int
    last_seq: int
    changes: tuple[Change, ...]
    dropped: int = 0
    """Batches this subscriber lost just before this one (0: no gap)."""


@dataclasses.dataclass
class TrackerStats:
    frames: int = 0
    """Envelopes folded (every received frame, across sessions)."""
    changes: int = 0
    batches: int = 0
    calls_ended: int = 0
    anomalies: int = 0
    sessions: int = 0
    """AMI sessions seen (banners folded)."""
    disconnects: int = 0
    """Sessions that ended and were followed by a new one."""
    resyncs: int = 0
    """Resyncs completed (every action answered)."""
    resync_failures: int = 0
    resync_actions: int = 0
    resync_errors: int = 0
    """``Response: Error`` answers to resync actions (counted as answered)."""
    reconciles: int = 0
    """Periodic ``CoreShowChannels`` answered while connected."""
    reconcile_failures: int = 0
    """Periodic ``CoreShowChannels`` unanswered in time or answered ``Error``."""
    last_resync: ResyncReport | None = None
    subscriber_overflows: int = 0
    """Batches dropped because a subscriber's buffer was full."""


class _Subscriber(Protocol):
    def _offer(self, batch: ChangeBatch) -> bool: ...
    def _end(self) -> None: ...


_S = TypeVar("_S", bound=_Subscriber)


class FoldSink(Protocol):
    """Gets every folded batch, losslessly: called in the fold task right after the batch is
    folded (``world`` is the fold's own World, at the batch's end). It must not block."""

    def __call__(
        self,
        frames: Sequence[Frame],
        envelopes: Sequence[Envelope],
        clocks: Sequence[float],
        changes: Sequence[Change],
        world: World,
    ) -> None: ...


class Subscription(Stream):
    """A bounded stream of ``ChangeBatch``; iterate it, close it (or use ``with``) when done."""

    def __init__(self, tracker: Tracker, buffer: int) -> None:
        self._tracker = tracker
        self._send, self._recv = trio.open_memory_channel[ChangeBatch](buffer)
        self.dropped = 0
        """Batches lost so far because this subscriber was too slow."""
        self._pending_gap = 0

    def _offer(self, batch: ChangeBatch) -> bool:
        """Queue ``batch`` without waiting; False when the subscriber is gone."""
        if self._pending_gap:
            batch = batch._replace(dropped=self._pending_gap)
        try:
            self._send.send_nowait(batch)
        except trio.WouldBlock:
            self.dropped += 1
            self._pending_gap += 1
            self._tracker.stats.subscriber_overflows += 1
            return True
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            return False
        self._pending_gap = 0
        return True

    def _end(self) -> None:
        self._send.close()

    def close(self) -> None:
        self._tracker._subscribers.discard(self)
        self._recv.close()
        self._send.close()

    async def __anext__(self) -> ChangeBatch:
        try:
            return await self._recv.receive()
        except (trio.EndOfChannel, trio.ClosedResourceError):
            raise StopAsyncIteration from None


class Tracker:
    """Live call state of one Asterisk. ``world`` is the fold's own World: read it, never
    mutate it, and copy it (``snapshot()``) to keep it across a checkpoint."""

    def __init__(
        self,
        client: AmiClient,
        *,
        resync: bool = True,
        resync_timeout: float | None = None,
        max_batch: int = MAX_BATCH,
        reconcile_interval: float | None = RECONCILE_INTERVAL,
        first_connect_timeout: float | None = None,
        world: World | None = None,
    ) -> None:
        self.client = client
        self.resync_enabled = resync
        self.resync_timeout = resync_timeout
        self.reconcile_interval = reconcile_interval
        """Seconds between periodic ``CoreShowChannels`` while connected (None or 0: never)."""
        self.first_connect_timeout = first_connect_timeout
        """Give up (``ConnectTimeoutError``) when no session logged in this soon (None: retry
        forever). Later sessions always reconnect with backoff."""
        self.max_batch = max_batch
        self.stats = TrackerStats()
        self._reducer = Reducer(world)
        self._subscribers: weakref.WeakSet[_Subscriber] = weakref.WeakSet()
        """Weak: a stream its consumer dropped (a ``break`` out of ``async for``) goes away."""
        self._sinks: list[FoldSink] = []
        self._synced = trio.Event()
        self._ever_synced = trio.Event()
        self._sync_progress = trio.Event()
        self._synced_session = 0
        self._resync_scope: trio.CancelScope | None = None
        self._nursery: trio.Nursery | None = None
        self._client_scope = trio.CancelScope()
        self._use_received = False
        self._seq_waiters: list[tuple[int, trio.Event]] = []
        self._last_seq = -1
        self.closed = trio.Event()
        """Set when the fold has consumed the last frame and the tracker stopped."""

    def __repr__(self) -> str:
        return f"<Tracker {self.client.target.redacted} frames={self.stats.frames}>"

    # -- read-only views -----------------------------------------------------------------
    @property
    def world(self) -> World:
        return self._reducer.world

    def snapshot(self) -> World:
        """An independent copy of the current World."""
        return snapshot(self._reducer.world)

    def summary(self) -> dict[str, int]:
        return summary(self._reducer.world)

    def active_calls(self) -> list[ActiveCall]:
        return active_calls(self._reducer.world)

    @property
    def synced(self) -> trio.Event:
        """Set once the current session's resync is complete (a new Event per session)."""
        return self._synced

    @property
    def last_seq(self) -> int:
        """Seq of the last envelope folded."""
        return self._last_seq

    def subscribe(self, buffer: int = 1024) -> Subscription:
        """Change batches from now on, buffered up to ``buffer`` batches (then dropped)."""
        return self._attach(Subscription(self, buffer))

    def changes(self, buffer: int = CHANGES_BUFFER) -> ChangeStream:
        """Change records from now on, one by one, holding up to ``buffer`` of them for a
        slow consumer; past that, a ``FellBehind`` item marks the gap (``changes.py``)."""
        return self._attach(ChangeStream(self, buffer))

    def _attach(self, stream: _S) -> _S:
        if self.closed.is_set():
            stream._end()
        else:
            self._subscribers.add(stream)
        return stream

    async def send(self, action: object, *, time_limit: float | None = None) -> AmiResponse:
        """Send an action (typed, e.g. ``OriginateAction(...)``, or ``(name, params)``) on the
        current session; return its response, matched by ActionID. Raises
        ``ConnectionLostError`` while disconnected, ``ActionTimeoutError`` when unanswered
        within ``time_limit`` (default: the client's ``action_timeout``)."""
        return await self.client.send(action, time_limit=time_limit)

    async def send_list(
        self, action: object, *, time_limit: float | None = None
    ) -> tuple[AmiResponse, list[AmiEvent]]:
        """Send a list action (e.g. ``QueueStatusAction()``); return its response and items.
        The items are also folded, like every received frame."""
        return await self.client.send_list(action, time_limit=time_limit)

    def add_sink(self, sink: FoldSink) -> None:
        """Feed every folded batch to ``sink`` (no loss path: the persister uses this)."""
        self._sinks.append(sink)

    async def wait_synced(self, session: int = 1) -> None:
        """Return once the state is synced in AMI session ``session`` (1 = the first) or a
        later one; e.g. ``wait_synced(2)`` after a first reconnect."""
        while self._synced_session < session and not self.closed.is_set():
            await self._sync_progress.wait()

    async def wait_folded(self, seq: int) -> None:
        """Return once the envelope ``seq`` (or a later one) has been folded."""
        if self._last_seq >= seq or self.closed.is_set():
            return
        event = trio.Event()
        self._seq_waiters.append((seq, event))
        await event.wait()

    # -- running -------------------------------------------------------------------------
    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Run until ``aclose()``; ``started`` once logged in and a first resync is done.

        Raises ``ConnectTimeoutError`` if ``first_connect_timeout`` passes before a login.
        """
        limit = math.inf if self.first_connect_timeout is None else self.first_connect_timeout
        deadline = trio.move_on_after(limit)
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                nursery.start_soon(self._fold_loop, nursery.cancel_scope)
                with deadline:
                    await nursery.start(self._run_client)
                if not self.client.session_started.is_set():
                    nursery.cancel_scope.cancel()  # first connect timed out: raised below
                else:
                    if self.resync_enabled:
                        await self._ever_synced.wait()
                    task_status.started()
        finally:
            self._finish()
        # checked here: the fold loop may have cancelled the nursery first (the client stopped)
        if deadline.cancel_called and not self.client.session_started.is_set():
            raise self._gave_up(limit)

    def _gave_up(self, limit: float) -> ConnectTimeoutError:
        client = self.client
        why = client.last_failure
        return ConnectTimeoutError(
            f"no AMI session with {client.target.redacted} within {limit:g}s "
            f"({client.stats.connect_failures} failed attempts"
            + (f"; last: {why})" if why is not None else ")")
        )

    async def _run_client(self, *, task_status: trio.TaskStatus[None]) -> None:
        with self._client_scope:
            await self.client.run(task_status=task_status)
        if not self.client.session_started.is_set():
            # closed before the first login: ``run`` sees no session and returns
            task_status.started()

    async def aclose(self) -> None:
        """Log off (bounded), let the fold consume what was received, and stop."""
        await self.client.aclose()
        self._client_scope.cancel()  # the client may sit in a reconnect backoff
        with trio.CancelScope(shield=True), trio.move_on_after(5):
            await self.closed.wait()

    def _finish(self) -> None:
        if self._resync_scope is not None:
            self._resync_scope.cancel()
        for sub in list(self._subscribers):
            sub._end()
        self._subscribers.clear()
        for _, event in self._seq_waiters:
            event.set()
        self._seq_waiters.clear()
        self.closed.set()
        self._sync_progress.set()

    # -- the fold ------------------------------------------------------------------------
    async def _fold_loop(self, scope: trio.CancelScope) -> None:
        recv = self.client.receive_channel
        while True:
            try:
                batch = [await recv.receive()]
            except (trio.EndOfChannel, trio.ClosedResourceError):
                break
            while len(batch) < self.max_batch:
                try:
                    batch.append(recv.receive_nowait())
                except (trio.WouldBlock, trio.EndOfChannel, trio.ClosedResourceError):
                    break
            self._fold(batch)
        self._finish()
        scope.cancel()

    def _fold(self, batch: list[Received]) -> None:
        reducer = self._reducer
        stats = self.stats
        changes: list[Change] = []
        sinks = self._sinks
        envs: list[Envelope] = []
        clocks: list[float] = []
        for received in batch:
            env = self._timed(received.envelope)
            if type(env.item) is SessionStarted:
                self._session_started()
            applied = reducer.apply(env)
            if sinks:
                envs.append(env)
                clocks.append(reducer.world.clock)
            for change in applied:
                changes.append(change)
                kind = type(change)
                if kind is CallEnded:
                    stats.calls_ended += 1
                elif kind is Anomaly:
                    stats.anomalies += 1
            stats.frames += 1
            self._last_seq = env.seq
        first, last = batch[0].envelope.seq, batch[-1].envelope.seq
        if sinks:
            frames = [received.frame for received in batch]
            for sink in sinks:
                sink(frames, envs, clocks, changes, reducer.world)
        if changes:
            stats.changes += len(changes)
            stats.batches += 1
            out = ChangeBatch(first, last, tuple(changes))
            for sub in list(self._subscribers):
                if not sub._offer(out):
                    self._subscribers.discard(sub)
        if self._seq_waiters:
            waiting = []
            for seq, event in self._seq_waiters:
                if seq <= last:
                    event.set()
                else:
                    waiting.append((seq, event))
            self._seq_waiters = waiting

    def _timed(self, env: Envelope) -> Envelope:
        """Keep ``received_at`` only in sessions whose live events have no Timestamp."""
        if self._use_received or env.received_at is None:
            return env
        item = env.item
        if (
            not env.list_item
            and isinstance(item, AmiEvent)
            and item.timestamp is None
            and type(item).__name__ not in _UNSTAMPED_OK
        ):
            self._use_received = True
            return env
        return env._replace(received_at=None)

    # -- sessions and resync -------------------------------------------------------------
    def _session_started(self) -> None:
        stats = self.stats
        stats.sessions += 1
        if stats.sessions > 1:
            stats.disconnects += 1
            self._synced = trio.Event()
        self._use_received = False
        if self._resync_scope is not None:
            self._resync_scope.cancel()  # the previous session's resync is moot
            self._resync_scope = None
        assert self._nursery is not None
        scope = self._resync_scope = trio.CancelScope()
        if not self.resync_enabled:
            self._synced_session = stats.sessions
            self._synced.set()
            self._ever_synced.set()
            self._nursery.start_soon(self._unsynced_session, scope)
            return
        self._nursery.start_soon(self._resync, scope, self._synced, stats.sessions)

    async def _unsynced_session(self, scope: trio.CancelScope) -> None:
        with scope:
            await self._reconcile()

    async def _reconcile(self) -> None:
        """Every ``reconcile_interval`` s, ask ``CoreShowChannels``: the fold closes the channels
        Asterisk no longer has (their Hangup was lost), so state converges without a reconnect.
        Runs until the session ends (its scope is cancelled by the next banner)."""
        interval = self.reconcile_interval
        if not interval or interval <= 0:
            return
        stats = self.stats
        while True:
            await trio.sleep(interval)
            try:
                result = await self.client.request(
                    CoreShowChannelsAction(), time_limit=self.resync_timeout
                )
            except ActionTimeoutError as exc:
                stats.reconcile_failures += 1
                log.warning("reconcile: %s", exc)
                continue
            except ConnectionLostError:
                return
            if result.ok:
                stats.reconciles += 1
            else:
                stats.reconcile_failures += 1
                log.warning("reconcile: CoreShowChannels refused: %s", result.message)

    async def _resync(self, scope: trio.CancelScope, synced: trio.Event, session: int) -> None:
        with scope:
            try:
                report = await resync(self.client, time_limit=self.resync_timeout)
            except ActionTimeoutError as exc:
                self.stats.resync_failures += 1
                log.warning("resync failed (%s): dropping the session to start over", exc)
                self.client.drop("resync unanswered")
                return
            except ConnectionLostError as exc:
                self.stats.resync_failures += 1
                log.info("resync interrupted: %s", exc)
                return
            stats = self.stats
            stats.resync_actions += len(report.actions)
            stats.resync_errors += len(report.errors)
            stats.last_resync = report
            # every answer was delivered before its waiter woke: wait until it is folded too
            await self.wait_folded(self.client.next_seq - 1)
            stats.resyncs += 1
            self._synced_session = session
            synced.set()
            self._ever_synced.set()
            progress, self._sync_progress = self._sync_progress, trio.Event()
            progress.set()
            await self._reconcile()


@asynccontextmanager
async def open_tracker(
    target: AmiTarget | str,
    *,
    resync: bool = True,
    resync_timeout: float | None = None,
    ssl_context: ssl.SSLContext | None = None,
    events: str | None = None,
    keepalive: float | None = 20.0,
    action_timeout: float = 10.0,
    connect_timeout: float = 10.0,
    buffer: int = 100_000,
    backoff_initial: float = 0.5,
    backoff_max: float = 30.0,
    on_retry: RetryHook | None = None,
    reconcile_interval: float | None = RECONCILE_INTERVAL,
    first_connect_timeout: float | None = FIRST_CONNECT_TIMEOUT,
    db: str | None = None,
    server: str | None = None,
    persister: Persister | None = None,
) -> AsyncIterator[Tracker]:
    """``async with open_tracker(url) as tracker:`` returns once logged in and resynced.

    Leaving the block logs off and waits (bounded) for the fold to consume what was received.
    A refused login raises ``AuthenticationError`` here; no login within
    ``first_connect_timeout`` seconds (None: wait forever) raises ``ConnectTimeoutError``
    (each attempt is bounded by ``connect_timeout``). Once a session was up, a lost
    connection is retried with backoff for as long as the tracker runs (``on_retry`` hears of
    each wait: ``tracker.runtime.client.RetryHook``). While connected,
    ``CoreShowChannels`` is asked every ``reconcile_interval`` seconds (None or 0: never) so
    that channels whose Hangup was lost are closed.

    With ``db`` (a database URL), every received frame, snapshots and reporting rows are
    persisted (``tracker.runtime.persister``) under ``server`` (default: the AMI host); the
    tracker continues that server's log: its World and frame numbering start where the
    stored log ends. Pass ``persister`` instead for non-default persister settings.
    """
    if persister is None and db is not None:
        from .persister import Persister

        where = parse_url(target) if isinstance(target, str) else target
        persister = Persister(db, server or where.host, ami_url=where.redacted)
    start = None
    if persister is not None:
        start = await trio.to_thread.run_sync(persister.open)
    client = AmiClient(
        target,
        ssl_context=ssl_context,
        events=events,
        keepalive=keepalive,
        action_timeout=action_timeout,
        connect_timeout=connect_timeout,
        buffer=buffer,
        backoff_initial=backoff_initial,
        backoff_max=backoff_max,
        on_retry=on_retry,
        first_seq=start.next_seq if start is not None else 0,
    )
    tracker = Tracker(
        client,
        resync=resync,
        resync_timeout=resync_timeout,
        reconcile_interval=reconcile_interval,
        first_connect_timeout=first_connect_timeout,
        world=start.world if start is not None else None,
    )
    feed = None
    if persister is not None and start is not None:
        feed = persister.live_feed(start)
        feed.follow_client(client)
        tracker.add_sink(feed)
    try:
        async with trio.open_nursery() as nursery:
            if persister is not None:
                await nursery.start(persister.run)
            await nursery.start(tracker.run)
            try:
                yield tracker
            finally:
                await tracker.aclose()
                if persister is not None and feed is not None:
                    feed.close()
                    await persister.aclose()
                nursery.cancel_scope.cancel()
    except BaseExceptionGroup as group:
        raise single(group) from None


__all__ = [
    "ChangeBatch",
    "ChangeStream",
    "ConnectTimeoutError",
    "FellBehind",
    "Subscription",
    "Tracker",
    "TrackerError",
    "TrackerStats",
    "open_tracker",
]
