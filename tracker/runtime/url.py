"""``ami://user:secret@host:5038`` and ``amis://`` (TLS) connection targets.

The secret is kept out of ``repr``/``str`` so it cannot leak into logs or tracebacks.
"""

from __future__ import annotations

import dataclasses
from urllib.parse import parse_qs, unquote, urlsplit

DEFAULT_PORT = 5038
DEFAULT_TLS_PORT = 5039


@dataclasses.dataclass(frozen=True)
class AmiTarget:
    host: str
    port: int
    username: str
    secret: str = dataclasses.field(repr=False)
    tls: bool = False
    auth: str = "plain"
    """``plain`` (Login with Secret) or ``md5`` (Challenge, then Login with Key)."""
    events: str = "on"
    """Login ``Events:`` value: ``on``, ``off`` or a class mask like ``call,agent``."""

    @property
    def redacted(self) -> str:
        scheme = "amis" if self.tls else "ami"
        return f"{scheme}://{self.username}:***@{self.host}:{self.port}"

    def __str__(self) -> str:
        return self.redacted


def parse_url(url: str, *, secret: str | None = None) -> AmiTarget:
    """Parse ``ami[s]://user:secret@host[:port][?auth=md5&events=off]``.

    ``secret`` is used when the URL has none (``ami://user@host``), so that it need not
    appear on a command line. Raises ``ValueError`` (never echoing the secret).
    """
    parts = urlsplit(url)
    if parts.scheme not in ("ami", "amis"):
        raise ValueError("AMI URL must start with ami:// or amis://")
    tls = parts.scheme == "amis"
    try:
        port = parts.port
    except ValueError:
        raise ValueError("AMI URL has an invalid port") from None
    if not parts.hostname:
        raise ValueError("AMI URL has no host")
    password = parts.password if parts.password is not None else secret
    if parts.username is None or password is None:
        raise ValueError("AMI URL needs user:secret@ (or user@ and a separate secret)")
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    auth = query.get("auth", "plain").lower()
    if auth not in ("plain", "md5"):
        raise ValueError("AMI URL auth must be plain or md5")
    return AmiTarget(
        host=parts.hostname,
        port=port if port is not None else (DEFAULT_TLS_PORT if tls else DEFAULT_PORT),
        username=unquote(parts.username),
        secret=unquote(password) if parts.password is not None else password,
        tls=tls,
        auth=auth,
        events=query.get("events", "on"),
    )
