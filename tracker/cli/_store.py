"""What the store's sub-commands share: ``--db``/``--server`` options, points in time, and
turning store errors into one line on stderr.

Imports only the standard library at module level (``--help`` stays fast).
"""

from __future__ import annotations

import argparse
import functools
import os
import re
import sys
from collections.abc import Callable

from ._common import leaves, point_in_time

DB_ENV = "AMI_TRACKER_DB"
TIME_HELP = "ISO 8601 date/time (local time unless it has an offset) or epoch seconds"


def add_db(p: argparse.ArgumentParser, *, server: bool = True) -> None:
    default = os.environ.get(DB_ENV)
    p.add_argument(
        "--db",
        metavar="URL",
        default=default,
        required=default is None,
        help=f"database URL, e.g. sqlite:///calls.sqlite (default: ${DB_ENV})",
    )
    if server:
        p.add_argument(
            "--server",
            metavar="NAME",
            help="which Asterisk server's log (default: the only one in the database)",
        )


_SEQ = re.compile(r"#?\d{1,9}")


def time_or_seq(value: str) -> tuple[str, float]:
    """``--at``: a frame seq (an integer below 10^9, or ``#N``) or a point in time."""
    text = value.strip()
    if _SEQ.fullmatch(text):
        return "seq", int(text.lstrip("#"))
    return "time", point_in_time(text)  # epoch seconds or ISO 8601


def guarded(command: str) -> Callable[[Callable[[argparse.Namespace], int]], Callable[..., int]]:
    """Print a store/tracker/OS error as ``ami-tracker COMMAND: message`` and return 1."""

    def wrap(func: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
        @functools.wraps(func)
        def run(args: argparse.Namespace) -> int:
            from ..errors import TrackerError

            try:
                return func(args)
            except BrokenPipeError:
                raise  # `... | head`: main() ends quietly
            except (TrackerError, OSError) as exc:
                print(f"ami-tracker {command}: {one_line(exc)}", file=sys.stderr)
                return 1
            except BaseExceptionGroup as group:  # from trio: report the one real error
                found = leaves(group)
                if len(found) == 1 and isinstance(found[0], TrackerError | OSError):
                    print(f"ami-tracker {command}: {one_line(found[0])}", file=sys.stderr)
                    return 1
                raise

        return run

    return wrap


def one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
