"""``ami-tracker replay CAPTURE... [--json] [--until TIME]``: fold captures, show the state.

The text output and the ``--json`` object carry the same things: the state's counts, the
frames folded, the fold's clock, whether durations are known, the active calls and the
anomalies by kind. ``ami-tracker demo`` ends with the same object for its live state.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, TextIO

from ._common import (
    CAPTURE_METAVAR,
    CAPTURES_HELP,
    UNTIL_HELP,
    UNTIL_METAVAR,
    local_time,
    point_in_time,
    warn,
)

if TYPE_CHECKING:
    from ..replay import ReplayResult
    from ..state import Anomaly, World

NO_TIMESTAMPS = (
    "durations are unknown: the capture has no Timestamp headers "
    "(Asterisk's default timestampevents = no), so calls show duration 0"
)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser("replay", help="fold captures offline and summarise the final state")
    p.add_argument("captures", nargs="+", metavar=CAPTURE_METAVAR, help=CAPTURES_HELP)
    p.add_argument(
        "--json", action="store_true", help="print one JSON object (default: text for people)"
    )
    p.add_argument("--until", type=point_in_time, metavar=UNTIL_METAVAR, help=UNTIL_HELP)
    p.set_defaults(func=run)


def state_summary(
    world: World, *, frames: int, anomalies: Iterable[Anomaly], durations_known: bool
) -> dict[str, Any]:
    """The ``replay --json`` object (and the last line of ``demo``)."""
    from ..query import active_calls, summary

    kinds = Counter(a.kind for a in anomalies)
    out: dict[str, Any] = summary(world, anomalies=sum(kinds.values()))
    out["frames"] = frames
    out["clock"] = world.clock
    out["durations_known"] = durations_known
    out["anomaly_kinds"] = dict(sorted(kinds.items()))
    out["active_calls"] = [
        {
            "linkedid": a.call.linkedid,
            "caller": a.call.caller.num,
            "answered": a.call.answer is not None,
            "legs": [ch.name for ch in a.legs],
        }
        for a in active_calls(world)
    ]
    return out


def write_text(out: TextIO, data: dict[str, Any]) -> None:
    for key, value in data.items():
        if key in ("active_calls", "anomaly_kinds"):
            continue
        if key == "clock":
            if not data["durations_known"]:
                value = "unknown (no Timestamp headers)"
            else:
                value = local_time(value, millis=True) if value else "none (no event time yet)"
        out.write(f"{key:24} {value}\n")
    if data["active_calls"]:
        out.write("active calls:\n")
        for c in data["active_calls"]:
            state = "answered" if c["answered"] else "not answered"
            out.write(f"  {c['linkedid']} {c['caller'] or '?'} ({state}): {', '.join(c['legs'])}\n")
    if data["anomaly_kinds"]:
        kinds = ", ".join(f"{k} {v}" for k, v in data["anomaly_kinds"].items())
        out.write(f"anomalies by kind: {kinds}\n")


def fold_captures(args: argparse.Namespace) -> ReplayResult:
    """Check ``args.captures`` are AMI captures, fold them up to ``args.until``, and say on
    stderr when durations cannot be known."""
    from ..capture import check_capture
    from ..replay import replay

    for path in args.captures:
        check_capture(path)
    result = replay(args.captures, until=args.until)
    if not result.timestamped:
        warn(args.command, NO_TIMESTAMPS)
    return result


def run(args: argparse.Namespace) -> int:
    result = fold_captures(args)
    data = state_summary(
        result.world,
        frames=result.events,
        anomalies=result.anomalies,
        durations_known=result.timestamped,
    )
    if args.json:
        sys.stdout.write(json.dumps(data, sort_keys=True) + "\n")
    else:
        write_text(sys.stdout, data)
    return 0
