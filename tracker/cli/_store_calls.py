"""The ``--db`` side of ``ami-tracker calls``: call records read back from the reporting tables
(the same records, in the same order, that folding the stored frames gives)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from .report import _time, add_from

if TYPE_CHECKING:
    from ..state.call import Call


def store_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", metavar="URL", help="read the calls from this database instead")
    p.add_argument("--server", metavar="NAME", help="with --db: only this server")
    add_from(p, "with --db: calls that started at TIME or later (epoch or ISO 8601)")


def stored_calls(args: argparse.Namespace, command: str) -> list[Call]:
    import sys

    from sqlalchemy import create_engine, exc

    from ..store.reporting_query import call_records

    if args.db is None or args.captures:
        print(
            f"ami-tracker {command}: give CAPTURE files or --db URL (one of them)", file=sys.stderr
        )
        raise SystemExit(2)
    until = None if args.until is None else _time(str(args.until))
    engine = create_engine(args.db)
    try:
        with engine.connect() as conn:
            return list(call_records(conn, server=args.server, start=args.start, until=until))
    except exc.SQLAlchemyError as error:
        first = str(getattr(error, "orig", None) or error).strip().splitlines()
        print(f"ami-tracker {command}: database error: {first[0]}", file=sys.stderr)
        raise SystemExit(1) from None
    finally:
        engine.dispose()
