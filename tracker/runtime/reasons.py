"""Readable reasons for network errors, as trio raises them.

trio wraps the error that says what went wrong: ``BrokenResourceError`` is raised *from* the
socket or SSL error, and ``open_tcp_stream`` raises ``OSError("all attempts to connect to
host:port failed")`` *from* an exception group of one ``OSError`` per address tried. A
user wants the inner reason ("connection refused"), not the wrapper's words. The reason is
made of OS error texts and never holds the AMI secret.
"""

from __future__ import annotations

import os
import socket
import ssl

import trio

from ._groups import leaves


def why(exc: BaseException) -> str:
    """The innermost readable reason for ``exc``, e.g. ``connection refused``."""
    cause = exc.__cause__
    if isinstance(cause, BaseExceptionGroup):
        return "; ".join(dict.fromkeys(why(leaf) for leaf in leaves(cause)))
    if isinstance(exc, trio.BrokenResourceError) and cause is not None:
        return why(cause)
    if isinstance(exc, socket.gaierror) and exc.strerror:
        return f"cannot resolve the host ({_lower(exc.strerror)})"
    errno = exc.errno if isinstance(exc, OSError) and not isinstance(exc, ssl.SSLError) else None
    if errno is not None and errno > 0:
        return _lower(os.strerror(errno))
    text = str(exc)
    if not text and cause is not None:
        text = str(cause)
    return text or type(exc).__name__


def _lower(text: str) -> str:
    return text[:1].lower() + text[1:]
