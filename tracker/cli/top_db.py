"""``ami-tracker top --db URL``: the switchboard of a tracker followed through its database.

Another process (``ami-tracker run --db URL``) writes the log; this one starts from the World
at the end of it (nearest snapshot + later frames) and then, every ``--poll`` seconds, folds
the frames written since with the same Reducer (``tracker.store.Follower``), so it shows the
writer's World a poll behind. The database is read in a worker thread; the fold and the
redraw run in the trio thread, so a redraw never sees a half-folded World. Durations tick as
in ``top --ami``: the log's judged event clock plus the local time since it last moved.

The status line says what the database knows of the writer: its newest session (live,
resyncing, disconnected since when and why), whether its write lease is still renewed, and how
long no new frame came (``stale`` after :data:`STALE_AFTER` s: a live writer stores at least
its keepalive answers). A database that goes away is shown there and retried every poll.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from ._common import CliError, local_time
from ._store import one_line

if TYPE_CHECKING:
    from ..store import Follower, Store, WriterState
    from .switchboard import Status

STALE_AFTER = 60.0
"""Seconds without a new frame (or a lease heartbeat) after which the view is ``stale``:
three keepalive intervals of ``run``'s default 20 s."""


def _ago(seconds: float) -> str:
    return f"{seconds:.0f}s" if seconds < 120 else f"{seconds / 60:.0f} min"


def follow_state(
    writer: WriterState | None, idle: float, *, stale_after: float = STALE_AFTER
) -> tuple[str, str]:
    """``(state, detail)`` for the status line: ``writer`` is what the database says (None:
    no server there yet), ``idle`` the seconds since a new frame was folded here."""
    if writer is None:
        return "waiting", "no tracker has written to this server yet"
    if writer.source is not None and writer.source != "live":
        return "imported", "the log was imported, no live session"
    if writer.holder is None:
        lease = "no tracker writing"
    elif writer.holder_gone:
        lease = f"the writer ({writer.holder}) has exited"
    elif writer.heartbeat_age is not None and writer.heartbeat_age > stale_after:
        lease = f"the writer ({writer.holder}) is silent for {_ago(writer.heartbeat_age)}"
    else:
        lease = ""  # a writer is running
    if writer.source is None:  # the server's row, no session yet
        return "waiting", lease or f"{writer.holder} is connecting to Asterisk"
    if writer.disconnected_at is not None:
        since = local_time(writer.disconnected_at.timestamp())
        reason = f" ({writer.disconnect_reason})" if writer.disconnect_reason else ""
        return "disconnected", f"since {since}{reason}, {lease or 'the tracker retries'}"
    quiet = f"no new frame for {_ago(idle)}" if idle >= 2 else ""
    if lease:
        return "stale", ", ".join(filter(None, [lease, quiet]))
    if idle >= stale_after:
        return "stale", quiet
    return ("resyncing" if writer.resyncing else "live"), quiet


class _View:
    """What the poller learnt, for the next redraw."""

    def __init__(self, store: Store, follower: Follower, now: float) -> None:
        self.store = store
        self.follower = follower
        self.writer: WriterState | None = None
        self.error = ""
        """Why the last read failed ('' if it worked)."""
        self.missing = ""
        """Why there is no server to follow yet ('' once there is)."""
        self.restarted = ""
        self.last_new = now
        """Local (trio) time a new frame was last folded, or the start."""

    def status(self, rate: float, local: float) -> Status:
        from ..store import redact
        from .switchboard import Status

        follower = self.follower
        state, detail = follow_state(self.writer, local - self.last_new)
        if self.error:
            state = "db error"
        elif self.missing:
            state, detail = "waiting", self.missing
        sessions = 0 if self.writer is None else self.writer.sessions
        return Status(
            server=follower.info.name if follower.info is not None else follower.server or "?",
            target=redact(self.store.url),
            state=state,
            events_per_second=rate,
            frames=follower.seq + 1,
            reconnects=max(0, sessions - 1),
            note=self.error or self.restarted,
            detail=detail,
        )


def run_db(args: argparse.Namespace) -> int:
    import trio

    from ..store import Follower, open_store

    store = open_store(args.db)  # a bad URL or a schema not upgraded: one line, exit 1
    try:
        follower = Follower(store, args.server)
        if args.once or store.servers():
            follower.start()  # no such server, or several: one line, exit 1
        if args.once:
            _print_once(store, follower)
            return 0
        trio.run(_top_db, store, follower, args.refresh, args.poll)
    finally:
        store.close()
    print(f"top: stopped at frame {follower.seq + 1}", file=sys.stderr)
    return 0


def _print_once(store: Store, follower: Follower) -> None:
    from rich.console import Console

    from ..store.follow import writer_state
    from .switchboard import render

    assert follower.info is not None
    view = _View(store, follower, 0.0)
    view.writer = writer_state(store, follower.info)
    wide = Console(width=None if sys.stdout.isatty() else 120)
    world = follower.world
    with wide.capture() as shot:
        wide.print(render(world, view.status(0.0, 0.0), now=world.clock))
    sys.stdout.write("".join(f"{line.rstrip()}\n" for line in shot.get().splitlines()))


async def _poll(view: _View, every: float) -> None:
    """Fetch in a worker thread, fold here; a database error is shown and retried."""
    import trio

    from ..errors import StoreError
    from ..store import NoSuchServer
    from ..store.follow import FETCH_FRAMES

    follower = view.follower
    while True:
        try:
            update = await trio.to_thread.run_sync(follower.fetch, abandon_on_cancel=True)
        except NoSuchServer as exc:  # not written yet: wait for the tracker
            view.error, view.missing = "", one_line(exc)
            await trio.sleep(every)
            continue
        except (StoreError, OSError) as exc:
            view.error = one_line(exc)
            await trio.sleep(every)
            continue
        view.error = view.missing = ""
        view.writer = update.writer
        if update.reason:
            view.restarted = f"started over at the end of the log: {update.reason}"
        if follower.apply(update):
            view.last_new = trio.current_time()
        if len(update.envelopes) < FETCH_FRAMES:  # else catching up: fetch again now
            await trio.sleep(every)


async def _top_db(store: Store, follower: Follower, refresh: float, every: float) -> None:
    import signal

    import trio
    from rich.console import Console
    from rich.live import Live

    from ..runtime.metrics import RateMeter
    from .switchboard import render
    from .top import _cancel_on, _Clock, _until_key, _until_signal

    view = _View(store, follower, trio.current_time())
    rate = RateMeter()
    clock = _Clock()
    console = Console()
    async with trio.open_nursery() as nursery:
        stop = trio.Event()
        nursery.start_soon(_until_signal, stop, signal.SIGINT, signal.SIGTERM)
        nursery.start_soon(_until_key, stop)
        nursery.start_soon(_poll, view, every)
        nursery.start_soon(_cancel_on, stop, nursery.cancel_scope)
        with Live(console=console, screen=True, auto_refresh=False) as live:
            while not stop.is_set():
                local = trio.current_time()
                rate.sample(local, follower.folded)
                world = follower.world
                now = clock.now(world.clock, local)
                height = console.size.height
                status = view.status(rate.rate, local)
                shown = render(world, status, now=now, max_calls=max(3, height // 2))
                live.update(shown, refresh=True)
                with trio.move_on_after(refresh):
                    await stop.wait()


def check_db_arguments(args: argparse.Namespace) -> None:
    """``--db`` follows a database: the AMI options make no sense with it."""
    given = [f for f, v in (("--ami", args.ami), ("--name", args.name)) if v]
    if given:
        raise CliError(f"{' and '.join(given)} cannot go with --db (use --server NAME)")
