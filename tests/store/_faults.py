"""Real database failures for the fault tests: PostgreSQL behind a TCP proxy the test cuts (the
shared server keeps running), a SQLite file on a tiny disk that fills up; and the reporting
tables dumped for comparing two databases."""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import trio
from sqlalchemy import MetaData, create_engine, select
from sqlalchemy.pool import NullPool

REPORTING_TABLES = (
    "calls",
    "call_legs",
    "transfers",
    "queue_calls",
    "queue_offers",
    "queue_member_sessions",
    "queue_member_pauses",
    "conference_participations",
    "parked_calls",
)
_NOT_FACTS = ("id", "server_id", "session_id", "call_id", "seq")
"""Columns that number rows or frames (they differ between two logs of the same calls)."""


class Proxy:
    """A TCP proxy to PostgreSQL that a test can ``cut`` (every connection dropped, new ones
    closed at once, as a database host that went away) and ``restore``."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.up = True
        self.port = 0
        self.refused = 0
        """Connections closed at once while cut."""
        self._scopes: set[trio.CancelScope] = set()

    async def serve(self, *, task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED) -> None:
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        self.port = listeners[0].socket.getsockname()[1]
        async with trio.open_nursery() as nursery:
            await nursery.start(trio.serve_listeners, self._handle, listeners)
            task_status.started(self.port)

    def cut(self) -> None:
        self.up = False
        for scope in list(self._scopes):
            scope.cancel()

    def restore(self) -> None:
        self.up = True

    def via(self, url: str) -> str:
        """``url`` (of the proxied server) through the proxy."""
        return url.replace(f":{self.target_port}/", f":{self.port}/", 1)

    async def _handle(self, client: trio.SocketStream) -> None:
        if not self.up:
            self.refused += 1
            await client.aclose()
            return
        with trio.CancelScope() as scope:
            self._scopes.add(scope)
            try:
                server = await trio.open_tcp_stream("127.0.0.1", self.target_port)
                async with server, client, trio.open_nursery() as nursery:
                    nursery.start_soon(self._pipe, client, server)
                    nursery.start_soon(self._pipe, server, client)
            except (OSError, trio.BrokenResourceError):
                pass
            finally:
                self._scopes.discard(scope)
        await trio.aclose_forcefully(client)

    @staticmethod
    async def _pipe(src: trio.SocketStream, dst: trio.SocketStream) -> None:
        try:
            async for data in src:
                await dst.send_all(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        await trio.aclose_forcefully(dst)


@contextlib.contextmanager
def tiny_disk(path: Path, size: str) -> Iterator[Path]:
    """A filesystem of ``size`` (``mount -t tmpfs -o size=...``) at ``path``: writes past it
    fail with ENOSPC, as on a full disk. Needs root (CI runs as root)."""
    path.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert mounted.returncode == 0, (
        f"cannot mount a tmpfs for the disk-full test (needs root): {mounted.stderr.strip()}"
    )
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def fill(path: Path) -> int:
    """Write ``path`` until its filesystem is full; the bytes written."""
    written = 0
    block = b"\0" * (1 << 16)
    with path.open("wb", buffering=0) as f:
        while True:
            try:
                written += f.write(block) or 0
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
                break
            if written % (1 << 20) == 0:
                os.fsync(f.fileno())
    return written


def _comparable(value: Any) -> Any:
    """A time as epoch seconds (PostgreSQL gives aware datetimes, SQLite naive UTC ones)."""
    if isinstance(value, datetime):
        aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return aware.timestamp()
    return value


def reporting_tables(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every reporting table's rows (sorted), without the columns that number rows or frames."""
    engine = create_engine(url, poolclass=NullPool)
    try:
        meta = MetaData()
        meta.reflect(engine, only=REPORTING_TABLES)
        out: dict[str, list[tuple[Any, ...]]] = {}
        with engine.connect() as conn:
            for name in REPORTING_TABLES:
                table = meta.tables[name]
                columns = [
                    c
                    for c in table.columns
                    if c.name not in _NOT_FACTS and not c.name.endswith("_seq")
                ]
                rows = conn.execute(select(*columns)).all()
                out[name] = sorted((tuple(map(_comparable, r)) for r in rows), key=repr)
        return out
    finally:
        engine.dispose()
