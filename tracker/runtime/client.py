"""trio AMI client: connect, log in, read frames into a bounded channel, correlate actions.

One connection is a *session*. ``connect()`` runs a single session as an async context manager;
``AmiClient.run()`` runs sessions forever, reconnecting with exponential backoff and jitter.
Every received frame (banner and login answers included) is delivered in order as a
``Received(frame, envelope)`` pair, so a persister can log the exact bytes; the banner's
envelope carries ``SessionStarted``, which tells the fold to resync.

The reader never waits for the consumer: it uses ``send_nowait``; a full channel (``buffer``
frames, or ``buffer_bytes`` bytes of frames) is an overload (DESIGN.md decision 4): counted in
``client.stats``, logged, and the connection is dropped so the state is resynced after
reconnecting.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import math
import random
import ssl
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from typing import NamedTuple, NoReturn

import trio

from ..ami import ActionResult, AmiConnection, Frame, FrameKind, State
from ..errors import (
    ActionTimeoutError,
    AuthenticationError,
    ConnectionLostError,
    OverloadError,
    RemoteProtocolError,
    TrackerError,
)
from ..events.base import AmiEvent, AmiResponse
from ..events.envelope import Envelope, Item
from ._groups import single
from .actions import ActionSpec, action_spec
from .decode import decode, fallback_decode
from .reasons import why
from .url import AmiTarget, parse_url

log = logging.getLogger(__name__)

RECEIVE_SIZE = 1 << 16
DEFAULT_BUFFER = 100_000
DEFAULT_BUFFER_BYTES = 64 << 20
_CHECKPOINT_EVERY = 512
"""``events()`` hands out buffered frames without a checkpoint, but never more than this."""
_NET_ERRORS = (trio.BrokenResourceError, trio.ClosedResourceError, OSError)

RetryHook = Callable[[int, float, TrackerError], None]
"""``on_retry(attempt, delay, reason)``, called by ``AmiClient.run`` before each reconnect wait:
``attempt`` counts the consecutive failed attempts or lost sessions (1 for the first retry),
``delay`` is the wait in seconds, ``reason`` the error that ended the attempt or session (its
message never holds the secret). It runs in the client's task: keep it quick."""


class Received(NamedTuple):
    """One received frame: exact bytes (``frame.raw``) and what the fold consumes."""

    frame: Frame
    envelope: Envelope


@dataclasses.dataclass
class ClientStats:
    sessions: int = 0
    """Sessions that logged in."""
    connect_failures: int = 0
    frames: int = 0
    bytes: int = 0
    overflows: int = 0
    """Times the event channel was full (each one dropped the connection)."""
    keepalive_failures: int = 0
    list_overflows: int = 0
    """List answers over the connection's bounds (see ``AmiConnection``); frames still flow."""


class _Waiter:
    __slots__ = ("done", "error", "result")

    def __init__(self) -> None:
        self.done = trio.Event()
        self.result: ActionResult | None = None
        self.error: TrackerError | None = None


class _Session:
    def __init__(self, stream: trio.abc.Stream, conn: AmiConnection) -> None:
        self.stream = stream
        self.conn = conn
        self.waiters: dict[str, _Waiter] = {}
        self.send_lock = trio.Lock()
        self.cancel_scope = trio.CancelScope()
        self.error: TrackerError | None = None
        self.logging_off = False

    def fail(self, error: TrackerError) -> None:
        if self.error is None:
            self.error = error
        self.cancel_scope.cancel()


