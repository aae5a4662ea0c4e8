"""Prometheus metrics of a running service, read from the trackers' own counters at scrape time.

Nothing is counted twice on the hot path: ``TrackerCollector`` turns ``TrackerStats`` and
``ClientStats`` into metric families when ``/metrics`` is scraped (in the trio thread, so the
World it summarises is never read mid-fold). The persister's queue depth and write latency
are ordinary ``prometheus_client`` metrics that the persister feeds (``PersisterMetrics``).
"""

from __future__ import annotations

import dataclasses
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

from ..query import summary
from .tracker import Tracker

PREFIX = "ami_tracker"
RATE_WINDOW = 10.0
"""Seconds over which the per-second rates are measured."""


class RateMeter:
    """Per-second rate of a growing counter over a sliding window of samples (no clock inside:
    the caller passes the time of each sample)."""

    def __init__(self, window: float = RATE_WINDOW) -> None:
        self.window = window
        self._samples: deque[tuple[float, int]] = deque()

    def sample(self, now: float, count: int) -> None:
        samples = self._samples
        samples.append((now, count))
        while len(samples) > 2 and now - samples[1][0] >= self.window:
            samples.popleft()

    @property
    def rate(self) -> float:
        if len(self._samples) < 2:
            return 0.0
        (t0, c0), (t1, c1) = self._samples[0], self._samples[-1]
        return (c1 - c0) / (t1 - t0) if t1 > t0 else 0.0


@dataclasses.dataclass
class Watched:
    """One server's tracker, as the metrics and the switchboard see it."""

    name: str
    tracker: Tracker
    frames_rate: RateMeter = dataclasses.field(default_factory=RateMeter)
    """Frames received per second."""
    events_rate: RateMeter = dataclasses.field(default_factory=RateMeter)
    """Frames folded per second."""

    def sample(self, now: float) -> None:
        self.frames_rate.sample(now, self.tracker.client.stats.frames)
        self.events_rate.sample(now, self.tracker.stats.frames)

    @property
    def fold_lag(self) -> int:
        """Frames received but not folded yet."""
        return max(0, self.tracker.client.stats.frames - self.tracker.stats.frames)

    @property
    def reconnects(self) -> int:
        return max(0, self.tracker.client.stats.sessions - 1)


