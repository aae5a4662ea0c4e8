"""``ami-tracker top --ami URL``: a live switchboard of one Asterisk, updated in place.

Runs a live Tracker (reconnect, resync) and redraws ``switchboard.render`` of its World a few
times a second with rich ``Live`` on the terminal's alternate screen. Log lines would tear
the screen, so the latest warning is shown in the status line instead. ``q``, Ctrl-C or
SIGTERM quit. With ``--db URL`` it follows a tracker through its database instead
(:mod:`tracker.cli.top_db`).
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import TYPE_CHECKING

from ._common import PROG, CliError, fail, positive_seconds
from .run import EXIT_CONFIG, add_server_arguments, command_parser, load

if TYPE_CHECKING:
    import trio

    from ..config import ServerSettings
    from ..runtime.tracker import Tracker

EXAMPLE = """\
examples:
  AMI_TRACKER_SECRET=s3cret ami-tracker top --ami ami://tracker@pbx1:5038
  ami-tracker top --config /etc/ami-tracker/tracker.toml --name pbx2
  ami-tracker top --ami ami://tracker@pbx1 --once > switchboard.txt
  ami-tracker top --db sqlite:///calls.sqlite     # follow `ami-tracker run --db ...`
  ami-tracker top --db postgresql+psycopg://tracker@db/calls --server pbx1 --poll 2

keys: q quits (as do Ctrl-C and SIGTERM)
"""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = command_parser(
        subparsers,
        "top",
        summary="live switchboard of an Asterisk server in the terminal",
        description="Live switchboard: active calls with parties, state and durations, queues "
        "with waiting callers and member states, conferences, parked calls, and a status line. "
        "Connects to the Asterisk (--ami), or follows a running `ami-tracker run --db URL` "
        "through its database (--db).",
        example=EXAMPLE,
    )
    add_server_arguments(p, several=False)
    p.add_argument(
        "--db",
        metavar="URL",
        help="instead of connecting to Asterisk, follow what `ami-tracker run` writes into "
        "this database (sqlite:///FILE or postgresql+psycopg://USER@HOST/DB; default: off)",
    )
    p.add_argument(
        "--server",
        metavar="NAME",
        help="with --db: which server's log (default: the only one in the database)",
    )
    p.add_argument(
        "--poll",
        type=positive_seconds,
        default=1.0,
        metavar="SECONDS",
        help="with --db: seconds between two reads of the new frames (default 1)",
    )
    p.add_argument(
        "--once",
        action="store_true",
        help="print the switchboard once, after logging in and resyncing (with --db: at the "
        "end of the log), and exit (works when piped; default: live until q)",
    )
    p.add_argument(
        "--refresh",
        type=positive_seconds,
        default=0.5,
        metavar="SECONDS",
        help="seconds between two redraws (default 0.5)",
    )
    p.set_defaults(func=run)


class _LastWarning(logging.Handler):
    """Keeps the latest warning for the status line (the screen has no room for a log)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.text = ""

    def emit(self, record: logging.LogRecord) -> None:
        self.text = self.format(record)


class _Clock:
    """Event time that keeps ticking between events: the World's clock (Asterisk's
    ``Timestamp``) plus the local time elapsed since it last moved."""

    def __init__(self) -> None:
        self._event = 0.0
        self._local = 0.0

    def now(self, event_clock: float, local: float) -> float:
        if event_clock != self._event:
            self._event, self._local = event_clock, local
        return self._event + (local - self._local)


def run(args: argparse.Namespace) -> int:
    if not args.once and not sys.stdout.isatty():
        fail(
            "the live view needs a terminal; use --once for one snapshot, "
            f"or {PROG} watch for a stream of changes"
        )
    if args.db is not None:
        from .top_db import check_db_arguments, run_db

        check_db_arguments(args)
        return run_db(args)
    if args.server is not None:
        fail("--server goes with --db (the Asterisk is named with --name)")
    settings = load(args, {})
    if len(settings.servers) > 1:
        names = ", ".join(s.name for s in settings.servers)
        fail(f"follows one server: pick one with --name ({names})")

    import trio

    from ..config import ConfigError
    from ..errors import AuthenticationError, TrackerError
    from ..runtime._groups import single
    from ..runtime.service import make_tracker

    try:
        tracker = make_tracker(settings.servers[0], settings)
    except ConfigError as exc:
        raise CliError(str(exc)) from None
    error: BaseException
    try:
        trio.run(_top, settings.servers[0], tracker, args.refresh, args.once)
    except BaseExceptionGroup as group:
        error = single(group)
        if not isinstance(error, TrackerError):
            raise
    except TrackerError as exc:
        error = exc
    else:
        s = tracker.stats
        print(
            f"top: stopped after {s.frames} frames, {s.sessions} sessions, "
            f"{s.calls_ended} calls ended",
            file=sys.stderr,
        )
        return 0
    print(f"{PROG} top: {error}", file=sys.stderr)
    return EXIT_CONFIG if isinstance(error, AuthenticationError) else 1