class AmiClient:
    """An AMI client. The secret never appears in its repr, logs or exceptions."""

    def __init__(
        self,
        target: AmiTarget | str,
        *,
        ssl_context: ssl.SSLContext | None = None,
        events: str | None = None,
        keepalive: float | None = 20.0,
        action_timeout: float = 10.0,
        connect_timeout: float = 10.0,
        buffer: int = DEFAULT_BUFFER,
        buffer_bytes: int = DEFAULT_BUFFER_BYTES,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
        stable_after: float = 10.0,
        action_id_prefix: str = "tracker",
        first_seq: int = 0,
        on_retry: RetryHook | None = None,
    ) -> None:
        self.target = parse_url(target) if isinstance(target, str) else target
        if events is not None:
            self.target = dataclasses.replace(self.target, events=events)
        self._ssl_context = ssl_context
        self.keepalive = keepalive
        self.action_timeout = action_timeout
        self.connect_timeout = connect_timeout
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.stable_after = stable_after
        """A session that lasted this long resets the backoff (a flapping one does not)."""
        self.on_retry = on_retry
        """Told about each reconnect wait (``RetryHook``); None: only logged."""
        self._prefix = action_id_prefix
        self.stats = ClientStats()
        self._seq = first_seq
        """Seq of the next frame (a store continues its server's numbering: ``first_seq``)."""
        self._session: _Session | None = None
        self._closing = False
        self._error: TrackerError | None = None
        self.last_failure: TrackerError | None = None
        """Why the last connection attempt failed (None: none failed yet)."""
        self._send_ch, self._recv_ch = trio.open_memory_channel[Received](buffer)
        self.buffer_bytes = buffer_bytes
        """Bound on the bytes (``frame.raw``) of the frames waiting in the channel."""
        self._buffer = buffer
        self._sizes: deque[int] = deque()
        """Sizes of the last frames sent into the channel, oldest first (some may be consumed)."""
        self._queued = 0
        """Sum of ``_sizes``: bytes in the channel, or more until the next ``_trim``."""
        self.session_started = trio.Event()
        """Set once the first session has logged in."""

    def __repr__(self) -> str:
        state = "connected" if self._session is not None else "disconnected"
        return f"<AmiClient {self.target.redacted} {state}>"

    @property
    def next_seq(self) -> int:
        """Seq the next received frame will get."""
        return self._seq

    @property
    def closing(self) -> bool:
        return self._closing

    @property
    def connected(self) -> bool:
        return self._session is not None

    @property
    def receive_channel(self) -> trio.MemoryReceiveChannel[Received]:
        return self._recv_ch

    def events(self) -> _ReceivedIterator:
        """``async for received in client.events()``: every frame, in order.

        Ends when the client is closed; raises the reason (``ConnectionLostError``,
        ``OverloadError``, ...) once the buffered frames are consumed if the session failed.
        """
        return _ReceivedIterator(self)

    # -- connecting ----------------------------------------------------------------------
    async def _open_stream(self) -> trio.abc.Stream:
        t = self.target
        try:
            with trio.fail_after(self.connect_timeout):
                if not t.tls:
                    return await trio.open_tcp_stream(t.host, t.port)
                ctx = self._ssl_context or ssl.create_default_context()
                tls = await trio.open_ssl_over_tcp_stream(t.host, t.port, ssl_context=ctx)
                try:
                    await tls.do_handshake()
                except BaseException:
                    await trio.aclose_forcefully(tls)
                    raise
                return tls
        except trio.TooSlowError:
            raise ConnectionLostError(f"connecting to {t.redacted} timed out") from None
        except _NET_ERRORS as exc:
            raise ConnectionLostError(f"cannot connect to {t.redacted}: {why(exc)}") from exc

    async def _establish(self) -> _Session:
        """Open a connection, check the banner, log in; deliver the handshake frames."""
        stream = await self._open_stream()
        log.info("connected to %s", self.target.redacted)
        try:
            conn = AmiConnection(action_id_prefix=self._prefix)
            session = _Session(stream, conn)
            with trio.fail_after(self.connect_timeout):
                frames = await self._login(session)
        except trio.TooSlowError:
            await trio.aclose_forcefully(stream)
            raise ConnectionLostError(f"login on {self.target.redacted} timed out") from None
        except BaseException:
            await trio.aclose_forcefully(stream)
            raise
        self.stats.sessions += 1
        log.info("logged in to %s", self.target.redacted)
        try:
            for frame in frames:
                self._deliver(session, frame)
        except OverloadError:
            await trio.aclose_forcefully(stream)
            raise
        self._session = session
        return session

    async def _login(self, s: _Session) -> list[Frame]:
        t = self.target
        frames: list[Frame] = []
        held = 0  # bytes of ``frames``: they wait for the login answer, within the buffer's bounds

        async def next_frame() -> Frame:
            nonlocal held
            while True:
                frame = s.conn.next_frame()
                if frame is not None:
                    frames.append(frame)
                    held += len(frame.raw)
                    if len(frames) > self._buffer or held > self.buffer_bytes:
                        self.stats.overflows += 1
                        raise OverloadError(
                            f"{t.redacted} sent {len(frames)} frames ({held} bytes) "
                            "before answering the login"
                        )
                    return frame
                try:
                    data = await s.stream.receive_some(RECEIVE_SIZE)
                except _NET_ERRORS as exc:
                    raise ConnectionLostError(
                        f"{t.redacted}: connection failed: {why(exc)}"
                    ) from exc
                if not data:
                    raise ConnectionLostError(f"{t.redacted} closed the connection during login")
                self.stats.bytes += len(data)
                s.conn.receive_data(bytes(data))

        async def call(name: str, params: list[tuple[str, str]]) -> ActionResult:
            aid = s.conn.next_action_id()
            data = s.conn.send_action(name, params, action_id=aid)
            try:
                await s.stream.send_all(data)
            except _NET_ERRORS as exc:
                raise ConnectionLostError(f"{t.redacted}: connection failed: {why(exc)}") from exc
            while True:
                frame = await next_frame()
                if frame.completes is not None and frame.completes.action_id == aid:
                    return frame.completes

        banner = await next_frame()
        if banner.kind is not FrameKind.BANNER or "Call Manager" not in banner.name:
            shown = banner.raw[:60]
            raise RemoteProtocolError(f"{t.redacted} is not an AMI server (it sent {shown!r})")
        if t.auth == "md5":
            answer = await call("Challenge", [("AuthType", "MD5")])
            challenge = answer.response.get("Challenge")
            if not answer.ok or challenge is None:
                raise AuthenticationError(
                    f"{t.redacted} refused the MD5 challenge: {answer.message or 'no challenge'}"
                )
            key = hashlib.md5((challenge + t.secret).encode("utf-8")).hexdigest()
            params = [("AuthType", "MD5"), ("Username", t.username), ("Key", key)]
        else:
            params = [("Username", t.username), ("Secret", t.secret)]
        params.append(("Events", t.events))
        result = await call("Login", params)
        if not result.ok:
            raise AuthenticationError(
                f"login as {t.username!r} on {t.host}:{t.port} refused: {result.message}"
            )
        return frames

    # -- one session ---------------------------------------------------------------------
    async def _serve(self, s: _Session) -> None:
        """Read until the session ends; raise why it ended (nothing after a clean Logoff)."""
        self._session = s
        try:
            with s.cancel_scope:
                async with trio.open_nursery() as nursery:
                    if self.keepalive:
                        nursery.start_soon(self._keepalive, s)
                    await self._read(s)
                    nursery.cancel_scope.cancel()
        finally:
            self._session = None
            error: TrackerError = ConnectionLostError(
                f"{self.target.redacted}: session ended ({s.error or 'closed'})"
            )
            if isinstance(s.error, ConnectionLostError):
                error = s.error
            for waiter in s.waiters.values():
                waiter.error = error
                waiter.done.set()
            s.waiters.clear()
            await trio.aclose_forcefully(s.stream)
        if s.error is not None:
            raise s.error

    async def _read(self, s: _Session) -> None:
        data = b"?"  # frames buffered during login are delivered before the first read
        while True:
            for frame in s.conn:
                try:
                    self._deliver(s, frame)
                except OverloadError as exc:
                    s.fail(exc)
                    return
            if not data:
                if not s.logging_off:
                    s.fail(ConnectionLostError(f"{self.target.redacted} closed the connection"))
                return
            try:
                data = bytes(await s.stream.receive_some(RECEIVE_SIZE))
            except _NET_ERRORS as exc:
                s.fail(
                    ConnectionLostError(f"{self.target.redacted}: connection failed: {why(exc)}")
                )
                return
            self.stats.bytes += len(data)
            s.conn.receive_data(data)

    def _deliver(self, s: _Session, frame: Frame) -> None:
        seq = self._seq
        self._seq += 1
        self.stats.frames += 1
        kind = frame.kind
        problem = frame.problem
        if problem is not None and kind is not FrameKind.ANOMALY:
            self.stats.list_overflows += 1
            log.warning("%s: %s", self.target.redacted, problem)
        size = len(frame.raw)
        if self._queued + size > self.buffer_bytes:
            self._trim()
            if self._queued and self._queued + size > self.buffer_bytes:
                self._overload(seq, f"{self.buffer_bytes} bytes")
        env = Envelope(seq, decode(frame), kind is FrameKind.LIST_ITEM, time.time(), problem)
        try:
            self._send_ch.send_nowait(Received(frame, env))
        except trio.WouldBlock:
            self._overload(seq, f"{self._buffer} frames")
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass  # nobody listens any more
        else:
            self._sizes.append(size)
            self._queued += size
            if len(self._sizes) > self._buffer:
                self._trim()
        result = frame.completes
        if result is not None:
            waiter = s.waiters.pop(result.action_id, None)
            if waiter is not None:
                waiter.result = result
                waiter.done.set()

    def _trim(self) -> None:
        """Forget the sizes of consumed frames: the channel holds the last ones sent (FIFO)."""
        sizes = self._sizes
        waiting = self._send_ch.statistics().current_buffer_used
        while len(sizes) > waiting:
            self._queued -= sizes.popleft()

    def _overload(self, seq: int, full: str) -> NoReturn:
        self.stats.overflows += 1
        log.warning(
            "event buffer full (%s) at seq %d (%d overflows): dropping the connection to %s",
            full,
            seq,
            self.stats.overflows,
            self.target.redacted,
        )
        raise OverloadError(f"event consumer too slow: buffer overflowed ({full})")

    async def _keepalive(self, s: _Session) -> None:
        assert self.keepalive is not None
        while True:
            await trio.sleep(self.keepalive)
            try:
                await self._request(s, ActionSpec("Ping"), self.action_timeout)
            except ActionTimeoutError:
                self.stats.keepalive_failures += 1
                s.fail(ConnectionLostError(f"{self.target.redacted}: keepalive Ping unanswered"))
                return
            except ConnectionLostError:
                return

    # -- actions -------------------------------------------------------------------------
    async def _request(
        self,
        s: _Session,
        spec: ActionSpec,
        time_limit: float | None,
        sent: trio.Event | None = None,
    ) -> ActionResult:
        waiter = _Waiter()
        async with s.send_lock:
            if s.error is not None or s.conn.state is State.CLOSED:
                # the session is ending (the peer closed, or it failed): a lost connection,
                # not a local protocol mistake
                ended = (
                    f"session ended ({s.error})" if s.error else "the peer closed the connection"
                )
                raise ConnectionLostError(f"{self.target.redacted}: {ended}")
            aid = spec.action_id or s.conn.next_action_id()
            data = s.conn.send_action(
                spec.name,
                spec.params,
                action_id=aid,
                response=spec.response,
                complete_event=spec.complete_event,
                follow_event=spec.follow_event,
            )
            s.waiters[aid] = waiter
            try:
                await s.stream.send_all(data)
            except _NET_ERRORS as exc:
                s.waiters.pop(aid, None)
                error = ConnectionLostError(f"{self.target.redacted}: send failed: {why(exc)}")
                s.fail(error)
                raise error from exc
        log.debug("sent %s (ActionID %s)", spec.name, aid)
        if sent is not None:
            sent.set()
        with trio.move_on_after(math.inf if time_limit is None else time_limit):
            await waiter.done.wait()
        if not waiter.done.is_set():
            s.waiters.pop(aid, None)
            s.conn.forget(aid)
            raise ActionTimeoutError(f"{spec.name} (ActionID {aid}) unanswered after {time_limit}s")
        if waiter.error is not None:
            raise waiter.error
        assert waiter.result is not None
        return waiter.result

    async def request(
        self,
        action: object,
        *,
        response: str | None = None,
        time_limit: float | None = None,
        sent: trio.Event | None = None,
    ) -> ActionResult:
        """Send ``action``; return its complete answer as frames (``ActionResult``).

        ``sent`` is set once the action is written, so that callers can pipeline actions
        in a known order without waiting for each answer.
        """
        s = self._session
        if s is None:
            raise ConnectionLostError(f"not connected to {self.target.redacted}")
        spec = action_spec(action, response=response)
        return await self._request(
            s, spec, self.action_timeout if time_limit is None else time_limit, sent
        )

    async def send(self, action: object, *, time_limit: float | None = None) -> AmiResponse:
        """Send ``action`` (typed, ``(name, params)`` or a name); return its response."""
        result = await self.request(action, time_limit=time_limit)
        return _as_response(result.response)

    async def send_list(
        self, action: object, *, time_limit: float | None = None
    ) -> tuple[AmiResponse, list[AmiEvent]]:
        """Send a list action; return its response and the list items (typed)."""
        result = await self.request(action, response="list", time_limit=time_limit)
        items = [decode(f) for f in result.items]
        return _as_response(result.response), [i for i in items if isinstance(i, AmiEvent)]

    async def logoff(self, time_limit: float = 5.0) -> None:
        """Send ``Logoff`` and wait for ``Goodbye``; the session then ends cleanly."""
        s = self._session
        if s is None:
            return
        s.logging_off = True
        try:
            await self._request(s, ActionSpec("Logoff"), time_limit)
        except ActionTimeoutError:
            s.cancel_scope.cancel()

    def drop(self, reason: str) -> None:
        """Abort the current session (``run()`` then reconnects with backoff)."""
        s = self._session
        if s is not None:
            s.fail(ConnectionLostError(f"{self.target.redacted}: {reason}"))

    async def aclose(self) -> None:
        """Log off (best effort, bounded) and stop ``run()``; close the event channel."""
        self._closing = True
        with (
            trio.CancelScope(shield=True),
            trio.move_on_after(self.action_timeout),
            suppress(TrackerError),
        ):
            await self.logoff()
        s = self._session
        if s is not None:
            s.cancel_scope.cancel()

    # -- running -------------------------------------------------------------------------
    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Keep a session up until ``aclose()`` or cancellation, reconnecting with backoff.

        Every new session begins with a ``SessionStarted`` envelope. ``started`` is reported
        after the first login. A refused login is not retried: it raises ``AuthenticationError``.
        """
        attempt = 0
        started = False
        try:
            while not self._closing:
                reason: TrackerError
                try:
                    session = await self._establish()
                except AuthenticationError as exc:
                    self._error = exc
                    raise
                except (ConnectionLostError, RemoteProtocolError, OverloadError) as exc:
                    self.stats.connect_failures += 1
                    self.last_failure = reason = exc
                    log.warning("AMI connect failed: %s", exc)
                else:
                    began = trio.current_time()
                    if not started:
                        started = True
                        self.session_started.set()
                        task_status.started()
                    reason = ConnectionLostError(f"{self.target.redacted}: session ended")
                    try:
                        await self._serve(session)
                    except (ConnectionLostError, OverloadError) as exc:
                        log.warning("AMI session ended: %s", exc)
                        reason = exc
                    if self.closing:
                        break
                    if trio.current_time() - began >= self.stable_after:
                        attempt = 0  # a session that lasted resets the backoff
                delay = self._backoff(attempt)
                attempt += 1
                log.info("reconnecting to %s in %.2fs", self.target.redacted, delay)
                if self.on_retry is not None and not self._closing:
                    self.on_retry(attempt, delay, reason)
                await trio.sleep(delay)
        finally:
            self._send_ch.close()

    def _backoff(self, attempt: int) -> float:
        """Exponential backoff with "equal jitter": a random delay in [d/2, d]."""
        delay = min(self.backoff_max, self.backoff_initial * 2.0 ** min(attempt, 30))
        return delay * (0.5 + random.random() / 2)

    async def _serve_once(self, s: _Session) -> None:
        try:
            await self._serve(s)
        except TrackerError as exc:
            self._error = exc
            log.warning("AMI session ended: %s", exc)
        finally:
            self._send_ch.close()


class _ReceivedIterator:
    """Hands out buffered frames at once; waits (a trio checkpoint) only when none is buffered.

    A ``receive()`` per frame would yield to the scheduler for every frame, which caps a
    consumer that does nothing well below what the reader delivers; draining what is buffered
    keeps up. It still checkpoints at least every ``_CHECKPOINT_EVERY`` frames.
    """

    def __init__(self, client: AmiClient) -> None:
        self._client = client
        self._count = 0

    def __aiter__(self) -> _ReceivedIterator:
        return self

    async def __anext__(self) -> Received:
        recv = self._client.receive_channel
        self._count += 1
        try:
            if self._count % _CHECKPOINT_EVERY:
                with suppress(trio.WouldBlock):
                    return recv.receive_nowait()
            return await recv.receive()
        except trio.EndOfChannel:
            if self._client._error is not None:
                raise self._client._error from None
            raise StopAsyncIteration from None


def _as_response(frame: Frame) -> AmiResponse:
    item: Item = decode(frame)
    if isinstance(item, AmiResponse):
        return item
    fallback = fallback_decode(frame)
    assert isinstance(fallback, AmiResponse)
    return fallback


@asynccontextmanager
async def connect(
    target: AmiTarget | str,
    *,
    ssl_context: ssl.SSLContext | None = None,
    events: str | None = None,
    keepalive: float | None = 20.0,
    action_timeout: float = 10.0,
    connect_timeout: float = 10.0,
    buffer: int = DEFAULT_BUFFER,
    buffer_bytes: int = DEFAULT_BUFFER_BYTES,
    action_id_prefix: str = "tracker",
) -> AsyncIterator[AmiClient]:
    """One session: ``async with connect("ami://u:s@host") as client: ...``.

    Login failures raise here. If the connection is lost later, ``client.events()`` raises
    the reason after the buffered frames and ``send`` raises ``ConnectionLostError``.
    Leaving the block sends ``Logoff``. (Use ``AmiClient.run`` to reconnect automatically.)
    """
    client = AmiClient(
        target,
        ssl_context=ssl_context,
        events=events,
        keepalive=keepalive,
        action_timeout=action_timeout,
        connect_timeout=connect_timeout,
        buffer=buffer,
        buffer_bytes=buffer_bytes,
        action_id_prefix=action_id_prefix,
    )
    session = await client._establish()
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(client._serve_once, session)
            try:
                yield client
            finally:
                await client.aclose()
                nursery.cancel_scope.cancel()
    except BaseExceptionGroup as group:
        raise single(group) from None
