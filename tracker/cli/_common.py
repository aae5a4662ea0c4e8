"""What every sub-command shares: one-line errors, argument types, times and tables.

Imports only the standard library at module level (``--help`` must stay fast); ``rich`` is
imported when a table is printed.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NoReturn, TextIO

if TYPE_CHECKING:
    from rich.console import Console

PROG = "ami-tracker"
DIST = "ami-tracker"


class CliError(Exception):
    """A user mistake or an unusable input: ``main`` prints ``ami-tracker CMD: <message>`` on
    stderr (one line, no traceback) and exits with ``code``."""

    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.code = code


class Parser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line on stderr (then exit 2), not usage + error."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def version_text() -> str:
    """``ami-tracker --version``: the installed package's version, and which codec runs
    (the compiled one, or the pure-Python one and why)."""
    from importlib.metadata import PackageNotFoundError, version

    from ..ami import speedups_status

    try:
        number = version(DIST)
    except PackageNotFoundError:  # running from a checkout that was never installed
        from .. import __version__ as number
    return f"{PROG} {number}\n{speedups_status()}"


class VersionAction(argparse.Action):
    """``--version``, computed only when asked for (importlib.metadata is not free)."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        kwargs.setdefault("help", "show the version and exit")
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, *_: Any) -> None:
        print(version_text())
        parser.exit(0)


# -- argument types (argparse turns their ValueError/ArgumentTypeError into a usage error) --
def port(value: str) -> int:
    """A TCP port, 0..65535 (0: any free port)."""
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {value!r}") from None
    if not 0 <= number <= 65535:
        raise argparse.ArgumentTypeError(f"port must be 0..65535, not {number}")
    return number


def count(value: str) -> int:
    """A number of things, >= 0."""
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {value!r}") from None
    if number < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {number}")
    return number


def _positive(value: str, what: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a {what}: {value!r}") from None
    if not (number > 0 and math.isfinite(number)):
        raise argparse.ArgumentTypeError(f"must be a positive {what}, not {value}")
    return number


def positive_seconds(value: str) -> float:
    """A duration in seconds, > 0 and finite."""
    return _positive(value, "number of seconds")


def seconds_or_zero(value: str) -> float:
    """A duration in seconds, >= 0 and finite (0 usually means: never)."""
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {value!r}") from None
    if not (number >= 0 and math.isfinite(number)):
        raise argparse.ArgumentTypeError(f"must be 0 or more seconds, not {value}")
    return number


RECONCILE_INTERVAL = 300.0
"""Default of ``--reconcile-interval`` (``tracker.runtime.tracker.RECONCILE_INTERVAL``)."""


def add_reconcile_interval(parser: argparse.ArgumentParser, note: str = "") -> None:
    """``--reconcile-interval SECONDS`` of the live commands (0: never)."""
    parser.add_argument(
        "--reconcile-interval",
        type=seconds_or_zero,
        default=RECONCILE_INTERVAL,
        metavar="SECONDS",
        help="while connected, ask CoreShowChannels every SECONDS so that channels whose "
        f"Hangup was lost are closed (default {RECONCILE_INTERVAL:g}; 0: never){note}",
    )


def positive_factor(value: str) -> float:
    """A pace factor, > 0 and finite."""
    return _positive(value, "number")


def point_in_time(value: str) -> float:
    """Epoch seconds, or an ISO 8601 date-time (local time unless it carries an offset)."""
    try:
        number = float(value)
    except ValueError:
        pass
    else:
        if not math.isfinite(number):
            raise argparse.ArgumentTypeError(f"not a point in time: {value!r}")
        return number
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not epoch seconds or an ISO 8601 time: {value!r} "
            "(e.g. 1795663836 or 2026-11-25T13:30:36)"
        ) from None
    if when.tzinfo is None:
        when = when.astimezone()  # naive: the local time zone
    return when.timestamp()


UNTIL_HELP = (
    "fold only the events up to TIME: stop before the first event stamped later than TIME "
    "(epoch seconds, or ISO 8601 such as 2026-11-25T13:30:36, local time unless it has an offset)"
)
UNTIL_METAVAR = "TIME"
CAPTURE_METAVAR = "CAPTURE"
CAPTURE_HELP = "capture file: the bytes received on an AMI socket (.ami, or gzip .ami.gz)"
CAPTURES_HELP = CAPTURE_HELP + "; several are folded one after another"


# -- output ----------------------------------------------------------------------------
def local_time(epoch: float | None, *, millis: bool = False) -> str:
    """``2026-11-25 13:30:36`` in the local time zone ('' for no time)."""
    if epoch is None:
        return ""
    when = datetime.fromtimestamp(epoch, tz=UTC).astimezone()
    if millis:
        return when.strftime("%Y-%m-%d %H:%M:%S.") + f"{when.microsecond // 1000:03d}"
    return when.strftime("%Y-%m-%d %H:%M:%S")


def console(out: TextIO) -> Console:
    """A rich console on ``out``. Piped to a file it writes plain text: no colours or
    escape codes, and no wrapping or truncation at a guessed terminal width."""
    from rich.console import Console

    terminal = out.isatty()
    return Console(
        file=out,
        width=None if terminal else 1 << 16,
        no_color=not terminal,
        highlight=False,
        emoji=False,
        markup=False,
        soft_wrap=not terminal,
    )


def print_table(
    out: TextIO,
    headers: Sequence[str],
    rows: Iterable[Sequence[object]],
    *,
    title: str | None = None,
    right: Sequence[int] = (),
    show_header: bool = True,
    min_widths: Sequence[int] | None = None,
) -> None:
    """A plain aligned table (rich): a header row, then one line per row, no box.

    Cells are shown as text, never as rich markup. ``right`` lists right-aligned columns.
    """
    from rich.table import Table
    from rich.text import Text

    table = Table(
        title=title,
        title_justify="left",
        box=None,
        show_header=show_header,
        header_style="bold",
        pad_edge=False,
        padding=(0, 2, 0, 0),
    )
    for i, name in enumerate(headers):
        table.add_column(
            name,
            justify="right" if i in right else "left",
            no_wrap=True,
            min_width=None if min_widths is None else min_widths[i],
        )
    for row in rows:
        table.add_row(*(Text("" if v is None else str(v)) for v in row))
    con = console(out)
    with con.capture() as captured:
        con.print(table)
    out.write("".join(line.rstrip() + "\n" for line in captured.get().splitlines()))


def leaves(exc: BaseException) -> list[BaseException]:
    """The exceptions in a (nested) exception group, or ``[exc]``."""
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for sub in exc.exceptions for leaf in leaves(sub)]
    return [exc]


def fail(message: str, code: int = 2) -> NoReturn:
    """Stop the command with one line on stderr (see ``CliError``)."""
    raise CliError(message, code)


def warn(command: str, message: str) -> None:
    """One line on stderr that does not stop the command."""
    print(f"{PROG} {command}: {message}", file=sys.stderr, flush=True)
