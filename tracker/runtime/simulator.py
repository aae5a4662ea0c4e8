"""A trio TCP server that plays an AMI capture to each client, like Asterisk would.

Each connection gets the capture's banner, must log in (plaintext ``Secret`` or MD5
``Challenge``/``Key``; a wrong secret gets ``Authentication failed`` and a close, as Asterisk
does), then receives every captured frame after the capture's own login response, byte for
byte, as fast as possible or at the recorded ``Timestamp`` pace divided by ``speed``.
Meanwhile it answers ``Ping``, ``Logoff``, and any action the capture recorded an answer for
(response + list items + complete event, re-addressed to the client's ActionID). A recorded
answer describes the PBX at its point of the capture, so it is sent no earlier than the
client's stream has reached that point (a list taken mid-capture is not served as the state at
the start). When that point is more than ``MAX_ANSWER_WAIT`` seconds of paced replay away,
the action is answered ``Error`` instead (the capture knows no answer for "now", and a
client's action timeout would expire first). ``CoreShowChannels`` and ``QueueStatus`` (without
filters) are the exceptions: where no recorded answer lies ahead, they are answered with the
channels live (``census``) and the queues (``queue_census``, for the queues a recorded answer
describes) at the client's point of the capture, computed from the capture's own frames, so a
client may ask them any time.

No client can bring the server down: whatever happens on one connection (a reset, a client
that stops reading and hangs up, TLS or garbage on the plaintext port, a malformed login) ends
that connection only, and is logged (peer, login, why it closed; never the secret). A client
that does not log in within ``login_timeout`` is closed, like Asterisk's ``authtimeout``, and
at most ``auth_limit`` connections may be logging in at once (``authlimit``).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import logging
import secrets
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Collection
from contextlib import asynccontextmanager
from pathlib import Path

import trio

from ..ami import Frame, FrameKind, FrameParser, encode_headers
from ._groups import leaves, single
from .census import ChannelCensus
from .copies import CopyShift
from .copies import timestamp as _timestamp
from .queue_census import QueueCensus
from .script import CaptureScript, Params, RecordedAnswer, load_script, with_action_id

log = logging.getLogger(__name__)

BATCH_BYTES = 1 << 16
MAX_ANSWER_WAIT = 5.0
LOGIN_TIMEOUT = 30.0
"""Seconds a client has to log in (Asterisk's ``authtimeout`` default)."""
AUTH_LIMIT = 50
"""Connections logging in at once; more are closed at once (Asterisk's ``authlimit``)."""
SESSION_HISTORY = 100
"""Finished sessions kept in ``AmiSimulator.sessions`` (the open ones are always there)."""
MAX_PENDING_ANSWERS = 64
"""Answers one session may have waiting for the stream (more are answered ``Error``)."""
ACTIONS_KEPT = 1000
_NET_ERRORS = (trio.BrokenResourceError, trio.ClosedResourceError, OSError)
_PRE_AUTH_ACTIONS = ("login", "challenge", "logoff")


@dataclasses.dataclass
class SimSession:
    """What happened on one simulated connection (for tests and logs)."""

    peer: str
    authenticated: bool = False
    auth_type: str | None = None
    events: bool = True
    streamed: int = 0
    """Frames of the capture stream sent so far."""
    position: int = 0
    """Point of the capture stream reached: frames before it were sent (or skipped)."""
    pending: list[tuple[int, bytes]] = dataclasses.field(default_factory=list)
    """Answers (recorded position, bytes) waiting for the stream to reach their point."""
    clock0: tuple[float, float] | None = None
    """Paced replay: (trio time, capture Timestamp) of the first timestamped frame."""
    actions: list[str] = dataclasses.field(default_factory=list)
    """Names of the actions received after login (the last ``ACTIONS_KEPT`` or more)."""
    census: ChannelCensus | None = None
    """Live channels at ``position`` (made on the first ``CoreShowChannels`` answered so)."""
    copy: int = 0
    """Copy of the stream being served (``AmiSimulator.copies``)."""
    resumed: bool = False
    """The session resumed the stream after a drop (``drops``)."""
    queue_census: QueueCensus | None = None
    """Queues at ``position`` (made on the first ``QueueStatus`` answered so)."""
    closed_by: str | None = None
    """``server`` (logoff answered, auth failure, drop, end of stream, write timeout) or
    ``peer``."""
    reason: str | None = None
    done: trio.Event = dataclasses.field(default_factory=trio.Event)
    stream_done: trio.Event = dataclasses.field(default_factory=trio.Event)


class _Closed(Exception):
    """Internal: the server decided to close this connection."""


class AmiSimulator:
    """Serve one capture to any number of clients (each gets its own full replay)."""

    def __init__(
        self,
        capture: str | Path | CaptureScript,
        *,
        username: str | None = None,
        secret: str | None = None,
        speed: float | None = None,
        drop_after: int | None = None,
        close_at_end: bool = False,
        events_only: bool = False,
        ssl_context: ssl.SSLContext | None = None,
        lost: Collection[int] = (),
        login_timeout: float = LOGIN_TIMEOUT,
        auth_limit: int = AUTH_LIMIT,
        history: int = SESSION_HISTORY,
        drops: Collection[int] = (),
        copies: int = 1,
        write_timeout: float | None = None,
    ) -> None:
        if copies < 1:
            raise ValueError("copies must be at least 1")
        if copies > 1 and (drops or drop_after is not None):
            raise ValueError("copies cannot be combined with drops")
        self.script = capture if isinstance(capture, CaptureScript) else load_script(capture)
        self.login_timeout = login_timeout
        self.auth_limit = auth_limit
        """Connections allowed to be logging in at once (Asterisk's ``authlimit``)."""
        self._unauthenticated = 0
        self.history = history
        """Finished sessions kept in ``sessions``, most recent last."""
        self.username = username
        self._secret = secret
        self.speed = speed
        """None = as fast as possible; else recorded pace divided by ``speed``."""
        self.drop_after = drop_after
        """Close the connection abruptly after this many stream frames (fault tests)."""
        self.close_at_end = close_at_end
        self.events_only = events_only
        """Stream only ``Event:`` frames (not the capture's own responses and list replies)."""
        self.lost = frozenset(lost)
        """Indices of ``script.stream`` never sent (fault injection: frames lost on the way;
        the channels that ``CoreShowChannels`` reports still follow them, as Asterisk would)."""
        self.ssl_context = ssl_context
        self.drops = sorted(set(drops))
        """Points of the stream (counts of frames streamed) where the connection is dropped,
        once each; the next session resumes the stream there, as a PBX goes on (nothing of
        the stream is lost or sent twice, only the reconnection's own frames come between)."""
        self.copies = copies
        """Times the stream is served in one session, copy k moved on in time (``CopyShift``)."""
        self.shift = CopyShift(self.script.stream)
        self.write_timeout = write_timeout
        """Seconds a write may wait for a client that does not read before the connection is
        closed, as Asterisk's ``writetimeout`` does (None: wait)."""
        self._resume = 0
        self._port: int | None = None
        self.sessions: list[SimSession] = []
        """Open sessions and the last ``history`` finished ones, in connection order."""
        self.connected = trio.Event()
        """Set when the first client connects."""

    def __repr__(self) -> str:
        return f"<AmiSimulator port={self._port} sessions={len(self.sessions)}>"

    @property
    def port(self) -> int:
        """The bound TCP port (once ``serve`` has started)."""
        if self._port is None:
            raise RuntimeError("the simulator is not listening yet")
        return self._port

    # -- server ------------------------------------------------------------------------
    async def serve(
        self,
        port: int = 0,
        host: str = "127.0.0.1",
        *,
        task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Listen until cancelled; ``nursery.start(sim.serve)`` returns the bound port."""
        listeners = await trio.open_tcp_listeners(port, host=host)
        bound = listeners[0].socket.getsockname()[1]
        self._port = int(bound)
        log.info("AMI simulator listening on %s:%d", host, self.port)
        serve_listeners: list[trio.SocketListener] | list[trio.SSLListener[trio.SocketStream]]
        if self.ssl_context is not None:
            serve_listeners = [
                trio.SSLListener(lst, self.ssl_context, https_compatible=False) for lst in listeners
            ]
        else:
            serve_listeners = listeners
        async with trio.open_nursery() as nursery:
            await nursery.start(trio.serve_listeners, self._handle, serve_listeners)
            task_status.started(self.port)

    async def _handle(self, stream: trio.abc.Stream) -> None:
        session = SimSession(peer=_peer(stream))
        self.sessions.append(session)
        self.connected.set()
        log.info("%s: connected", session.peer)
        try:
            await self._converse(stream, session)
        except Exception as exc:  # one connection's failure never reaches serve_listeners
            self._ended(session, exc)
        finally:
            await trio.aclose_forcefully(stream)
            session.stream_done.set()
            session.done.set()
            self._forget_finished()
        log.info(
            "%s: closed by %s (%s) after %d frames",
            session.peer,
            session.closed_by or "server",
            session.reason or "done",
            session.streamed,
        )

    def _ended(self, session: SimSession, exc: Exception) -> None:
        """Record why a connection ended; a bug is logged with its traceback, not raised."""
        errors = leaves(exc)
        if all(isinstance(e, _Closed) for e in errors):
            session.closed_by = session.closed_by or "server"
            return
        net = [e for e in errors if isinstance(e, _NET_ERRORS)]
        if len(net) == len([e for e in errors if not isinstance(e, _Closed)]):
            session.closed_by = session.closed_by or "peer"
            session.reason = session.reason or _why(net[0])
            return
        session.closed_by = session.closed_by or "server"
        session.reason = session.reason or f"internal error ({type(exc).__name__})"
        log.error("%s: connection failed", session.peer, exc_info=exc)

    def _forget_finished(self) -> None:
        finished = [s for s in self.sessions if s.done.is_set()]
        if len(finished) > self.history:
            old = {id(s) for s in finished[: len(finished) - self.history]}
            self.sessions = [s for s in self.sessions if id(s) not in old]

    async def _converse(self, stream: trio.abc.Stream, session: SimSession) -> None:
        lock = trio.Lock()

        async def send(data: bytes) -> None:
            async with lock:
                if self.write_timeout is None:
                    await stream.send_all(data)
                    return
                with trio.move_on_after(self.write_timeout) as waited:
                    await stream.send_all(data)
                if waited.cancelled_caught:
                    session.closed_by = "server"
                    session.reason = f"client not reading (write timeout {self.write_timeout:g}s)"
                    log.warning("%s: %s", session.peer, session.reason)
                    raise _Closed

        if self._unauthenticated >= self.auth_limit:
            session.closed_by, session.reason = "server", "too many connections logging in"
            log.warning("%s: %d connections already logging in", session.peer, self.auth_limit)
            raise _Closed
        parser = FrameParser(expect_banner=False)
        actions = _Actions(stream, parser, session)
        self._unauthenticated += 1
        try:
            with trio.move_on_after(self.login_timeout):
                await send(self.script.banner)
                await self._authenticate(actions, send, session)
        finally:
            self._unauthenticated -= 1
        if not session.authenticated:
            session.closed_by, session.reason = "server", "no login in time"
            log.warning("%s: no login within %ss", session.peer, self.login_timeout)
            raise _Closed
        session.resumed = self._resume > 0
        async with trio.open_nursery() as nursery:
            if session.events:
                nursery.start_soon(self._stream, send, session, nursery.cancel_scope)
            else:
                session.stream_done.set()
            await self._answer(actions, send, session)
            nursery.cancel_scope.cancel()
        if session.closed_by == "server":
            raise _Closed

    # -- login ---------------------------------------------------------------------------
    async def _authenticate(
        self, actions: _Actions, send: Callable[[bytes], Awaitable[None]], session: SimSession
    ) -> None:
        challenge: str | None = None
        while True:
            frame = await actions.next()
            name = frame.name.lower()
            aid = frame.action_id
            if name == "challenge":
                if (_param(frame, "AuthType") or "").lower() != "md5":
                    await send(_response("Error", aid, ("Message", "Must specify AuthType")))
                    continue
                challenge = str(secrets.randbelow(900_000_000) + 100_000_000)
                await send(_response("Success", aid, ("Challenge", challenge)))
            elif name == "login":
                user = _param(frame, "Username")
                if self._login_ok(frame, challenge):
                    session.authenticated = True
                    session.auth_type = "md5" if _param(frame, "Key") is not None else "plain"
                    session.events = (_param(frame, "Events") or "on").lower() != "off"
                    log.info("%s: logged in as %r (%s)", session.peer, user, session.auth_type)
                    await send(_response("Success", aid, ("Message", "Authentication accepted")))
                    return
                log.warning("%s: login as %r failed", session.peer, user)
                await send(_response("Error", aid, ("Message", "Authentication failed")))
                session.closed_by, session.reason = "server", "authentication failed"
                raise _Closed
            elif name == "logoff":
                await send(_response("Goodbye", aid, ("Message", "Thanks for all the fish.")))
                session.closed_by, session.reason = "server", "logoff"
                raise _Closed
            else:
                await send(_response("Error", aid, ("Message", "Permission denied")))

    def _login_ok(self, frame: Frame, challenge: str | None) -> bool:
        user = _param(frame, "Username")
        if self.username is not None and user != self.username:
            return False
        if self._secret is None:
            return True
        key = _param(frame, "Key")
        if key is not None:
            if challenge is None:
                return False
            expected = hashlib.md5((challenge + self._secret).encode("utf-8")).hexdigest()
            # bytes: compare_digest refuses str with non-ASCII characters (a client's Key may)
            return secrets.compare_digest(key.lower().encode("utf-8"), expected.encode("ascii"))
        given = _param(frame, "Secret") or ""
        return secrets.compare_digest(given.encode("utf-8"), self._secret.encode("utf-8"))

    # -- streaming -----------------------------------------------------------------------
    async def _stream(
        self, send: Callable[[bytes], Awaitable[None]], session: SimSession, scope: trio.CancelScope
    ) -> None:
        stream = self.script.stream
        picks, bounds = self._plan
        limit = len(picks) if self.drop_after is None else min(self.drop_after, len(picks))
        begin = self._resume
        drop = next((d for d in self.drops if begin < d < limit), None)
        if drop is not None:
            limit = drop
        if begin:
            session.position = picks[begin] if begin < len(picks) else len(stream)
        next_bound = 0
        start_clock = trio.current_time()
        first_ts: float | None = None
        batch: list[bytes] = []
        size = 0

        async def reach(position: int) -> None:
            """Flush the batch: the stream has reached ``position``; send due answers."""
            nonlocal batch, size
            session.position = max(session.position, position)
            due = [data for at, data in session.pending if at < session.position]
            session.pending = [(at, data) for at, data in session.pending if at >= session.position]
            if batch or due:
                await send(b"".join(batch + due))
                batch, size = [], 0

        for copy in range(self.copies):
            if copy:  # the next copy: the same PBX, later
                session.copy, session.position, session.census = copy, 0, None
                session.queue_census = None
                next_bound = 0
            shift = self.shift.seconds(copy)
            for n in range(begin, limit):
                index = picks[n]
                frame = stream[index]
                if next_bound < len(bounds) and bounds[next_bound] <= index:
                    while next_bound < len(bounds) and bounds[next_bound] <= index:
                        next_bound += 1
                    if session.pending:
                        await reach(index)  # a recorded answer ends here: it may be due now
                if self.speed is not None:
                    ts = _timestamp(frame)
                    if ts is not None:
                        ts += shift
                        if first_ts is None:
                            first_ts = ts
                            session.clock0 = (start_clock, ts)
                        due = start_clock + (ts - first_ts) / self.speed
                        if due > trio.current_time():
                            await reach(index)
                        await trio.sleep_until(due)
                raw = self.shift(frame.raw, copy)
                batch.append(raw)
                size += len(raw)
                session.streamed = copy * len(picks) + n + 1
                if size >= BATCH_BYTES:
                    await reach(index + 1)
            await reach(len(stream) if limit == len(picks) else picks[limit - 1] + 1)
        session.stream_done.set()
        if drop is not None:
            self._resume = drop
            session.closed_by, session.reason = "server", f"dropped at frame {drop} of the stream"
            scope.cancel()
        elif self.drop_after is not None and self.drop_after <= len(picks):
            session.closed_by, session.reason = "server", f"dropped after {limit} frames"
            scope.cancel()
        elif self.close_at_end:
            session.closed_by, session.reason = "server", "end of capture"
            scope.cancel()

    @functools.cached_property
    def _plan(self) -> tuple[list[int], list[int]]:
        """Indexes of the frames to stream, and where recorded answers end (shared by all)."""
        lost = self.lost
        picks = [
            i
            for i, f in enumerate(self.script.stream)
            if (not self.events_only or f.kind is FrameKind.EVENT) and i not in lost
        ]
        bounds = sorted({a.position + 1 for v in self.script.answers.values() for a in v})
        return picks, bounds

    # -- actions -------------------------------------------------------------------------
    def _due_soon(self, session: SimSession, timestamp: float | None) -> bool:
        """Will the paced stream reach capture time ``timestamp`` (of copy 0: the session's
        copy is later by its shift) within MAX_ANSWER_WAIT?"""
        if self.speed is None or timestamp is None or session.clock0 is None:
            return True
        start_clock, first_ts = session.clock0
        timestamp += self.shift.seconds(session.copy)
        due = start_clock + (timestamp - first_ts) / self.speed
        return due - trio.current_time() <= MAX_ANSWER_WAIT

    def _recorded_ahead(self, session: SimSession, answer: RecordedAnswer | None) -> bool:
        """A recorded answer the stream has yet to reach, soon enough to wait for it (never for a
        session that resumed after a drop: the PBX went on meanwhile, it answers for now)."""
        return (
            answer is not None
            and not session.resumed
            and answer.position >= session.position
            and not session.stream_done.is_set()
            and self._due_soon(session, answer.timestamp)
        )

    def _census(self, session: SimSession) -> ChannelCensus:
        """The session's census, read up to the point its stream has reached."""
        census = session.census
        if census is None:
            before = [
                f
                for a in self.script.answers.get("coreshowchannels", ())
                if a.position < 0
                for f in a.frames
            ]
            census = session.census = ChannelCensus(self.script.stream, before)
        census.advance(session.position)
        return census

    def _queue_census(self, session: SimSession) -> QueueCensus:
        """The session's queue census, read up to the point its stream has reached."""
        census = session.queue_census
        if census is None:
            answers = self.script.answers.get("queuestatus", ())
            census = session.queue_census = QueueCensus(self.script.stream, answers)
        census.advance(session.position)
        return census

    async def _answer(
        self, actions: _Actions, send: Callable[[bytes], Awaitable[None]], session: SimSession
    ) -> None:
        while True:
            try:
                frame = await actions.next()
            except _Closed:
                session.closed_by = session.closed_by or "peer"
                return
            name = frame.name
            aid = frame.action_id
            session.actions.append(name)
            if len(session.actions) > 2 * ACTIONS_KEPT:
                del session.actions[:ACTIONS_KEPT]
            lname = name.lower()
            if lname == "ping":
                stamp = f"{time.time():.6f}"
                await send(_response("Success", aid, ("Ping", "Pong"), ("Timestamp", stamp)))
            elif lname == "logoff":
                await send(_response("Goodbye", aid, ("Message", "Thanks for all the fish.")))
                session.closed_by, session.reason = "server", "logoff"
                return
            elif lname in ("login", "challenge"):
                await send(_response("Success", aid, ("Message", "Already authenticated")))
            else:
                params: Params = tuple((k, v) for k, v in frame.headers[1:] if k != "ActionID")
                answer = self.script.find_answer(name, params)
                if lname == "coreshowchannels" and not self._recorded_ahead(session, answer):
                    await send(self.shift(self._census(session).answer(aid), session.copy))
                elif (
                    lname == "queuestatus"
                    and not params
                    and not self._recorded_ahead(session, answer)
                    and self._queue_census(session).queues
                ):
                    await send(self.shift(self._queue_census(session).answer(aid), session.copy))
                elif answer is None:
                    msg = (
                        f"Invalid/unknown command: {name}. "
                        "Use Action: ListCommands to show available commands."
                    )
                    await send(_response("Error", aid, ("Message", msg)))
                else:
                    old = answer.action_id
                    data = b"".join(
                        with_action_id(self.shift(f.raw, session.copy), old, aid)
                        for f in answer.frames
                    )
                    future = answer.position >= session.position
                    if not future or session.stream_done.is_set():
                        await send(data)
                    elif len(session.pending) >= MAX_PENDING_ANSWERS:
                        msg = "Too many answers waiting for this point of the capture"
                        await send(_response("Error", aid, ("Message", msg)))
                    elif self._due_soon(session, answer.timestamp):
                        session.pending.append((answer.position, data))  # sent by _stream
                    else:
                        msg = "No answer recorded yet at this point of the capture"
                        await send(_response("Error", aid, ("Message", msg)))


class _Actions:
    """Reads the client's action frames from the stream."""

    def __init__(self, stream: trio.abc.Stream, parser: FrameParser, session: SimSession) -> None:
        self._stream = stream
        self._parser = parser
        self._session = session

    async def next(self) -> Frame:
        while True:
            frame = self._parser.next_frame()
            if frame is not None:
                if frame.kind is FrameKind.ACTION:
                    return frame
                continue  # stray bytes: Asterisk ignores what is not an action
            data = await self._stream.receive_some(65536)
            if not data:
                self._session.closed_by = self._session.closed_by or "peer"
                self._session.reason = self._session.reason or "connection closed"
                raise _Closed
            self._parser.feed(bytes(data))


def _param(frame: Frame, key: str) -> str | None:
    """Header value, matched case-insensitively like Asterisk does for action parameters."""
    low = key.lower()
    for k, v in frame.headers:
        if k.lower() == low:
            return v
    return None


def _response(status: str, action_id: str | None, *headers: tuple[str, str]) -> bytes:
    head: list[tuple[str, str]] = [("Response", status)]
    if action_id is not None:  # a bare CR in the client's ActionID cannot be echoed
        head.append(("ActionID", action_id.replace("\r", "")))
    head.extend(headers)
    return encode_headers(head)


def _why(exc: BaseException) -> str:
    text = str(exc) or (str(exc.__cause__) if exc.__cause__ is not None else "")
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _peer(stream: trio.abc.Stream) -> str:
    inner = stream.transport_stream if isinstance(stream, trio.SSLStream) else stream
    if isinstance(inner, trio.SocketStream):
        try:
            host, port = inner.socket.getpeername()[:2]
        except OSError:
            return "?"
        return f"{host}:{port}"
    return "?"


@asynccontextmanager
async def run_simulator(
    capture: str | Path | CaptureScript,
    *,
    port: int = 0,
    host: str = "127.0.0.1",
    username: str | None = None,
    secret: str | None = None,
    speed: float | None = None,
    drop_after: int | None = None,
    close_at_end: bool = False,
    events_only: bool = False,
    ssl_context: ssl.SSLContext | None = None,
    lost: Collection[int] = (),
    login_timeout: float = LOGIN_TIMEOUT,
    auth_limit: int = AUTH_LIMIT,
    history: int = SESSION_HISTORY,
    drops: Collection[int] = (),
    copies: int = 1,
    write_timeout: float | None = None,
) -> AsyncIterator[AmiSimulator]:
    """``async with run_simulator(path, secret=...) as sim:`` ... ``sim.port`` is bound."""
    sim = AmiSimulator(
        capture,
        username=username,
        secret=secret,
        speed=speed,
        drop_after=drop_after,
        close_at_end=close_at_end,
        events_only=events_only,
        ssl_context=ssl_context,
        lost=lost,
        login_timeout=login_timeout,
        auth_limit=auth_limit,
        history=history,
        drops=drops,
        copies=copies,
        write_timeout=write_timeout,
    )
    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(sim.serve, port, host)
            try:
                yield sim
            finally:
                nursery.cancel_scope.cancel()
    except BaseExceptionGroup as group:
        raise single(group) from None
