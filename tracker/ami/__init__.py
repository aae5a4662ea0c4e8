"""AMI wire protocol, sans-IO (stdlib only: no trio, no clock)."""

from __future__ import annotations

from .connection import DEFAULT_MAX_LIST_ITEMS, DEFAULT_MAX_OPEN_LISTS, AmiConnection, State
from .encode import encode_action, encode_headers
from .frame import ActionResult, Frame, FrameKind, Headers
from .parser import DEFAULT_MAX_FRAME_SIZE, FrameParser, build_frame, parse_headers
from .speedups import speedups_status

__all__ = [
    "DEFAULT_MAX_FRAME_SIZE",
    "DEFAULT_MAX_LIST_ITEMS",
    "DEFAULT_MAX_OPEN_LISTS",
    "ActionResult",
    "AmiConnection",
    "Frame",
    "FrameKind",
    "FrameParser",
    "Headers",
    "State",
    "build_frame",
    "encode_action",
    "encode_headers",
    "parse_headers",
    "speedups_status",
]
