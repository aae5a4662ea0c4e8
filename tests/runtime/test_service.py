"""The service in-process over real TCP: several servers, metrics over HTTP, logs, faults."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import random
import re
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import pytest
import trio

from tests.helpers import FIXTURES
from tracker.config import ConfigError, Secret, Settings, load_settings
from tracker.errors import AuthenticationError
from tracker.runtime import run_simulator
from tracker.runtime.http import answer
from tracker.runtime.logs import configure_logging
from tracker.runtime.metrics import RateMeter
from tracker.runtime.service import Service
from tracker.runtime.tracker import Tracker

from ._support import HOST, SECRET, USER, silent_ami, tcp_server
from .test_tls import TLS, server_context

FAST = {"backoff_initial": 0.2, "backoff_max": 0.8, "connect_timeout": 2.0, "keepalive": 0}


def settings(*urls: str, names: list[str] | None = None, **extra: Any) -> Settings:
    flags: dict[str, Any] = {"ami": list(urls), "name": names, **FAST, **extra}
    return load_settings(env={"AMI_TRACKER_SECRET": SECRET}, flags=flags)


@pytest.fixture
def logs() -> Iterator[io.StringIO]:
    """The service's JSON log lines (restores the logging set-up afterwards). No secret is
    given to the formatter to redact: the assertions check that none is logged at all."""
    logger = logging.getLogger("tracker")
    saved = (list(logger.handlers), logger.level, logger.propagate)
    out = io.StringIO()
    configure_logging("json", "info", stream=out)
    yield out
    logger.handlers[:], logger.level, logger.propagate = saved
    logging.getLogger("tracker.runtime.resync").setLevel(logging.NOTSET)


def tracker_of(service: Service, index: int = 0) -> Tracker:
    tracker = service.servers[index].tracker
    assert tracker is not None, "the service has not opened this server"
    return tracker


def lines(out: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


def free_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


async def http_get(port: int, path: str) -> tuple[int, bytes]:
    stream = await trio.open_tcp_stream(HOST, port)
    async with stream:
        await stream.send_all(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        data = b""
        while chunk := await stream.receive_some(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


def samples(text: str, name: str) -> dict[str, float]:
    """``server`` label -> value of the metric ``name`` in a Prometheus text exposition."""
    out = {}
    for line in text.splitlines():
        if line.startswith(name + "{"):
            labels, value = line.rsplit(" ", 1)
            server = labels.split('server="', 1)[1].split('"', 1)[0]
            out[server] = float(value)
    return out


async def test_two_servers_metrics_and_graceful_stop(logs: io.StringIO) -> None:
    with trio.fail_after(30):
        async with (
            run_simulator(FIXTURES / "load.ami.gz", username=USER, secret=SECRET) as load,
            run_simulator(FIXTURES / "queue.ami", username=USER, secret=SECRET) as queue,
        ):
            service = Service(
                settings(
                    f"ami://{USER}@{HOST}:{load.port}",
                    f"ami://{USER}@{HOST}:{queue.port}",
                    names=["load", "queue"],
                    metrics=f"{HOST}:0",
                )
            )
            async with trio.open_nursery() as nursery:
                await nursery.start(service.run)
                for index in range(2):
                    await tracker_of(service, index).wait_synced()
                await tracker_of(service).wait_folded(5000)
                await trio.sleep(1.2)  # two rate samples
                assert service.metrics_port is not None
                status, body = await http_get(service.metrics_port, "/metrics")
                assert status == 200
                text = body.decode()
                health, report = await http_get(service.metrics_port, "/healthz")
                missing, _ = await http_get(service.metrics_port, "/nope")
                service.stop()
            for sim in (load, queue):
                await sim.sessions[0].done.wait()
                assert sim.sessions[0].reason == "logoff"
    frames = samples(text, "ami_tracker_frames_received_total")
    assert set(frames) == {"load", "queue"} and all(v > 0 for v in frames.values())
    assert frames["load"] >= 5000
    assert samples(text, "ami_tracker_frames_per_second")["load"] > 0
    assert samples(text, "ami_tracker_connected") == {"load": 1.0, "queue": 1.0}
    assert samples(text, "ami_tracker_resyncs_total") == {"load": 1.0, "queue": 1.0}
    assert samples(text, "ami_tracker_persister_queue_depth") == {"load": 0.0, "queue": 0.0}
    assert "ami_tracker_persister_write_seconds_bucket" in text
    assert "process_resident_memory_bytes" in text
    assert samples(text, "ami_tracker_fold_lag_frames")["load"] >= 0
    assert (health, report) == (200, b"load up synced\nqueue up synced\n")
    assert missing == 404
    records = lines(logs)
    by_server = {r["server"] for r in records}
    assert {"load", "queue"} <= by_server
    messages = [(r["server"], r["message"].split(" ")[0]) for r in records]
    for name in ("load", "queue"):
        for word in ("connected", "logged", "resynced:", "stopped"):
            assert (name, word) in messages or (None, word) in messages, (name, word)
    assert SECRET not in logs.getvalue()


def test_persister_feeds_its_gauges() -> None:
    service = Service(settings(f"ami://{USER}@{HOST}:{free_port()}", names=["b"]))
    service.metrics.persister.set_queue_depth("b", lambda: 42)
    service.metrics.persister.observe_write("b", 0.003)
    body, content_type = service.metrics.exposition()
    text = body.decode()
    assert content_type.startswith("text/plain")
    assert samples(text, "ami_tracker_persister_queue_depth") == {"b": 42.0}
    assert samples(text, "ami_tracker_persister_write_seconds_count") == {"b": 1.0}


async def test_wrong_secret_is_not_retried_and_stops_the_others(logs: io.StringIO) -> None:
    good_synced = trio.Event()
    attempts = 0

    async def refusing(stream: trio.SocketStream) -> None:
        """Asterisk's answer to a wrong secret, once the other server is up and synced."""
        nonlocal attempts
        attempts += 1
        await stream.send_all(b"Asterisk Call Manager/11.0.0\r\n")
        data = b""
        while b"\r\n\r\n" not in data:
            data += await stream.receive_some(4096)
        aid = re.search(rb"ActionID: (\S+)", data)
        assert aid is not None and b"Action: Login" in data
        await good_synced.wait()
        await stream.send_all(
            b"Response: Error\r\nActionID: %s\r\nMessage: Authentication failed\r\n\r\n"
            % aid.group(1)
        )

    with trio.fail_after(20):
        async with (
            run_simulator(FIXTURES / "basic.ami", username=USER, secret=SECRET) as good,
            trio.open_nursery() as nursery,
        ):
            port = await tcp_server(nursery, refusing)
            service = Service(
                settings(f"ami://{USER}@{HOST}:{good.port}", f"ami://{USER}@{HOST}:{port}")
            )

            async def run(*, task_status: trio.TaskStatus[None]) -> None:
                with pytest.raises(AuthenticationError, match="refused: Authentication failed"):
                    await service.run(task_status=task_status)
                nursery.cancel_scope.cancel()  # the refusing server

            await nursery.start(run)
            await tracker_of(service, 0).wait_synced()
            good_synced.set()
    await good.sessions[0].done.wait()
    assert attempts == 1  # no retry
    assert good.sessions[0].reason == "logoff"
    errors = [r for r in lines(logs) if r["level"] == "error"]
    assert len(errors) == 1 and "not retrying" in errors[0]["message"]


