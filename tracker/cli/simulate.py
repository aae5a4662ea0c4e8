"""``ami-tracker simulate CAPTURE``: serve a capture as a fake Asterisk AMI (tests, demos)."""

from __future__ import annotations

import argparse
import os

from ._common import CAPTURE_METAVAR, PROG, CliError, count, port, positive_factor

SECRET_ENV = "AMI_SIMULATOR_SECRET"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser("simulate", help="serve a capture file as an AMI server")
    p.add_argument(
        "capture",
        metavar=CAPTURE_METAVAR,
        help="capture file to serve (.ami or .ami.gz; the .sent file beside it is used too)",
    )
    p.add_argument(
        "--port", type=port, default=5038, help="TCP port, 0..65535 (default 5038; 0: any free)"
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--username", help="accepted login name (default: any)")
    p.add_argument(
        "--secret", help=f"accepted secret (default: ${SECRET_ENV}, or accept any secret)"
    )
    pace = p.add_mutually_exclusive_group()
    pace.add_argument(
        "--speed",
        type=positive_factor,
        default=1.0,
        metavar="FACTOR",
        help="replay pace factor (default 1: the recorded pace)",
    )
    pace.add_argument("--fast", action="store_true", help="send frames as fast as possible")
    p.add_argument(
        "--drop-after",
        type=count,
        metavar="N",
        help="drop each connection after N frames (default: never)",
    )
    p.add_argument("--close-at-end", action="store_true", help="close once the capture is sent")
    p.add_argument(
        "--events-only", action="store_true", help="stream only Event: frames of the capture"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import logging

    import trio

    from ..capture import check_capture
    from ..runtime.simulator import AmiSimulator

    check_capture(args.capture)
    # what the simulator reports (connections, logins, drops) goes to stderr
    logging.basicConfig(level=logging.INFO, format=f"{PROG} simulate: %(message)s")
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
            try:
                bound = await nursery.start(sim.serve, args.port, args.host)
            except OSError as exc:
                raise CliError(
                    f"cannot listen on {args.host}:{args.port}: {_why(exc)}", 1
                ) from None
            print(f"listening on {args.host}:{bound}", flush=True)

    trio.run(main)
    return 0


def _why(exc: OSError) -> str:
    return exc.strerror or str(exc)
