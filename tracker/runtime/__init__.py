"""I/O layer (trio): AMI client, live tracker, simulator. The only package that imports trio."""

from __future__ import annotations

from .actions import ActionSpec, action_spec
from .changes import ChangeStream, FellBehind
from .client import AmiClient, ClientStats, Received, RetryHook, connect
from .simulator import AmiSimulator, SimSession, run_simulator
from .tracker import ChangeBatch, Subscription, Tracker, TrackerStats, open_tracker
from .url import AmiTarget, parse_url

__all__ = [
    "ActionSpec",
    "AmiClient",
    "AmiSimulator",
    "AmiTarget",
    "ChangeBatch",
    "ChangeStream",
    "ClientStats",
    "FellBehind",
    "Received",
    "RetryHook",
    "SimSession",
    "Subscription",
    "Tracker",
    "TrackerStats",
    "action_spec",
    "connect",
    "open_tracker",
    "parse_url",
    "run_simulator",
]
