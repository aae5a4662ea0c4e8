"""The ``--db`` side of ``ami-tracker calls``: call records read back from the reporting tables
(the same records, in the same order, that folding the stored frames gives)."""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING

from ._common import fail
from ._store import DB_ENV
from .reports import add_range

if TYPE_CHECKING:
    from ..state.call import Call


def store_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--db",
        metavar="URL",
        default=os.environ.get(DB_ENV),
        help=f"read the calls from this database instead of captures (default: ${DB_ENV})",
    )
    p.add_argument("--server", metavar="NAME", help="with --db: only this server (default: all)")
    add_range(
        p, "with --db: calls that started then or later; --until: started before", until=False
    )


def stored_calls(args: argparse.Namespace) -> tuple[list[Call], bool]:
    """The calls ``calls --db`` prints, and whether their durations are known (False when a
    server's stored events carried no time: Asterisk's ``timestampevents = no``)."""
    from ..store import load_call_records, open_store

    if args.captures:
        fail("give CAPTURE files or --db URL, not both")
    if args.db is None:
        fail(f"give CAPTURE files or --db URL (or set ${DB_ENV})")
    with open_store(args.db) as store:
        servers = [store.server(args.server)] if args.server is not None else store.servers()
        known = all(store.durations_known(s.id) for s in servers)
        calls = load_call_records(store, server=args.server, start=args.start, until=args.until)
    return calls, known
