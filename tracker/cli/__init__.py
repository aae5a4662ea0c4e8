"""``ami-tracker`` command line: the composition root.

Each sub-command lives in its own module exposing ``register(subparsers)``; the parser it adds
sets ``func`` to a callable taking the parsed namespace and returning an exit code.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence

SUBCOMMANDS: tuple[str, ...] = (
    "inspect",
    "record",
    "simulate",
    "replay",
    "calls",
    "watch",
    "demo",
    "db",
    "importer",
    "export",
    "events",
)
"""Modules under tracker.cli, in help order."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ami-tracker", description="Event-sourced call state tracker for Asterisk AMI."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in SUBCOMMANDS:
        module = importlib.import_module(f"{__name__}.{name}")
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