async def _retries(
    handler: Any, seconds: float, logs: io.StringIO, **extra: Any
) -> tuple[int, list[str]]:
    """Run a service against ``handler`` for ``seconds``: connections seen, warnings logged."""
    seen = 0

    async def counting(stream: trio.SocketStream) -> None:
        nonlocal seen
        seen += 1
        with contextlib.suppress(trio.BrokenResourceError):  # the client hung up on it
            await handler(stream)

    async with trio.open_nursery() as nursery:
        port = await tcp_server(nursery, counting)
        service = Service(settings(f"ami://{USER}@{HOST}:{port}", names=["x"], **extra))
        await nursery.start(service.run)
        await trio.sleep(seconds)
        service.stop()
        nursery.cancel_scope.cancel()
    warnings = [r["message"] for r in lines(logs) if r["level"] == "warning"]
    return seen, warnings


async def test_not_an_ami_server_is_retried_with_backoff(logs: io.StringIO) -> None:
    async def ssh(stream: trio.SocketStream) -> None:
        await stream.send_all(b"SSH-2.0-OpenSSH_9.6\r\n")
        await trio.sleep(5)

    seen, warnings = await _retries(ssh, 2.0, logs)
    # backoff 0.2 s doubling to 0.8 s (with jitter down to half): a handful, never a storm
    assert 2 <= seen <= 8, seen
    assert len(warnings) == seen
    assert all("is not an AMI server (it sent b'SSH-2.0-OpenSSH_9.6" in w for w in warnings)