def connection_state(tracker: Tracker) -> str:
    if tracker.client.connected:
        return "live" if tracker.synced.is_set() else "resyncing"
    return "reconnecting" if tracker.stats.sessions else "connecting"


async def _top(server: ServerSettings, tracker: Tracker, refresh: float, once: bool) -> None:
    import signal

    import trio
    from rich.console import Console
    from rich.live import Live

    from ..runtime.logs import configure_logging
    from ..runtime.metrics import Watched
    from ..runtime.service import close_tracker
    from .switchboard import Status, render

    secrets = [server.secret] if server.secret is not None else []
    handler = configure_logging("text", "warning", secrets=secrets, stream=sys.stderr)
    logging.getLogger("tracker").removeHandler(handler)
    last = _LastWarning()
    last.setFormatter(handler.formatter)
    logging.getLogger("tracker").addHandler(last)

    watched = Watched(server.name, tracker)
    clock = _Clock()
    console = Console()

    def status() -> Status:
        return Status(
            server=server.name,
            target=tracker.client.target.redacted,
            state=connection_state(tracker),
            events_per_second=watched.events_rate.rate,
            frames=tracker.stats.frames,
            reconnects=watched.reconnects,
            note=last.text,
        )

    async with trio.open_nursery() as nursery:
        stop = trio.Event()
        nursery.start_soon(_until_signal, stop, signal.SIGINT, signal.SIGTERM)
        nursery.start_soon(tracker.run)
        if once:
            logging.getLogger("tracker").addHandler(handler)  # no screen to keep clean
            with trio.CancelScope() as waiting:
                nursery.start_soon(_cancel_on, stop, waiting)
                await tracker.wait_synced()
                wide = Console(width=None if sys.stdout.isatty() else 120)
                with wide.capture() as shot:
                    wide.print(render(tracker.world, status(), now=tracker.world.clock))
                sys.stdout.write("".join(f"{line.rstrip()}\n" for line in shot.get().splitlines()))
            await close_tracker(tracker, nursery.cancel_scope)
            nursery.cancel_scope.cancel()
            return
        nursery.start_soon(_until_key, stop)
        with Live(console=console, screen=True, auto_refresh=False) as live:
            while not stop.is_set():
                local = trio.current_time()
                watched.sample(local)
                now = clock.now(tracker.world.clock, local)
                height = console.size.height
                view = render(tracker.world, status(), now=now, max_calls=max(3, height // 2))
                live.update(view, refresh=True)
                with trio.move_on_after(refresh):
                    await stop.wait()
        await close_tracker(tracker, nursery.cancel_scope)
        nursery.cancel_scope.cancel()


async def _cancel_on(event: trio.Event, scope: trio.CancelScope) -> None:
    await event.wait()
    scope.cancel()


async def _until_signal(stop: trio.Event, *signals: int) -> None:
    import trio

    with trio.open_signal_receiver(*signals) as received:
        async for _ in received:
            stop.set()
            return


async def _until_key(stop: trio.Event) -> None:
    """``q`` on the terminal sets ``stop`` (stdin in cbreak mode, read in a worker thread)."""
    import os
    import termios
    import tty

    import trio

    if not sys.stdin.isatty():
        return
    fd = sys.stdin.fileno()
    saved = termios.tcgetattr(fd)
    tty.setcbreak(fd, termios.TCSANOW)  # keep what was typed before (TCSAFLUSH drops it)
    try:
        while True:
            data = await trio.to_thread.run_sync(os.read, fd, 64, abandon_on_cancel=True)
            if not data or b"q" in data.lower():
                stop.set()
                return
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)
