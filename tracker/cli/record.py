"""``ami-tracker record --ami URL -o FILE``: write every byte received from AMI to a file.

The file starts with the banner and is a capture like ``fixtures/*.ami`` (gzip-compressed when
its name ends in ``.gz``). It is created only once the login succeeded, and an existing file is
overwritten only with ``--force``. Recording stops on Ctrl-C/SIGTERM, after ``--duration``
seconds, or when the server closes the connection; the session is then logged off (its
``Goodbye`` is recorded too).
"""

from __future__ import annotations

import argparse
import io
import os
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ._common import CliError, positive_seconds

if TYPE_CHECKING:
    import trio

    from ..runtime.client import AmiClient
    from ..runtime.url import AmiTarget

SECRET_ENV = "AMI_SECRET"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser("record", help="record a raw AMI capture from a live server")
    p.add_argument(
        "--ami",
        required=True,
        metavar="URL",
        help=f"ami[s]://user:secret@host:port (or user@host with the secret in ${SECRET_ENV})",
    )
    p.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="FILE",
        help="capture file to write (gzip-compressed when FILE ends in .gz)",
    )
    p.add_argument("--force", action="store_true", help="overwrite FILE if it exists")
    p.add_argument(
        "--events",
        metavar="EVENTS",
        help="Login Events: value: on, off, or a class list such as call,agent "
        "(default: the URL's ?events=, else on)",
    )
    p.add_argument(
        "--duration",
        type=positive_seconds,
        metavar="SECONDS",
        help="stop after SECONDS (default: until Ctrl-C or the server closes)",
    )
    p.set_defaults(func=run)


class _Writer:
    def __init__(self, out: io.BufferedIOBase) -> None:
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
    import trio

    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for _ in signals:
            scope.cancel()
            return


def _target(args: argparse.Namespace) -> AmiTarget:
    from ..runtime.url import parse_url

    try:
        return parse_url(args.ami, secret=os.environ.get(SECRET_ENV))
    except ValueError as exc:
        raise CliError(str(exc)) from None


def check_output(path: Path, force: bool) -> None:
    """Refuse, before connecting, an output that cannot or should not be written."""
    if path.is_dir():
        raise CliError(f"{path}: is a directory (give a file name)")
    if path.exists() and not force:
        raise CliError(f"{path}: already exists (use --force to overwrite it)")
    if not path.parent.is_dir():
        raise CliError(f"{path.parent}: no such directory")


def open_output(path: Path, force: bool) -> io.BufferedIOBase:
    import gzip

    mode = "wb" if force else "xb"
    try:
        if path.name.endswith(".gz"):
            return gzip.GzipFile(path, mode)
        return open(path, "wb") if force else open(path, "xb")
    except OSError as exc:
        raise CliError(f"{path}: cannot write: {exc.strerror or exc}", 1) from None


async def _record(args: argparse.Namespace, target: AmiTarget, path: Path) -> _Writer:
    from ..runtime.client import connect

    async with connect(target, events=args.events) as client:
        with open_output(path, args.force) as out:
            writer = _Writer(out)
            await _drain(args, client, writer, path)
    return writer


async def _drain(args: argparse.Namespace, client: AmiClient, writer: _Writer, path: Path) -> None:
    import trio

    from ..errors import TrackerError

    async with trio.open_nursery() as nursery:
        target = client.target
        print(f"recording {target.redacted} to {path}", file=sys.stderr, flush=True)
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


def run(args: argparse.Namespace) -> int:
    import trio

    target = _target(args)
    path = Path(args.output)
    check_output(path, args.force)
    writer = trio.run(_record, args, target, path)
    print(f"recorded {writer.frames} frames, {writer.bytes} bytes", file=sys.stderr)
    return 0
