"""The README's two commands stay true, and ``.ci/run`` runs the test command first, as is."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SETUP = "python3 -m venv .venv && .venv/bin/pip install -q -e"


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    return [line for line in text.splitlines() if line.startswith(SETUP)]


def test_readme_has_the_demo_and_the_test_command() -> None:
    demo, tests = readme_commands()
    assert demo == f"{SETUP} . && .venv/bin/ami-tracker demo"
    assert tests == f"{SETUP} '.[test]' && .venv/bin/python -bb -W error -m pytest"


def test_ci_runs_the_readme_test_command_first_in_a_fresh_venv() -> None:
    _, tests = readme_commands()
    script = (ROOT / ".ci" / "run").read_text()
    commands = [
        line for line in script.splitlines() if line.strip() and not line.lstrip().startswith("#")
    ]
    runs = [i for i, line in enumerate(commands) if tests in line]
    assert len(runs) == 1, "the README's test command, exactly, once"
    (first,) = runs
    before = commands[:first]
    assert "rm -rf .venv" in before
    assert not [line for line in before if re.search(r"\bpip\b|\.venv/bin/", line)]
    after = "\n".join(commands[first + 1 :])
    for tool in ("ruff check", "ruff format --check", "mypy", "lint-imports"):
        assert f".venv/bin/{tool}" in after
    assert "'.[test,lint]'" in after


def test_test_extra_has_what_the_tests_run() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    test_extra = " ".join(project["optional-dependencies"]["test"])
    assert "ruff" in test_extra  # tests/events/test_generated.py formats with it
    assert any(dep.startswith("rich") for dep in project["dependencies"])