class TrackerCollector(Collector):
    """Metric families per server, computed from the trackers' counters when scraped."""

    def __init__(self, servers: Mapping[str, Watched]) -> None:
        self._servers = servers

    def describe(self) -> Iterable[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        families: dict[str, CounterMetricFamily | GaugeMetricFamily] = {}

        def add(kind: str, name: str, doc: str, server: str, value: float) -> None:
            family = families.get(name)
            if family is None:
                cls = CounterMetricFamily if kind == "counter" else GaugeMetricFamily
                family = families[name] = cls(f"{PREFIX}_{name}", doc, labels=["server"])
            family.add_metric([server], value)

        for name, w in self._servers.items():
            t, c = w.tracker, w.tracker.client
            counters = (
                ("frames_received", "AMI frames received", c.stats.frames),
                ("received_bytes", "bytes read from the AMI socket", c.stats.bytes),
                ("frames_folded", "frames applied to the state (events)", t.stats.frames),
                ("changes", "change records produced by the fold", t.stats.changes),
                ("calls_ended", "calls that ended", t.stats.calls_ended),
                ("anomalies", "events that did not fit the state", t.stats.anomalies),
                ("sessions", "AMI sessions logged in", c.stats.sessions),
                ("reconnects", "logins after the first one", w.reconnects),
                (
                    "connect_failures",
                    "connection or login attempts that failed",
                    c.stats.connect_failures,
                ),
                ("resyncs", "state resyncs completed", t.stats.resyncs),
                ("resync_failures", "resyncs that failed", t.stats.resync_failures),
                ("reconciles", "periodic CoreShowChannels answered", t.stats.reconciles),
                (
                    "reconcile_failures",
                    "periodic CoreShowChannels unanswered or refused",
                    t.stats.reconcile_failures,
                ),
                (
                    "overflows",
                    "reader buffer overflows (each dropped the session)",
                    c.stats.overflows,
                ),
                ("keepalive_failures", "keepalive Pings unanswered", c.stats.keepalive_failures),
                (
                    "subscriber_overflows",
                    "change batches dropped by slow subscribers",
                    t.stats.subscriber_overflows,
                ),
            )
            for key, doc, value in counters:
                add("counter", key, doc, name, value)
            world = t.world
            window = f"({RATE_WINDOW:g}s window)"
            gauges: list[tuple[str, str, float]] = [
                ("connected", "1 while an AMI session is up", float(c.connected)),
                ("synced", "1 once the current session is resynced", float(t.synced.is_set())),
                ("frames_per_second", f"frames received per second {window}", w.frames_rate.rate),
                ("events_per_second", f"frames folded per second {window}", w.events_rate.rate),
                ("fold_lag_frames", "frames received and not folded yet", w.fold_lag),
                ("event_time_seconds", "Asterisk time of the last event folded", world.clock),
            ]
            gauges.extend(
                (key, f"live {key.replace('_', ' ')}", count)
                for key, count in summary(world).items()
                if key not in ("calls_ended", "anomalies")
            )
            for key, doc, level in gauges:
                add("gauge", key, doc, name, level)
        yield from families.values()


class PersisterMetrics:
    """What the persister reports: ``queue_depth`` (a callback read at scrape time) and the
    latency of each write (``observe_write``). Registered for every server from the start."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.queue_depth = Gauge(
            f"{PREFIX}_persister_queue_depth",
            "frames and changes waiting to be written to the database",
            ["server"],
            registry=registry,
        )
        self.write_seconds = Histogram(
            f"{PREFIX}_persister_write_seconds",
            "duration of one database write (a batch)",
            ["server"],
            registry=registry,
        )

        self.write_failures = Counter(
            f"{PREFIX}_persister_write_failures",
            "database writes that failed and will be retried (the database is down, full...)",
            ["server"],
            registry=registry,
        )
        self.spilled_frames = Counter(
            f"{PREFIX}_persister_spilled_frames",
            "frames moved to the spill file because the database lagged",
            ["server"],
            registry=registry,
        )

    def add(self, server: str) -> None:
        self.queue_depth.labels(server)
        self.write_seconds.labels(server)
        self.write_failures.labels(server)
        self.spilled_frames.labels(server)

    def set_queue_depth(self, server: str, probe: Callable[[], float]) -> None:
        """The persister of ``server`` hands a callback returning its current queue depth."""
        self.queue_depth.labels(server).set_function(probe)

    def observe_write(self, server: str, seconds: float) -> None:
        self.write_seconds.labels(server).observe(seconds)

    def count_failure(self, server: str) -> None:
        self.write_failures.labels(server).inc()

    def count_spilled(self, server: str, frames: int) -> None:
        self.spilled_frames.labels(server).inc(frames)


class ServiceMetrics:
    """The registry of one service: per-server tracker metrics, persister, process (RSS, CPU)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.servers: dict[str, Watched] = {}
        self.registry.register(TrackerCollector(self.servers))
        self.persister = PersisterMetrics(self.registry)
        ProcessCollector(registry=self.registry)

    def watch(self, name: str, tracker: Tracker, now: float) -> Watched:
        """Measure ``tracker`` as server ``name`` from ``now`` on (its first rate sample)."""
        watched = self.servers[name] = Watched(name, tracker)
        watched.sample(now)
        self.persister.add(name)
        return watched

    def sample(self, now: float) -> None:
        for watched in self.servers.values():
            watched.sample(now)

    def exposition(self) -> tuple[bytes, str]:
        """The Prometheus text format and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


__all__ = ["PersisterMetrics", "RateMeter", "ServiceMetrics", "TrackerCollector", "Watched"]
