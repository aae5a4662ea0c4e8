"""The tracker as a service: one nursery per Asterisk server, several servers in one process.

Per server, a task runs the live ``Tracker`` (AMI client with reconnect, keepalive and resync
on every (re)connect, and the fold), logs each resync with the resulting state, and sums the
anomalies into at most one log line per ``anomaly_log_interval``. Beside them run the metrics
sampler and, with ``metrics`` set, the HTTP endpoint (``/metrics``, ``/healthz``).

With ``db`` set, each server's frames, snapshots and reporting rows go to the database through
its own persister (``open_server``: the one place where a server's tracker is built).

``stop()`` is graceful: every server logs off, its fold consumes what was received, its
persister stores a final snapshot and is flushed, then ``run()`` returns. A refused login is not
retried (the settings are wrong): the other servers are stopped gracefully and ``run()``
raises the ``AuthenticationError``. Every other failure (unreachable host, not an AMI server,
garbage, a silent server) is retried with exponential backoff by the client.
"""

from __future__ import annotations

import collections
import logging
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

import trio

from ..config import ConfigError, ServerSettings, Settings
from ..errors import AuthenticationError, StoreError, TrackerError
from ..query import gap_text, summary
from ..state import Anomaly, World
from ._groups import leaves
from .client import AmiClient
from .http import serve_http
from .logs import SERVER
from .metrics import ServiceMetrics
from .tracker import Tracker
from .url import AmiTarget, parse_url

log = logging.getLogger(__name__)

SAMPLE_INTERVAL = 1.0
"""Seconds between two samples of the per-second rates."""


class Server:
    """One Asterisk server of the service; ``tracker`` exists once the server is opened."""

    def __init__(self, settings: ServerSettings) -> None:
        self.settings = settings
        self.name = settings.name
        self.target = target(settings)  # a bad URL is refused before anything starts
        self.tracker: Tracker | None = None
        self.scope = trio.CancelScope()
        self.error: TrackerError | None = None
        """Why it stopped for good (a refused login, a setting that cannot work)."""

    def __repr__(self) -> str:
        return f"<Server {self.name} {self.target.redacted}>"


def target(server: ServerSettings) -> AmiTarget:
    """The AMI target of ``server`` (``ConfigError`` for a bad URL)."""
    secret = server.secret.reveal() if server.secret is not None else None
    try:
        return parse_url(server.url, secret=secret)
    except ValueError as exc:
        raise ConfigError(f"server {server.name}: {exc}") from None


def tls_context(server: ServerSettings) -> ssl.SSLContext:
    """Verifying client context, trusting ``server.ca_file`` if set (else the system's CAs)."""
    try:
        return ssl.create_default_context(cafile=server.ca_file)
    except (OSError, ssl.SSLError) as exc:
        reason = getattr(exc, "strerror", None) or exc
        raise ConfigError(
            f"server {server.name}: cannot load ca_file {server.ca_file}: {reason}"
        ) from None


def make_tracker(
    server: ServerSettings, settings: Settings, *, first_seq: int = 0, world: World | None = None
) -> Tracker:
    """The live tracker of ``server`` as ``settings`` say (``ConfigError`` for a bad URL);
    ``first_seq`` and ``world`` continue a stored log."""
    where = target(server)
    client = AmiClient(
        where,
        ssl_context=tls_context(server) if where.tls else None,
        keepalive=settings.keepalive or None,
        action_timeout=settings.action_timeout,
        connect_timeout=settings.connect_timeout,
        backoff_initial=settings.backoff_initial,
        backoff_max=settings.backoff_max,
        action_id_prefix=f"tracker-{server.name}",
        first_seq=first_seq,
    )
    return Tracker(client, reconcile_interval=settings.reconcile_interval or None, world=world)


async def close_tracker(tracker: Tracker, scope: trio.CancelScope) -> None:
    """Log off and let the fold consume what was received. A tracker that never logged in
    has nothing to log off or fold: ``scope`` (around its ``run``) is cancelled instead."""
    if tracker.client.session_started.is_set():
        await tracker.aclose()
    else:
        scope.cancel()


