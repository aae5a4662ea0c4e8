"""The ``--db`` side of ``ami-tracker calls``: call records read back from the reporting tables
(the same records, in the same order, that folding the stored frames gives)."""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING, NoReturn

from ._store import DB_ENV
from .report import add_range

if TYPE_CHECKING:
    from ..state.call import Call


def store_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--db",
        metavar="URL",
        default=os.environ.get(DB_ENV),
        help=f"read the calls from this database instead of captures (default: ${DB_ENV})",
    )
    p.add_argument("--server", metavar="NAME", help="with --db: only this server")
    add_range(p, "with --db: calls that started then or later", until=False)


def stored_calls(args: argparse.Namespace) -> list[Call]:
    """The calls ``calls --db`` prints. A mistake or a store error: one line, then exit."""
    from ..errors import TrackerError

    if args.captures:
        _exit(2, "give CAPTURE files or --db URL, not both")
    if args.db is None:
        _exit(2, f"give CAPTURE files or --db URL (or set ${DB_ENV})")
    try:
        return _read(args)
    except (TrackerError, OSError) as exc:
        _exit(1, str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__)


def _exit(code: int, message: str) -> NoReturn:
    print(f"ami-tracker calls: {message}", file=sys.stderr)
    raise SystemExit(code)


def _read(args: argparse.Namespace) -> list[Call]:
    from ..store import load_call_records, open_store

    with open_store(args.db) as store:
        if args.server is not None:
            store.server(args.server)  # an unknown name: say which ones there are
        return load_call_records(store, server=args.server, start=args.start, until=args.until)
