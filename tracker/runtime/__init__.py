"""I/O layer (trio): AMI client, capture simulator. The only package that imports trio."""

from __future__ import annotations

from .actions import ActionSpec, action_spec
from .client import AmiClient, ClientStats, Received, connect
from .simulator import AmiSimulator, SimSession, run_simulator
from .url import AmiTarget, parse_url

__all__ = [
    "ActionSpec",
    "AmiClient",
    "AmiSimulator",
    "AmiTarget",
    "ClientStats",
    "Received",
    "SimSession",
    "action_spec",
    "connect",
    "parse_url",
    "run_simulator",
]