class Service:
    """Every configured server, the metrics and their endpoint, in one trio nursery."""

    def __init__(self, settings: Settings, *, metrics: ServiceMetrics | None = None) -> None:
        if not settings.servers:
            raise ConfigError("no AMI server configured")
        self.settings = settings
        self.metrics = metrics or ServiceMetrics()
        self.servers = [Server(s) for s in settings.servers]
        self.metrics_port: int | None = None
        """Bound port of the metrics endpoint, once listening."""
        self._stop = trio.Event()
        self.stopping = False

    def stop(self) -> None:
        """Ask for a graceful stop (idempotent)."""
        self.stopping = True
        self._stop.set()

    @property
    def healthy(self) -> bool:
        """Every server connected and resynced."""
        return all(_state(s) == "up synced" for s in self.servers)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Run until ``stop()``; ``started`` once every server's tracker is open (``tracker``
        set) and the metrics endpoint listens (not waiting for logins: a server may be down)."""
        async with trio.open_nursery() as nursery:
            address = self.settings.metrics_address
            if address is not None:
                self.metrics_port = await nursery.start(self._serve_metrics, *address)
            nursery.start_soon(self._sample)
            async with trio.open_nursery() as servers:
                for server in self.servers:
                    await servers.start(self._run_server, server)
                task_status.started()
                await self._stop.wait()
                log.info("stopping: logging off %d server(s)", len(self.servers))
                for server in self.servers:
                    if server.tracker is None:  # still opening
                        server.scope.cancel()
                    else:
                        servers.start_soon(close_tracker, server.tracker, server.scope)
            nursery.cancel_scope.cancel()
        for server in self.servers:
            if server.tracker is None:
                log.info("stopped %s: never opened", server.name)
                continue
            s = server.tracker.stats
            log.info(
                "stopped %s: %d frames folded, %d calls ended, %d sessions, %d resyncs, "
                "%d anomalies",
                server.name,
                s.frames,
                s.calls_ended,
                s.sessions,
                s.resyncs,
                s.anomalies,
            )
        refused = [s.error for s in self.servers if s.error is not None]
        if refused:
            raise refused[0]

    # -- one server ----------------------------------------------------------------------
    async def _run_server(self, server: Server, *, task_status: trio.TaskStatus[None]) -> None:
        SERVER.set(server.name)  # this task's context: inherited by every task it starts
        log.info("starting: %s", server.target.redacted)
        try:
            with server.scope:
                async with (
                    open_server(server.settings, self.settings, self.metrics) as tracker,
                    trio.open_nursery() as nursery,
                ):
                    server.tracker = tracker
                    task_status.started()
                    nursery.start_soon(self._log_resyncs, tracker)
                    nursery.start_soon(self._log_anomalies, tracker)
                    await tracker.run()
                    nursery.cancel_scope.cancel()
        except* (AuthenticationError, ConfigError, StoreError) as group:
            error = leaves(group)[0]
            assert isinstance(error, TrackerError)
            server.error = error
            log.error("%s: not retrying (fix the settings)", error)
            self.stop()
            if server.tracker is None:
                task_status.started()  # failed to open: the service stops

    @staticmethod
    async def _log_resyncs(tracker: Tracker) -> None:
        """One line per completed resync, with the state it produced."""
        logged = 0
        session = 1
        while True:
            await tracker.wait_synced(session)
            if tracker.closed.is_set():
                return
            session = tracker.stats.sessions + 1
            if tracker.stats.resyncs == logged:
                continue
            logged = tracker.stats.resyncs
            state = ", ".join(
                f"{v} {k.replace('_', ' ')}" for k, v in summary(tracker.world).items()
            )
            report = tracker.stats.last_resync
            if report is not None:
                state += f" ({len(report.actions)} actions, {len(report.errors)} error answers)"
            gap = gap_text(tracker.world)
            if gap:
                state += f"; {gap}"
            log.info("resynced: %s", state)

    async def _log_anomalies(self, tracker: Tracker) -> None:
        """At most one line per interval: how many anomalies, of which kinds, one example."""
        interval = self.settings.anomaly_log_interval
        kinds: collections.Counter[str] = collections.Counter()
        examples: list[Anomaly] = []

        async def report() -> None:
            reported = tracker.stats.anomalies
            while True:
                await trio.sleep(interval)
                total = tracker.stats.anomalies
                if total > reported:
                    _log_burst(total - reported, interval, kinds, examples[:1])
                    reported = total
                kinds.clear()
                examples.clear()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(report)
            with tracker.subscribe(buffer=256) as changes:
                async for batch in changes:
                    for change in batch.changes:
                        if type(change) is Anomaly:
                            kinds[change.kind] += 1
                            if not examples:
                                examples.append(change)
            nursery.cancel_scope.cancel()

    # -- metrics -------------------------------------------------------------------------
    async def _sample(self) -> None:
        while True:
            self.metrics.sample(trio.current_time())
            await trio.sleep(SAMPLE_INTERVAL)

    async def _serve_metrics(
        self, host: str, port: int, *, task_status: trio.TaskStatus[int]
    ) -> None:
        def metrics() -> tuple[int, bytes, str]:
            body, content_type = self.metrics.exposition()
            return 200, body, content_type

        def health() -> tuple[int, bytes, str]:
            lines = [f"{s.name} {_state(s)}" for s in self.servers]
            status = 200 if self.healthy else 503
            return status, ("\n".join(lines) + "\n").encode(), "text/plain; charset=utf-8"

        routes = {"/metrics": metrics, "/healthz": health, "/": health}
        await serve_http(host, port, routes, task_status=task_status)


def _log_burst(
    count: int, interval: float, kinds: collections.Counter[str], examples: list[Anomaly]
) -> None:
    top = ", ".join(f"{n} {kind}" for kind, n in kinds.most_common(5))
    example = ""
    if examples:
        a = examples[0]
        example = f"; e.g. seq {a.seq} {a.event or ''} {a.kind}: {a.detail}".rstrip(": ")
    log.warning(
        "%d anomalies in the last %gs (%s)%s", count, interval, top or "kinds not seen", example
    )


def _state(server: Server) -> str:
    tracker = server.tracker
    if tracker is None or not tracker.client.connected:
        return "down"
    return "up synced" if tracker.synced.is_set() else "up"


@asynccontextmanager
async def open_server(
    server: ServerSettings, settings: Settings, metrics: ServiceMetrics
) -> AsyncIterator[Tracker]:
    """The server's tracker, registered in ``metrics``; with ``settings.db``, persisted.

    The persister opens the server's log in the database (writing a spill file an earlier run
    left), the tracker continues it (its seq and World), the persister's feed is a fold sink,
    and ``metrics.persister`` reads its queue depth and write latencies. Leaving (after the
    tracker stopped) notes the session's end and flushes what is pending.
    """
    if settings.db is None:
        tracker = make_tracker(server, settings)
        metrics.watch(server.name, tracker, trio.current_time())
        yield tracker
        return
    from .persister import Persister

    persister = Persister(
        settings.db.reveal(),
        server.name,
        ami_url=target(server).redacted,
        memory_frames=settings.spill_after,
        shutdown_timeout=settings.flush_timeout,
    )
    start = await trio.to_thread.run_sync(persister.open)
    tracker = make_tracker(server, settings, first_seq=start.next_seq, world=start.world)
    feed = persister.live_feed(start)
    feed.follow_client(tracker.client)
    tracker.add_sink(feed)
    metrics.watch(server.name, tracker, trio.current_time())
    metrics.persister.set_queue_depth(server.name, lambda: persister.pending)
    persister.on_write = partial(metrics.persister.observe_write, server.name)
    persister.on_failure = partial(metrics.persister.count_failure, server.name)
    persister.on_spill = partial(metrics.persister.count_spilled, server.name)
    log.info("persisting to %s from seq %d", settings.db, start.next_seq)
    async with trio.open_nursery() as nursery:
        await nursery.start(persister.run)
        try:
            yield tracker
        finally:
            feed.close(world=tracker.world)  # the final snapshot
            await persister.aclose()
            s = persister.stats
            log.info(
                "persister flushed: %d frames written, %d pending",
                s.frames_written,
                persister.pending,
            )


__all__ = ["Server", "Service", "close_tracker", "make_tracker", "open_server", "target"]
