"""``ami-tracker db upgrade|current|downgrade|prune --db URL``: the store's schema and retention."""

from __future__ import annotations

import argparse
import sys

from ._common import point_in_time
from ._store import TIME_HELP, add_db, guarded


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser("db", help="create, upgrade or prune the event store's database")
    sub = p.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    up = sub.add_parser("upgrade", help="create the schema or upgrade it (default: to the newest)")
    add_db(up, server=False)
    up.add_argument("revision", nargs="?", default="head", help="target revision (default: head)")
    cur = sub.add_parser("current", help="print the schema revision of the database")
    add_db(cur, server=False)
    down = sub.add_parser("downgrade", help="downgrade the schema (base: drop every table)")
    add_db(down, server=False)
    down.add_argument("revision", help="target revision, e.g. -1 or base")
    prune = sub.add_parser(
        "prune", help="drop raw log blocks and snapshots older than a date (reports stay)"
    )
    add_db(prune)
    prune.add_argument(
        "--before", required=True, type=point_in_time, metavar="DATE", help=TIME_HELP
    )
    p.set_defaults(func=run)


@guarded("db")
def run(args: argparse.Namespace) -> int:
    from ..store import migrate

    action = args.db_command
    if action == "upgrade":
        rev = migrate.upgrade(args.db, args.revision)
        print(f"schema at revision {rev} (head {migrate.head()})")
    elif action == "current":
        rev = migrate.current(args.db)
        if rev is None:
            print("no schema (run `ami-tracker db upgrade`)")
            return 1
        state = "up to date" if rev == migrate.head() else f"head is {migrate.head()}"
        print(f"{rev} ({state})")
    elif action == "downgrade":
        rev = migrate.downgrade(args.db, args.revision)
        print(f"schema at revision {rev or 'base (no tables)'}")
    else:
        return _prune(args)
    return 0


def _prune(args: argparse.Namespace) -> int:
    from ..store import open_store

    with open_store(args.db) as store:
        servers = [store.server(args.server)] if args.server else store.servers()
        for info in servers:
            result = store.prune(info.id, before=args.before)
            if result.kept_from is None:
                print(f"{info.name}: nothing to prune (no snapshot before that date)")
            else:
                print(
                    f"{info.name}: dropped {result.blocks} blocks ({result.frames} frames) and "
                    f"{result.snapshots} snapshots; the log now starts at seq {result.kept_from}",
                    file=sys.stdout,
                )
    return 0
