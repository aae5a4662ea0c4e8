"""``ami-tracker`` command line: the composition root.

Conventions every sub-command follows (add one by writing ``tracker/cli/<name>.py`` and
listing it in ``SUBCOMMANDS``):

- **Shape**: the module exposes ``register(subparsers)``; the parser it adds sets ``func`` to
  ``run(args: argparse.Namespace) -> int`` (the exit code: 0 ok, 1 failed, 2 usage/input).
- **Lazy imports**: at module level import only the standard library and ``._common``;
  import ``tracker.*`` packages, trio, msgspec, rich inside ``run`` (or under
  ``TYPE_CHECKING``). ``ami-tracker --help`` must not import ``tracker.events``
  (``tests/cli/test_arguments.py`` checks it for every sub-command's ``--help``).
- **Errors**: a user mistake is one line on stderr and a non-zero exit, never a traceback.
  Raise ``CliError(message, code)`` (or call ``fail``); ``main`` prints
  ``ami-tracker <command>: <message>``. It does the same for any ``TrackerError``
  (``CaptureError`` for unreadable or non-AMI captures: exit 2; connection and login errors:
  exit 1), for an ``OSError`` that escaped (exit 1), and for Ctrl-C (``interrupted``, exit
  130), also when trio wraps them in an exception group; anything else is a bug and keeps its
  traceback. Validate arguments with the argument types of ``_common`` (``port``, ``count``,
  ``positive_seconds``, ``point_in_time``): a bad value is a one-line usage error (exit 2).
  Check captures with ``tracker.capture.check_capture`` before use. Never print the secret
  (``AmiTarget.redacted``).
- **Names**: a capture argument is ``metavar=CAPTURE`` (``CAPTURE_HELP``); a point in time is
  ``--until TIME`` (``UNTIL_HELP``); a URL is ``--ami URL``; every option has help text that
  states its default (``tests/cli/test_arguments.py`` checks both). Tables go through
  ``print_table`` (rich; plain text when piped); times shown to people go through
  ``local_time``; ``--json``/``jsonl``/``csv`` keep epochs.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable, Sequence

from ._common import PROG, CliError, Parser, VersionAction, leaves

SUBCOMMANDS: tuple[str, ...] = (
    "inspect",
    "record",
    "simulate",
    "replay",
    "calls",
    "reports",
    "watch",
    "top",
    "run",
    "demo",
    "db",
    "importer",
    "export",
    "events",
)
"""Modules under tracker.cli, in help order."""


def build_parser() -> Parser:
    parser = Parser(prog=PROG, description="Event-sourced call state tracker for Asterisk AMI.")
    parser.add_argument("--version", action=VersionAction)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in SUBCOMMANDS:
        module = importlib.import_module(f"{__name__}.{name}")
        module.register(sub)
    return parser


def report(command: str, exc: BaseException) -> int:
    """Exit code for an exception that ended a command, after one line on stderr; re-raise
    what is a bug (a traceback is then the right output)."""
    from ..capture import CaptureError
    from ..errors import TrackerError

    found = leaves(exc)
    if any(isinstance(e, KeyboardInterrupt) for e in found):
        print(f"{PROG} {command}: interrupted", file=sys.stderr)
        return 130
    if len(found) != 1:
        raise exc
    error = found[0]
    if isinstance(error, BrokenPipeError):  # e.g. `ami-tracker calls x.ami | head`
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # so that the exit-time flush does not fail
        return 0
    if isinstance(error, CliError):
        code = error.code
    elif isinstance(error, CaptureError):
        code = 2
    elif isinstance(error, TrackerError | OSError):
        code = 1
    else:
        raise exc
    print(f"{PROG} {command}: {error}", file=sys.stderr)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    func: Callable[[object], int] = args.func
    try:
        return func(args)
    except BaseException as exc:  # report() re-raises what it does not know
        if isinstance(exc, SystemExit | GeneratorExit):
            raise
        return report(args.command, exc)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
