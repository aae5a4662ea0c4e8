"""Action side of the wire: typed-agnostic encoding of ``Key: Value`` frames."""

from __future__ import annotations

from collections.abc import Iterable

from ..errors import LocalProtocolError


def encode_headers(headers: Iterable[tuple[str, str]]) -> bytes:
    """Canonical wire bytes for a frame: ``Key: Value\\r\\n`` per header, then a blank line.

    Values may end in a bare LF (Asterisk's Park ack does); any other CR or LF is refused,
    since it would let a value inject headers or frames.
    """
    parts: list[str] = []
    for key, value in headers:
        if not key or ":" in key or "\r" in key or "\n" in key:
            raise LocalProtocolError(f"invalid header name {key!r}")
        body = value[:-1] if value.endswith("\n") else value
        if "\r" in body or "\n" in body:
            raise LocalProtocolError(f"header {key!r} has a line break in its value")
        parts.append(f"{key}: {value}\r\n")
    parts.append("\r\n")
    return "".join(parts).encode("utf-8")


def encode_action(
    name: str, action_id: str | None, params: Iterable[tuple[str, str]] = ()
) -> bytes:
    """Bytes for ``Action: name`` (+ ``ActionID``) followed by ``params`` in order."""
    headers: list[tuple[str, str]] = [("Action", name)]
    if action_id is not None:
        headers.append(("ActionID", action_id))
    headers.extend((k, v) for k, v in params if k not in ("Action", "ActionID"))
    return encode_headers(headers)
