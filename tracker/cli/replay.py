"""``ami-tracker replay CAPTURE... [--json] [--until TIME]``: fold captures, show the state.

The text output and the ``--json`` object carry the same things: the state's counts, the
frames folded, the fold's clock, whether durations are known, the active calls and the
anomalies by kind. ``ami-tracker demo`` ends with the same object for its live state.

``ami-tracker replay --db URL [--server NAME] [--at TIME|SEQ] [--json]`` rebuilds the state
from the event store instead (nearest snapshot + later frames) and prints the same thing.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TextIO

from ._common import (
    CAPTURE_METAVAR,
    CAPTURES_HELP,
    UNTIL_HELP,
    UNTIL_METAVAR,
    CliError,
    local_time,
    point_in_time,
    warn,
)
from .replay_db import add_store_options

if TYPE_CHECKING:
    from ..replay import ReplayResult
    from ..state import World

NO_TIMESTAMPS = (
    "durations are unknown: the capture has no Timestamp headers "
    "(Asterisk's default timestampevents = no), so calls show duration 0"
)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser("replay", help="fold captures offline and summarise the final state")
    p.add_argument(
        "captures", nargs="*", metavar=CAPTURE_METAVAR, help=CAPTURES_HELP + " (or --db URL)"
    )
    p.add_argument(
        "--json", action="store_true", help="print one JSON object (default: text for people)"
    )
    p.add_argument("--until", type=point_in_time, metavar=UNTIL_METAVAR, help=UNTIL_HELP)
    add_store_options(p)
    p.set_defaults(func=run)


def state_summary(
    world: World, *, frames: int, anomaly_kinds: Mapping[str, int], durations_known: bool
) -> dict[str, Any]:
    """The ``replay --json`` object (and the last line of ``demo``)."""
    from ..query import active_calls, summary

    out: dict[str, Any] = summary(world, anomalies=sum(anomaly_kinds.values()))
    out["frames"] = frames
    out["clock"] = world.clock
    out["durations_known"] = durations_known
    out["anomaly_kinds"] = dict(sorted(anomaly_kinds.items()))
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
    from collections import Counter

    if args.db is not None:
        if args.captures:
            raise CliError("give captures or --db, not both")
        from .replay_db import replay_db

        return replay_db(args)
    if not args.captures:
        raise CliError("give captures (or --db URL)")
    result = fold_captures(args)
    data = state_summary(
        result.world,
        frames=result.events,
        anomaly_kinds=Counter(a.kind for a in result.anomalies),
        durations_known=result.timestamped,
    )
    if args.json:
        sys.stdout.write(json.dumps(data, sort_keys=True) + "\n")
    else:
        write_text(sys.stdout, data)
    return 0
