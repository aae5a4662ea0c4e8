"""A minimal HTTP/1.x GET endpoint on trio, for ``/metrics`` and ``/healthz``.

Why not ``prometheus_client.start_http_server``: it serves from a thread, so a scrape would
read the fold's World while the trio thread mutates it. Here the handler runs in the trio
thread, between two fold steps. It answers one GET per connection and closes (what
Prometheus and curl need); anything else gets a 4xx. Requests are bounded in size and time.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

import trio

from ..config import ConfigError

log = logging.getLogger(__name__)

Route = Callable[[], tuple[int, bytes, str]]
"""Returns (status, body, content type)."""

MAX_REQUEST = 8192
REQUEST_TIMEOUT = 10.0
_REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    431: "Request Header Fields Too Large",
    503: "Service Unavailable",
}


def response(status: int, body: bytes, content_type: str = "text/plain; charset=utf-8") -> bytes:
    head = (
        f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}\r\n"
        f"Content-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


def answer(request: bytes, routes: Mapping[str, Route]) -> bytes:
    """The response to one raw request head (pure: no I/O)."""
    line = request.split(b"\r\n", 1)[0].decode("latin-1")
    parts = line.split()
    if len(parts) != 3 or not parts[2].startswith("HTTP/"):
        return response(400, b"bad request\n")
    method, target, _ = parts
    path = target.split("?", 1)[0]
    route = routes.get(path)
    if route is None:
        return response(404, b"not found\n")
    if method not in ("GET", "HEAD"):
        return response(405, b"only GET\n")
    status, body, content_type = route()
    out = response(status, body, content_type)
    return out[: len(out) - len(body)] if method == "HEAD" else out


async def _handle(stream: trio.SocketStream, routes: Mapping[str, Route]) -> None:
    data = b""
    try:
        with trio.move_on_after(REQUEST_TIMEOUT) as timer:
            while b"\r\n\r\n" not in data and b"\n\n" not in data:
                if len(data) > MAX_REQUEST:
                    await stream.send_all(response(431, b"request too large\n"))
                    return
                chunk = await stream.receive_some(4096)
                if not chunk:
                    return
                data += chunk
        if timer.cancelled_caught:
            await stream.send_all(response(408, b"request timeout\n"))
            return
        await stream.send_all(answer(data, routes))
    except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
        log.debug("metrics client went away: %s", exc)
    finally:
        await trio.aclose_forcefully(stream)


async def serve_http(
    host: str,
    port: int,
    routes: Mapping[str, Route],
    *,
    task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``routes`` on ``host:port`` until cancelled; ``started`` with the bound port."""
    try:
        listeners = await trio.open_tcp_listeners(port, host=host)
    except OSError as exc:
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    bound = int(listeners[0].socket.getsockname()[1])
    log.info("metrics on http://%s:%d/metrics", host if ":" not in host else f"[{host}]", bound)

    async def handler(stream: trio.SocketStream) -> None:
        await _handle(stream, routes)

    async with trio.open_nursery() as nursery:
        await nursery.start(trio.serve_listeners, handler, listeners)
        task_status.started(bound)
