"""``ami-tracker record --ami URL -o FILE``: write every byte received from AMI to a file.

The file starts with the banner and is a capture like ``fixtures/*.ami``. Recording stops on
Ctrl-C/SIGTERM, after ``--duration`` seconds, or when the server closes the connection; the
session is then logged off (its ``Goodbye`` is recorded too).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from typing import BinaryIO

import trio

from ..errors import TrackerError
from ..runtime.client import AmiClient, connect
from ..runtime.url import AmiTarget, parse_url

SECRET_ENV = "AMI_SECRET"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser("record", help="record a raw AMI capture from a live server")
    p.add_argument(
        "--ami",
        required=True,
        metavar="URL",
        help=f"ami[s]://user:secret@host:port (or user@host with the secret in ${SECRET_ENV})",
    )
    p.add_argument("-o", "--output", required=True, metavar="FILE", help="capture file to write")
    p.add_argument("--events", help="Login Events: value (on, off, or a class list)")
    p.add_argument("--duration", type=float, metavar="S", help="stop after S seconds")
    p.set_defaults(func=run)


class _Writer:
    def __init__(self, out: BinaryIO) -> None:
        self.out = out
        self.frames = 0
        self.bytes = 0

    async def drain(self, client: AmiClient) -> None:
        """Write received frames until the channel ends (or the caller is cancelled)."""
        async for received in client.events():
            self.out.write(received.frame.raw)
            self.frames += 1
            self.bytes += len(received.frame.raw)
            if client.receive_channel.statistics().current_buffer_used == 0:
                self.out.flush()


async def _stop_on_signal(scope: trio.CancelScope) -> None:
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for _ in signals:
            scope.cancel()
            return


def _target(args: argparse.Namespace) -> AmiTarget:
    return parse_url(args.ami, secret=os.environ.get(SECRET_ENV))


async def _record(args: argparse.Namespace, out: BinaryIO) -> _Writer:
    target = _target(args)
    writer = _Writer(out)
    async with connect(target, events=args.events) as client, trio.open_nursery() as nursery:
        print(f"recording {target.redacted} to {args.output}", file=sys.stderr, flush=True)
        stop = trio.CancelScope()
        if args.duration is not None:
            stop.deadline = trio.current_time() + args.duration
        nursery.start_soon(_stop_on_signal, stop)
        try:
            with stop:
                await writer.drain(client)
            # stopped by us: log off, then record the Goodbye and the close
            nursery.start_soon(client.logoff)
            await writer.drain(client)
        except TrackerError as exc:  # the server ended the session
            print(f"connection ended: {exc}", file=sys.stderr)
        nursery.cancel_scope.cancel()
    return writer


def run(args: argparse.Namespace) -> int:
    try:
        _target(args)
    except ValueError as exc:
        print(f"ami-tracker record: {exc}", file=sys.stderr)
        return 2
    with open(args.output, "wb") as out:
        try:
            writer = trio.run(_record, args, out)
        except TrackerError as exc:
            print(f"ami-tracker record: {exc}", file=sys.stderr)
            return 1
    print(f"recorded {writer.frames} frames, {writer.bytes} bytes", file=sys.stderr)
    return 0
