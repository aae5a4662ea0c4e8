"""``ami-tracker report NAME --db URL [--server --from --until --by hour|day]
[--format table|csv|json] [--sql]``: a report over the reporting tables.

(The module is ``reports``: ``tracker.cli.report`` is the function that prints errors.)

Each report is one SQL query (``--sql`` prints it, values filled in, to run by hand); the figures
are computed by the database. ``json`` and ``csv`` keep full precision; ``table`` rounds seconds,
minutes and percentages to one decimal.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TextIO

from ._common import point_in_time, print_table, seconds_or_zero
from ._store import TIME_HELP, add_db

if TYPE_CHECKING:
    from collections.abc import Sequence

REPORT_NAMES = ("calls", "queues", "agents", "conferences", "gaps")
FORMATS = ("table", "csv", "json")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "report", help="call, queue, agent and conference figures from a database"
    )
    p.add_argument(
        "name",
        choices=REPORT_NAMES,
        metavar="NAME",
        help="calls (total, answered, ASR, ACD, dispositions), queues (offered, answered, "
        "abandoned, service level, waits, talk), agents (calls, talk, ring-no-answer, paused), "
        "conferences (rooms, participants, minutes), gaps (where the others are incomplete: "
        "time without an AMI connection, calls cut, calls and queue callers unseen)",
    )
    add_db(p, server=False)
    p.add_argument("--server", metavar="NAME", help="only this server (default: every server)")
    add_range(
        p, "calls count by start, queue callers by join, conference stays by join, gaps by start"
    )
    p.add_argument(
        "--by", choices=("hour", "day"), help="one row per UTC hour or day (default: no split)"
    )
    p.add_argument(
        "--service-level",
        type=seconds_or_zero,
        default=20.0,
        metavar="SECONDS",
        help="queues: answered within SECONDS counts towards the service level (default 20)",
    )
    p.add_argument(
        "--format", choices=FORMATS, default="table", help="table (default), csv or json"
    )
    p.add_argument("--sql", action="store_true", help="print the report's SQL instead")
    p.set_defaults(func=run)


def add_range(p: argparse.ArgumentParser, what: str, *, until: bool = True) -> None:
    """``--from TIME`` (``start``) and ``--until TIME``: a half-open range [from, until)."""
    p.add_argument(
        "--from",
        dest="start",
        type=point_in_time,
        metavar="TIME",
        help=f"from TIME on ({what}); TIME: {TIME_HELP}",
    )
    if until:
        p.add_argument(
            "--until", type=point_in_time, metavar="TIME", help=f"before TIME ({TIME_HELP})"
        )


def utc(epoch: float | None) -> datetime | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)


def write(out: TextIO, fmt: str, title: str, columns: Sequence[str], rows: Sequence[Any]) -> None:
    if fmt == "json":
        import json

        out.write(json.dumps([dict(zip(columns, r, strict=True)) for r in rows], indent=1))
        out.write("\n")
    elif fmt == "csv":
        import csv

        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows(["" if v is None else v for v in r] for r in rows)
    else:
        numeric = [
            i
            for i in range(len(columns))
            if rows and all(isinstance(r[i], int | float) or r[i] is None for r in rows)
        ]
        cells = [[_cell(v) for v in r] for r in rows]
        print_table(out, columns, cells, title=title, right=numeric)


def run(args: argparse.Namespace) -> int:
    from ..store import open_store
    from ..store.engine import create, translated
    from ..store.reports import REPORTS, Params, report_query, run_report

    params = Params(
        server=args.server,
        start=utc(args.start),
        until=utc(args.until),
        by=args.by,
        service_level=args.service_level,
    )
    if args.sql:
        engine = create(args.db)
        try:
            query = report_query(args.name, params)
            sql = query.compile(dialect=engine.dialect, compile_kwargs={"literal_binds": True})
        finally:
            engine.dispose()
        sys.stdout.write(f"{sql};\n")
        return 0
    with open_store(args.db) as store:
        if args.server is not None:
            store.server(args.server)  # an unknown name: say which ones there are
        with translated(store.url), store.engine.connect() as conn:
            columns, rows = run_report(conn, args.name, params)
            gaps = None
            if args.format == "table" and args.name != "gaps":
                gaps = run_report(
                    conn, "gaps", Params(server=args.server, start=params.start, until=params.until)
                )
    write(sys.stdout, args.format, REPORTS[args.name].TITLE, columns, rows)
    if gaps is not None:
        note = gaps_note(*gaps)
        if note:
            sys.stdout.write(note)
    return 0


def gaps_note(columns: Sequence[str], rows: Sequence[Any]) -> str:
    """The table's footer when the period meets gaps between AMI sessions (else empty)."""
    totals = [dict(zip(columns, r, strict=True)) for r in rows]
    count = sum(t["gaps"] for t in totals)
    if not count:
        return ""
    seconds = sum(t["seconds"] for t in totals)
    unrecorded = sum(t["queue_unrecorded"] for t in totals)
    lines = [
        f"Incomplete: {count} gap{'s' if count != 1 else ''} between AMI sessions in this "
        f"period ({seconds:.1f} s unseen); calls that met one are counted as incomplete."
    ]
    if unrecorded:
        lines.append(
            f"About {unrecorded} queue call{'s' if unrecorded != 1 else ''} finished inside "
            "gaps without a call record (from the queues' counters)."
        )
    lines.append("See `ami-tracker report gaps`.")
    return "\n".join(lines) + "\n"