async def test_garbage_server_is_retried_with_backoff(logs: io.StringIO) -> None:
    rng = random.Random(7)

    async def garbage(stream: trio.SocketStream) -> None:
        while True:
            await stream.send_all(bytes(rng.randrange(256) for _ in range(2048)))
            await trio.sleep(0.05)

    seen, warnings = await _retries(garbage, 2.0, logs)
    assert 2 <= seen <= 8, seen
    assert all("is not an AMI server" in w for w in warnings)


async def test_server_that_stops_answering_is_dropped_and_retried(logs: io.StringIO) -> None:
    seen, warnings = await _retries(silent_ami, 2.5, logs, action_timeout=0.3)
    assert 2 <= seen <= 8, seen
    assert any("resync failed" in w and "unanswered after 0.3s" in w for w in warnings)
    assert sum(w.startswith("AMI session ended: ") for w in warnings) >= 2


async def test_unreachable_host_is_retried_with_backoff(logs: io.StringIO) -> None:
    port = free_port()
    with trio.fail_after(10):
        service = Service(settings(f"ami://{USER}@{HOST}:{port}", names=["gone"]))
        async with trio.open_nursery() as nursery:
            await nursery.start(service.run)
            await trio.sleep(2.0)
            failures = tracker_of(service).client.stats.connect_failures
            service.stop()
    assert 2 <= failures <= 8, failures
    warnings = [r for r in lines(logs) if r["level"] == "warning"]
    assert len(warnings) == failures
    assert all("cannot connect to" in r["message"] for r in warnings)
    assert all(r["server"] == "gone" for r in warnings)
    assert lines(logs)[-1]["message"].startswith("stopped gone: 0 frames")


async def test_anomalies_are_summarised_per_interval(tmp_path: Path, logs: io.StringIO) -> None:
    capture = tmp_path / "anomalies.ami"
    data = b"Asterisk Call Manager/11.0.0\r\nResponse: Success\r\nActionID: l1\r\n"
    data += b"Message: Authentication accepted\r\n\r\n"
    for i in range(40):
        data += (
            b"Event: Hangup\r\nPrivilege: call,all\r\nTimestamp: 1700000000.%06d\r\n"
            b"Channel: PJSIP/x-%d\r\nUniqueid: 99.%d\r\nLinkedid: 99.%d\r\nCause: 16\r\n\r\n"
        ) % (i, i, i, i)
    capture.write_bytes(data)
    with trio.fail_after(10):
        async with run_simulator(capture, username=USER, secret=SECRET) as sim:
            service = Service(settings(f"ami://{USER}@{HOST}:{sim.port}", anomaly_log_interval=0.3))
            async with trio.open_nursery() as nursery:
                await nursery.start(service.run)
                await trio.sleep(1.0)
                service.stop()
    assert tracker_of(service).stats.anomalies >= 40
    bursts = [r["message"] for r in lines(logs) if "anomalies in the last" in r["message"]]
    assert len(bursts) == 1, bursts  # one burst, one line
    assert bursts[0].startswith("40 anomalies in the last 0.3s (40 unknown_channel)")
    assert "e.g. seq" in bursts[0] and "Hangup" in bursts[0]


def test_http_answer_is_strict() -> None:
    routes = {"/metrics": lambda: (200, b"x 1\n", "text/plain")}
    assert answer(b"GET /metrics HTTP/1.1\r\n\r\n", routes).endswith(b"\r\n\r\nx 1\n")
    assert answer(b"HEAD /metrics HTTP/1.0\r\n\r\n", routes).endswith(b"\r\n\r\n")
    assert answer(b"POST /metrics HTTP/1.1\r\n\r\n", routes).startswith(b"HTTP/1.1 405")
    assert answer(b"GET /other HTTP/1.1\r\n\r\n", routes).startswith(b"HTTP/1.1 404")
    assert answer(b"\x16\x03\x01garbage\r\n\r\n", routes).startswith(b"HTTP/1.1 400")


def test_rate_meter_window() -> None:
    meter = RateMeter(window=10)
    assert meter.rate == 0.0
    for t in range(31):
        meter.sample(float(t), t * 100 if t <= 20 else 2000)
    assert meter.rate == 0.0  # nothing new in the last 10 s
    meter.sample(31.0, 2500)
    assert meter.rate == pytest.approx(500 / 10, rel=0.2)


