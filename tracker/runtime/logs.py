"""Service logging: one line per record, as text or as one JSON object (for log shippers).

Every record made inside a server's tasks carries that server's name: the service sets the
``SERVER`` context variable in the task that runs the server, and trio copies the context
into every task started from there (the AMI client and fold tasks included), so the
client's own log calls are labelled without knowing about servers.

The formatters also redact: each known secret is replaced by ``***`` in the final text
(message and traceback), as a last guard behind the redacted targets.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Iterable
from contextvars import ContextVar
from typing import TextIO

from ..config import LogFormat, Secret

SERVER: ContextVar[str | None] = ContextVar("ami_tracker_server", default=None)
"""Name of the server whose task is running (None outside any server)."""


class _ServerFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "server"):
            record.server = SERVER.get()
        return True


class _Redacting(logging.Formatter):
    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self._secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    @staticmethod
    def stamp(record: logging.LogRecord) -> str:
        t = time.gmtime(record.created)
        return time.strftime("%Y-%m-%dT%H:%M:%S", t) + f".{int(record.msecs):03d}Z"


class TextFormatter(_Redacting):
    """``2026-11-29T13:00:00.123Z INFO [pbx1] logged in to ami://tracker:***@pbx1:5038``."""

    def format(self, record: logging.LogRecord) -> str:
        server = getattr(record, "server", None)
        where = f" [{server}]" if server else ""
        line = f"{self.stamp(record)} {record.levelname}{where} {record.getMessage()}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return self.redact(line)


class JsonFormatter(_Redacting):
    """One JSON object per line: ``time``, ``level``, ``logger``, ``server``, ``message``
    (and ``error`` with the traceback, if any)."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, object] = {
            "time": self.stamp(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "server": getattr(record, "server", None),
            "message": self.redact(record.getMessage()),
        }
        if record.exc_info:
            data["error"] = self.redact(self.formatException(record.exc_info))
        return json.dumps(data, ensure_ascii=False)


def configure_logging(
    log_format: LogFormat = "text",
    level: str = "info",
    *,
    secrets: Iterable[Secret] = (),
    stream: TextIO | None = None,
) -> logging.Handler:
    """Send the ``tracker`` loggers to ``stream`` (stderr) in ``log_format``; return the handler."""
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    revealed = [s.reveal() for s in secrets]
    formatter = JsonFormatter(revealed) if log_format == "json" else TextFormatter(revealed)
    handler.setFormatter(formatter)
    handler.addFilter(_ServerFilter())
    logger = logging.getLogger("tracker")
    for old in list(logger.handlers):
        logger.removeHandler(old)
    logger.addHandler(handler)
    logger.setLevel(level.upper())
    logger.propagate = False
    # the service logs each resync once, with the state it produced (runtime.service)
    quiet = logging.getLogger("tracker.runtime.resync")
    quiet.setLevel(logging.NOTSET if level == "debug" else logging.WARNING)
    return handler


__all__ = ["SERVER", "JsonFormatter", "TextFormatter", "configure_logging"]
