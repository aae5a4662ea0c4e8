"""``ami-tracker replay CAPTURE... [--json] [--until EPOCH]``: fold captures, show the state.

``ami-tracker replay --db URL [--server NAME] [--at TIME|SEQ] [--json]`` rebuilds the state
from the event store instead (nearest snapshot + later frames) and prints the same thing.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ..query import active_calls, summary
from ..replay import ReplayResult, replay
from .replay_db import add_store_options, replay_db


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser("replay", help="fold captures offline and summarise the final state")
    p.add_argument("captures", nargs="*", metavar="CAPTURE", help=".ami or .ami.gz files, in order")
    p.add_argument("--json", action="store_true", help="print one JSON object of counts")
    p.add_argument(
        "--until",
        type=float,
        metavar="EPOCH",
        help="stop before the first event later than this time (epoch seconds)",
    )
    add_store_options(p)
    p.set_defaults(func=run)


def state_summary(result: ReplayResult) -> dict[str, Any]:
    out: dict[str, Any] = summary(result.world, anomalies=len(result.anomalies))
    out["events"] = result.events
    out["clock"] = result.world.clock
    return out


def run(args: argparse.Namespace) -> int:
    if args.db is not None:
        if args.captures:
            print("ami-tracker replay: give captures or --db, not both", file=sys.stderr)
            return 2
        return replay_db(args)
    if not args.captures:
        print("ami-tracker replay: give captures (or --db URL)", file=sys.stderr)
        return 2
    try:
        result = replay(args.captures, until=args.until)
    except OSError as exc:
        print(f"ami-tracker replay: {exc}", file=sys.stderr)
        return 2
    data = state_summary(result)
    out = sys.stdout
    if args.json:
        out.write(json.dumps(data, sort_keys=True) + "\n")
        return 0
    for key, value in data.items():
        out.write(f"{key:24} {value}\n")
    calls = active_calls(result.world)
    if calls:
        out.write("active calls:\n")
        for active in calls:
            c = active.call
            legs = ", ".join(ch.name for ch in active.legs)
            state = "answered" if c.answer is not None else "not answered"
            out.write(f"  {c.linkedid} {c.caller.num or '?'} ({state}): {legs}\n")
    if result.anomalies:
        kinds: dict[str, int] = {}
        for a in result.anomalies:
            kinds[a.kind] = kinds.get(a.kind, 0) + 1
        out.write("anomalies: " + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items())) + "\n")
    return 0
