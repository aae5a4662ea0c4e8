"""Running ``ami-tracker`` in-process (``tracker.cli.main``) and as a real subprocess."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.helpers import FIXTURES
from tracker.cli import main

REPO = FIXTURES.parent
CLI = [sys.executable, "-m", "tracker"]


def cli_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO)
    env.update(extra)
    return env


def run_cli(*args: str, timeout: float = 120, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args],
        cwd=REPO,
        env=cli_env(**env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def one_error_line(stderr: str, command: str) -> str:
    """The only stderr line: ``ami-tracker COMMAND: ...``, and no traceback."""
    assert "Traceback" not in stderr, stderr
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith(f"ami-tracker {command}: "), stderr
    return lines[0]


def last_error_line(stderr: str, command: str) -> str:
    """The last stderr line (commands that report progress before failing), no traceback."""
    assert "Traceback" not in stderr, stderr
    line = stderr.splitlines()[-1]
    assert line.startswith(f"ami-tracker {command}: "), stderr
    return line


def main_fails(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    """Run ``main`` in-process; return its exit code (argparse's too) and the stderr line."""
    try:
        code = main(list(argv))
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    captured = capsys.readouterr()
    assert code != 0, captured
    return code, one_error_line(captured.err, argv[0])
