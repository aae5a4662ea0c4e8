"""``ami-tracker simulate CAPTURE``: serve a capture as a fake Asterisk AMI (tests, demos)."""

from __future__ import annotations

import argparse
import os
import sys

import trio

from ..runtime.simulator import AmiSimulator

SECRET_ENV = "AMI_SIMULATOR_SECRET"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser("simulate", help="serve a capture file as an AMI server")
    p.add_argument("capture", help="capture file (.ami or .ami.gz; its .sent file is used too)")
    p.add_argument("--port", type=int, default=5038, help="TCP port (0 = any free port)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--username", help="accepted login name (default: any)")
    p.add_argument(
        "--secret", help=f"accepted secret (default: ${SECRET_ENV}, or accept any secret)"
    )
    pace = p.add_mutually_exclusive_group()
    pace.add_argument("--speed", type=float, default=1.0, help="replay pace factor (default 1)")
    pace.add_argument("--fast", action="store_true", help="send frames as fast as possible")
    p.add_argument(
        "--drop-after", type=int, metavar="N", help="drop each connection after N frames"
    )
    p.add_argument("--close-at-end", action="store_true", help="close once the capture is sent")
    p.add_argument(
        "--events-only", action="store_true", help="stream only Event: frames of the capture"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if not args.fast and args.speed <= 0:
        print("ami-tracker simulate: --speed must be positive", file=sys.stderr)
        return 2
    sim = AmiSimulator(
        args.capture,
        username=args.username,
        secret=args.secret if args.secret is not None else os.environ.get(SECRET_ENV),
        speed=None if args.fast else args.speed,
        drop_after=args.drop_after,
        close_at_end=args.close_at_end,
        events_only=args.events_only,
    )

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            port = await nursery.start(sim.serve, args.port, args.host)
            print(f"listening on {args.host}:{port}", flush=True)

    trio.run(main)
    return 0
