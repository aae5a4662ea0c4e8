"""``ami-tracker calls CAPTURE... --format jsonl|table|csv``: one record per ended call.

Records come in start order. ``jsonl`` is ``tracker.query.call_record`` plus
``durations_known``; ``csv`` carries every field of it (parties flattened to ``caller_num``...,
lists of ids space-separated, nested records as JSON); ``table`` shows the columns of
``ami-tracker demo`` with local date-times.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Sequence
from typing import Any, TextIO

from ._common import (
    CAPTURE_METAVAR,
    CAPTURES_HELP,
    UNTIL_HELP,
    UNTIL_METAVAR,
    local_time,
    point_in_time,
    print_table,
)
from ._store_calls import store_options, stored_calls

FORMATS = ("jsonl", "table", "csv")
PARTIES = ("caller", "callee")
PARTY_FIELDS = ("num", "name", "channel")
CSV_COLUMNS = (
    "linkedid",
    "start",
    "answer",
    "end",
    "duration",
    "billsec",
    "disposition",
    "hangup_cause",
    "hangup_cause_txt",
    *(f"{p}_{f}" for p in PARTIES for f in PARTY_FIELDS),
    "legs",
    "transfers",
    "queue",
    "parked",
    "conference",
    "ended_while_disconnected",
    "joined_late",
    "durations_known",
    "gap",
)
"""Every field of a ``jsonl`` record, in its order (a field added later is appended)."""

TABLE_COLUMNS = (
    "LINKEDID",
    "START",
    "DURATION",
    "BILLSEC",
    "DISPOSITION",
    "CALLER",
    "CALLEE",
    "QUEUE",
)
"""The columns of ``calls --format table`` and of ``demo``."""
TABLE_WIDTHS = (20, 19, 8, 7, 11, 10, 10, 6)
"""Minimum widths, so that rows printed one batch at a time (``demo``) line up."""
TABLE_RIGHT = (2, 3)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "calls", help="ended call records from captures (offline fold) or a database (--db)"
    )
    p.add_argument("captures", nargs="*", metavar=CAPTURE_METAVAR, help=CAPTURES_HELP)
    p.add_argument(
        "--format",
        choices=FORMATS,
        default="jsonl",
        help="jsonl: one JSON record per line (default); csv: the same fields flattened; "
        "table: aligned columns for people",
    )
    p.add_argument("--until", type=point_in_time, metavar=UNTIL_METAVAR, help=UNTIL_HELP)
    store_options(p)
    p.set_defaults(func=run)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return " ".join(value)  # legs: unique ids, which hold no spaces
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False, sort_keys=True) if value else ""
    return str(value)


def flat(rec: dict[str, Any]) -> dict[str, str]:
    """A record as one CSV row: every field; parties flattened, nested values as JSON."""
    row: dict[str, str] = {}
    for key, value in rec.items():
        if key in PARTIES and isinstance(value, dict):
            for field in PARTY_FIELDS:
                row[f"{key}_{field}"] = _cell(value.get(field))
        else:
            row[key] = _cell(value)
    return row


def _seconds(value: float | None, known: bool) -> str:
    if not known:
        return "?"
    return "" if value is None else f"{value:.1f}"


def table_row(rec: dict[str, Any]) -> list[str]:
    """The ``TABLE_COLUMNS`` of one record."""
    known = rec.get("durations_known", True)
    queue = rec.get("queue") or {}
    return [
        rec["linkedid"],
        local_time(rec["start"]) if known else "?",
        _seconds(rec["duration"], known),
        _seconds(rec["billsec"], known),
        rec["disposition"],
        rec["caller"]["num"] or rec["caller"]["channel"],
        rec["callee"]["num"] or rec["callee"]["channel"],
        queue.get("name", ""),
    ]


def write_table(out: TextIO, records: Iterable[dict[str, Any]], *, header: bool = True) -> None:
    print_table(
        out,
        TABLE_COLUMNS,
        [table_row(r) for r in records],
        right=TABLE_RIGHT,
        show_header=header,
        min_widths=TABLE_WIDTHS,
    )


def write_csv(out: TextIO, records: Sequence[dict[str, Any]]) -> None:
    import csv

    rows = [flat(r) for r in records]
    columns = list(CSV_COLUMNS)
    for row in rows:
        columns += [k for k in row if k not in columns]
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)


def run(args: argparse.Namespace) -> int:
    from ..query import call_record
    from .replay import fold_captures

    if args.db is not None or not args.captures:
        calls, known = stored_calls(args)  # the reporting tables, in the same order
    else:
        result = fold_captures(args)
        calls = sorted(result.call_records, key=lambda c: c.start)  # stable: ties keep end order
        known = result.timestamped
    records = [call_record(c) | {"durations_known": known} for c in calls]
    out = sys.stdout
    if args.format == "jsonl":
        for rec in records:
            out.write(json.dumps(rec, ensure_ascii=False) + "\n")
    elif args.format == "csv":
        write_csv(out, records)
    else:
        write_table(out, records)
    return 0