async def test_every_reconnect_is_logged_and_resynced(logs: io.StringIO) -> None:
    with trio.fail_after(20):
        async with run_simulator(
            FIXTURES / "basic.ami", username=USER, secret=SECRET, speed=6, drop_after=100
        ) as sim:  # 3 s of capture in 0.5 s: each session resyncs, then is dropped
            service = Service(settings(f"ami://{USER}@{HOST}:{sim.port}", names=["flaky"]))
            async with trio.open_nursery() as nursery:
                await nursery.start(service.run)
                tracker = tracker_of(service)
                await tracker.wait_synced(3)
                body, _ = service.metrics.exposition()
                service.stop()
    assert tracker.stats.resyncs >= 3 and tracker.stats.disconnects >= 2
    assert samples(body.decode(), "ami_tracker_reconnects_total")["flaky"] >= 2
    said = [r["message"] for r in lines(logs) if r["server"] == "flaky"]
    ended = [m for m in said if m.startswith("AMI session ended: ")]
    assert len(ended) >= 2
    for word in ("connected to ", "logged in to ", "resynced: ", "reconnecting to "):
        assert sum(m.startswith(word) for m in said) >= 2, word
    assert len(sim.sessions) >= 3


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_formatters_redact_known_secrets(log_format: Literal["text", "json"]) -> None:
    logger = logging.getLogger("tracker")
    saved = (list(logger.handlers), logger.level, logger.propagate)
    out = io.StringIO()
    try:
        configure_logging(log_format, "info", secrets=[Secret('s3cr3t"x')], stream=out)
        log = logging.getLogger("tracker.test")
        log.warning('login with s3cr3t"x failed')
        try:
            raise ValueError('s3cr3t"x')
        except ValueError:
            log.exception("boom")
    finally:
        logger.handlers[:], logger.level, logger.propagate = saved
        logging.getLogger("tracker.runtime.resync").setLevel(logging.NOTSET)
    text = out.getvalue()
    assert "s3cr3t" not in text
    assert text.count("***") >= 3  # message, exception message, traceback line
    if log_format == "json":
        first, second = (json.loads(line) for line in text.splitlines())
        assert first["message"] == "login with *** failed" and first["server"] is None
        assert "ValueError: ***" in second["error"]
    else:
        assert text.splitlines()[0].endswith(" WARNING login with *** failed")


async def test_tls_server_with_its_ca_file(logs: io.StringIO) -> None:
    with trio.fail_after(20):
        async with run_simulator(
            FIXTURES / "basic.ami", username=USER, secret=SECRET, ssl_context=server_context()
        ) as sim:
            service = Service(
                settings(f"amis://{USER}@{HOST}:{sim.port}", ca_file=str(TLS / "ca.pem"))
            )
            async with trio.open_nursery() as nursery:
                await nursery.start(service.run)
                await tracker_of(service).wait_synced()
                service.stop()
    assert sim.sessions[0].authenticated and sim.sessions[0].reason == "logoff"


async def test_unreadable_ca_file_is_a_settings_mistake(tmp_path: Path) -> None:
    service = Service(
        settings(f"amis://{USER}@{HOST}:{free_port()}", ca_file=str(tmp_path / "none.pem"))
    )
    with trio.fail_after(10), pytest.raises(ConfigError, match=r"cannot load ca_file .*none\.pem"):
        await service.run()


async def test_reconcile_interval_reaches_the_tracker() -> None:
    with trio.fail_after(20):
        async with run_simulator(
            FIXTURES / "lists.ami", username=USER, secret=SECRET, speed=1
        ) as sim:
            service = Service(settings(f"ami://{USER}@{HOST}:{sim.port}", reconcile_interval=0.2))
            async with trio.open_nursery() as nursery:
                await nursery.start(service.run)
                tracker = tracker_of(service)
                await tracker.wait_synced()
                await trio.sleep(1.0)
                body, _ = service.metrics.exposition()
                service.stop()
    asked = sim.sessions[0].actions.count("CoreShowChannels")
    assert asked >= 3  # the resync's, then every 0.2 s
    text = body.decode()
    answered = samples(text, "ami_tracker_reconciles_total")["127.0.0.1"]
    refused = samples(text, "ami_tracker_reconcile_failures_total")["127.0.0.1"]
    assert answered + refused >= 2
