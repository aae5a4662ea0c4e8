"""Arguments: ``--version``, one-line usage errors, consistent metavars and help, ``--until``."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from datetime import UTC, datetime
from importlib.metadata import version

import pytest

from tests.helpers import FIXTURES
from tracker.ami import speedups_status
from tracker.cli import SUBCOMMANDS, build_parser, main

from ._support import REPO, cli_env, main_fails, run_cli


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out == (
        f"ami-tracker {version('ami-tracker')}\n{speedups_status()}\n"
    )
    assert speedups_status().startswith("codec: ")


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    raise AssertionError("no sub-commands")


def test_every_option_has_help_and_captures_are_called_capture() -> None:
    commands = _subparsers(build_parser())
    assert len(commands) == len(SUBCOMMANDS)
    todo = list(commands.items())
    while todo:
        name, parser = todo.pop()
        for action in parser._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            if isinstance(action, argparse._SubParsersAction):  # e.g. db upgrade|current|...
                todo += [(f"{name} {sub}", p) for sub, p in action.choices.items()]
                continue
            where = f"{name} {action.option_strings or action.dest}"
            assert action.help, where
            if action.dest in ("capture", "captures"):
                assert action.metavar == "CAPTURE", where
            takes_value = action.nargs != 0
            if action.option_strings and takes_value and action.default is not None:
                assert "default" in action.help, where
            if action.dest == "until":
                assert action.metavar == "TIME", where
                assert "ISO 8601" in action.help, where


def test_format_help_states_its_default() -> None:
    calls = _subparsers(build_parser())["calls"]
    (fmt,) = [a for a in calls._actions if a.dest == "format"]
    assert fmt.help is not None and "(default)" in fmt.help


@pytest.mark.parametrize(
    "argv",
    [
        ["simulate", "--port", "99999", "fixtures/basic.ami"],
        ["simulate", "--port", "-1", "fixtures/basic.ami"],
        ["simulate", "--drop-after", "-1", "fixtures/basic.ami"],
        ["record", "--ami", "ami://u:s@127.0.0.1:1", "-o", "x.ami", "--duration", "-1"],
        ["record", "--ami", "ami://u:s@127.0.0.1:1", "-o", "x.ami", "--duration", "0"],
        ["demo", "--speed", "0"],
        ["replay", "fixtures/basic.ami", "--until", "yesterday"],
        ["calls", "fixtures/basic.ami", "--format", "xml"],
        ["watch"],
    ],
)
def test_usage_errors_are_one_line(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    code, line = main_fails(capsys, *argv)
    assert code == 2
    assert line.endswith(f"(see ami-tracker {argv[0]} --help)")


def test_port_out_of_range_message(capsys: pytest.CaptureFixture[str]) -> None:
    _, line = main_fails(capsys, "simulate", "--port", "99999", "fixtures/basic.ami")
    assert "port must be 0..65535, not 99999" in line


def test_no_command_is_one_line() -> None:
    proc = run_cli()
    assert proc.returncode == 2
    assert proc.stderr == (
        "ami-tracker: the following arguments are required: COMMAND (see ami-tracker --help)\n"
    )


def _replay_json(capsys: pytest.CaptureFixture[str], until: str) -> dict[str, object]:
    assert main(["replay", str(FIXTURES / "basic.ami"), "--json", "--until", until]) == 0
    data: dict[str, object] = json.loads(capsys.readouterr().out)
    return data


def test_until_takes_iso_8601_as_well_as_epoch(capsys: pytest.CaptureFixture[str]) -> None:
    epoch = 1795663836.0  # mid-call in basic.ami
    by_epoch = _replay_json(capsys, str(epoch))
    utc = datetime.fromtimestamp(epoch, tz=UTC)
    assert _replay_json(capsys, utc.isoformat()) == by_epoch
    assert _replay_json(capsys, utc.strftime("%Y-%m-%dT%H:%M:%SZ")) == by_epoch
    naive_local = datetime.fromtimestamp(epoch, tz=UTC).astimezone().replace(tzinfo=None)
    assert _replay_json(capsys, naive_local.isoformat()) == by_epoch
    assert by_epoch["calls_active"] == 1
    assert _replay_json(capsys, str(epoch + 100))["calls_active"] == 0


def _imported_after(argv: list[str]) -> set[str]:
    code = (
        "import sys\n"
        "from tracker.cli import main\n"
        "try:\n"
        f"    main({argv!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        "names = ('tracker', 'trio', 'rich')\n"
        "print(' '.join(sorted(m for m in sys.modules if m.startswith(names))))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        env=cli_env(),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return set(proc.stdout.splitlines()[-1].split())


@pytest.mark.parametrize("command", ["", *sorted(_subparsers(build_parser()))])
def test_help_does_not_import_the_vocabulary(command: str) -> None:
    argv = [command, "--help"] if command else ["--help"]
    modules = _imported_after(argv)
    assert "tracker.cli" in modules
    assert not {m for m in modules if m.startswith(("tracker.events", "trio", "rich"))}
