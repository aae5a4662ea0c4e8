"""``ami-tracker calls CAPTURE... --format jsonl|table|csv``: one record per ended call."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from typing import Any, TextIO

from ..query import call_record
from ..replay import replay
from ._store_calls import store_options, stored_calls

CSV_COLUMNS = (
    "linkedid",
    "start",
    "answer",
    "end",
    "duration",
    "billsec",
    "disposition",
    "hangup_cause",
    "caller_num",
    "caller_name",
    "caller_channel",
    "callee_num",
    "callee_name",
    "callee_channel",
    "legs",
    "transfers",
    "queue",
    "queue_outcome",
    "queue_wait",
    "queue_agent",
)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser("calls", help="ended call records from captures or a database")
    p.add_argument("captures", nargs="*", metavar="CAPTURE", help=".ami or .ami.gz files, in order")
    p.add_argument("--format", choices=("jsonl", "table", "csv"), default="jsonl")
    p.add_argument("--until", type=float, metavar="EPOCH", help="stop at this time (epoch seconds)")
    store_options(p)
    p.set_defaults(func=run)


def flat(rec: dict[str, Any]) -> dict[str, Any]:
    queue = rec["queue"] or {}
    return {
        "linkedid": rec["linkedid"],
        "start": f"{rec['start']:.6f}",
        "answer": "" if rec["answer"] is None else f"{rec['answer']:.6f}",
        "end": "" if rec["end"] is None else f"{rec['end']:.6f}",
        "duration": f"{rec['duration']:.3f}",
        "billsec": f"{rec['billsec']:.3f}",
        "disposition": rec["disposition"],
        "hangup_cause": "" if rec["hangup_cause"] is None else rec["hangup_cause"],
        "caller_num": rec["caller"]["num"],
        "caller_name": rec["caller"]["name"],
        "caller_channel": rec["caller"]["channel"],
        "callee_num": rec["callee"]["num"],
        "callee_name": rec["callee"]["name"],
        "callee_channel": rec["callee"]["channel"],
        "legs": " ".join(rec["legs"]),
        "transfers": " ".join(f"{t['kind']}:{t['target']}" for t in rec["transfers"]),
        "queue": queue.get("name", ""),
        "queue_outcome": queue.get("outcome", ""),
        "queue_wait": "" if queue.get("wait") is None else f"{queue['wait']:.3f}",
        "queue_agent": queue.get("agent") or "",
    }


def write_table(out: TextIO, records: list[dict[str, Any]]) -> None:
    cols = ("linkedid", "start", "duration", "billsec", "disposition", "caller_num", "callee_num")
    rows = [flat(r) for r in records]
    widths = {c: max([len(c), *(len(str(r[c])) for r in rows)]) for c in cols}
    out.write("  ".join(c.upper().ljust(widths[c]) for c in cols).rstrip() + "\n")
    for r in rows:
        out.write("  ".join(str(r[c]).ljust(widths[c]) for c in cols).rstrip() + "\n")


def run(args: argparse.Namespace) -> int:
    if args.db is not None or not args.captures:
        calls = stored_calls(args)  # the reporting tables (--db)
    else:
        try:
            result = replay(args.captures, until=args.until)
            calls = sorted(result.call_records, key=lambda c: c.start)  # ties keep end order
        except OSError as exc:
            print(f"ami-tracker calls: {exc}", file=sys.stderr)
            return 2
    records = [call_record(c) for c in calls]
    out = sys.stdout
    if args.format == "jsonl":
        for rec in records:
            out.write(json.dumps(rec, ensure_ascii=False) + "\n")
    elif args.format == "csv":
        writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(flat(r) for r in records)
    else:
        write_table(out, records)
    return 0
