"""``replay --db``: the state rebuilt from the event store (nearest snapshot + later frames)."""

from __future__ import annotations

import argparse
import json
import sys

from ._store import TIME_HELP, guarded, time_or_seq


def add_store_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", metavar="URL", help="replay from this event store instead of captures")
    p.add_argument(
        "--server", metavar="NAME", help="with --db: which server (default: the only one)"
    )
    p.add_argument(
        "--at",
        type=time_or_seq,
        metavar="TIME|SEQ",
        help=f"with --db: right after frame SEQ (an integer, or #N), or at TIME ({TIME_HELP}); "
        "default: the end of the log",
    )


@guarded("replay")
def replay_db(args: argparse.Namespace) -> int:
    from ..replay import replay_store
    from ..store import open_store
    from .replay import state_summary, write_text

    seq = at = None
    if args.at is not None:
        kind, value = args.at
        if kind == "seq":
            seq = int(value)
        else:
            at = value
    if args.until is not None:
        at = args.until if at is None else min(at, args.until)
    with open_store(args.db) as store:
        result = replay_store(store, args.server, seq=seq, at=at)
        kinds = store.anomaly_kinds(store.server(args.server).id, result.seq)
    world = result.world
    # the same object as an offline replay; a clock that never moved means no event time
    data = state_summary(
        world, frames=result.seq + 1, anomaly_kinds=kinds, durations_known=world.clock > 0
    )
    out = sys.stdout
    if args.json:
        out.write(json.dumps(data, sort_keys=True) + "\n")
        return 0
    write_text(out, data)
    start = "the first frame" if result.snapshot_seq is None else f"snapshot @{result.snapshot_seq}"
    out.write(f"{'rebuilt from':24} {start} + {result.folded} frames\n")
    return 0
