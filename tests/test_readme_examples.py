"""The README's code blocks, run as a reader would run them.

Each ``##`` section's blocks run in order in a fresh directory (``fixtures/`` linked in), with
an AMI simulator serving ``fixtures/queue.ami`` over real TCP (user ``tracker``, secret
``s3cret``, the README's own) in place of the PBX: every ``ami://`` URL points at it,
``postgresql+psycopg://`` URLs at a fresh schema of the test PostgreSQL, ``/etc/ami-tracker/``
at the directory (its ``*.secret`` files hold the secret), ``--metrics`` at a free port. A
```` ```toml ```` block whose first line is ``# PATH`` is written to PATH.

``sh`` lines run in bash; ``ami-tracker run`` and ``watch`` (and Python blocks that open a live
tracker) run until the simulator has served the capture, then get SIGTERM (``run``) or Ctrl-C
(SIGINT) and must exit 0. Every command must exit 0 without a traceback, and print something
unless it writes a file (``-o``). Some blocks have extra checks (``CHECKS``), which fail when the
README no longer shows them. Every ``ami-tracker`` command and ``--option`` the README names, in
code blocks or inline code, must exist.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import shlex
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import trio

from tests.helpers import FIXTURES
from tests.store.conftest import fresh_pg_schema
from tracker.cli import build_parser
from tracker.replay import replay
from tracker.runtime import AmiSimulator, run_simulator

ROOT = FIXTURES.parent
README = ROOT / "README.md"
BIN = Path(sys.executable).parent
USER, SECRET = "tracker", "s3cret"  # the README's examples use these
CAPTURE = FIXTURES / "queue.ami"
SPEED = 20.0
"""Pace of the simulated PBX: queue.ami's 38 s in about 2 s, so live examples see calls end."""
NOT_RUN = {
    "python3 -m venv": "tests/test_readme.py and .ci/run run the README's two commands",
}
LIVE_STOP = {"run": signal.SIGTERM, "watch": signal.SIGINT}
"""Long-running commands and the signal that stops them as the README says."""
PY_WRAPPER = (
    "import runpy, signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "runpy.run_path(sys.argv[1], run_name='__main__')"
)
"""Runs a Python block with Ctrl-C on, even when the test runner was started with it ignored."""


@dataclasses.dataclass(frozen=True)
class Block:
    section: str
    lang: str
    text: str
    line: int


def readme_blocks() -> list[Block]:
    lines = README.read_text().splitlines()
    blocks: list[Block] = []
    section = "top"
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("## "):
            section = line[3:].strip()
        fence = re.fullmatch(r"```(\w*)\s*", line)
        if fence:
            start = i
            body: list[str] = []
            i += 1
            while lines[i].rstrip() != "```":
                body.append(lines[i])
                i += 1
            blocks.append(Block(section, fence.group(1), "\n".join(body) + "\n", start + 1))
        i += 1
    return blocks


def runnable(block: Block) -> bool:
    return block.lang in ("sh", "python") or (block.lang == "toml" and block.text.startswith("# /"))


SECTIONS = sorted({b.section for b in readme_blocks() if runnable(b)})


def shell_commands(script: str) -> list[str]:
    """Commands of a ``sh`` block: continuation lines joined, comments dropped."""
    out: list[str] = []
    current = ""
    for raw in script.splitlines():
        line = re.sub(r"\s+#\s.*$", "", raw).rstrip()
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if line.endswith("\\"):
            current += line[:-1].strip() + " "
            continue
        out.append(current + line.strip())
        current = ""
    return out


def argv_of(command: str) -> list[str]:
    """The program's words, without leading ``NAME=value`` environment assignments."""
    words = shlex.split(command)
    while words and re.fullmatch(r"[A-Z_][A-Z0-9_]*=.*", words[0]):
        words.pop(0)
    return words


# -- the place a section runs in ---------------------------------------------------------------
@dataclasses.dataclass
class Place:
    tmp: Path
    sim: AmiSimulator
    pg_url: str | None
    outputs: dict[str, str] = dataclasses.field(default_factory=dict)
    """Block marker -> what it printed (for CHECKS)."""

    def adapt(self, text: str, *, shell: bool) -> str:
        def ami(m: re.Match[str]) -> str:
            return f"ami://{m.group(1) or ''}127.0.0.1:{self.sim.port}"

        text = re.sub(r"\bamis?://([^@\s\"'/]+@)?[^\s\"'/?]+", ami, text)
        if self.pg_url is not None:
            url = shlex.quote(self.pg_url) if shell else self.pg_url
            text = re.sub(r"postgresql\+psycopg://[^\s\"']+", lambda _: url, text)
        text = text.replace("/etc/ami-tracker/", f"{self.tmp}/etc/ami-tracker/")
        return re.sub(r"(metrics\s*=?\s*\"?)[\w.-]+:\d+", r"\g<1>127.0.0.1:0", text)

    def env(self) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("AMI_TRACKER_") and k != "AMI_SECRET"
        }
        env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
        env["XDG_STATE_HOME"] = str(self.tmp / "state")
        env["COLUMNS"] = "200"
        return env


@contextmanager
def pg_schema(needed: bool) -> Iterator[str | None]:
    if not needed:
        yield None
        return
    with fresh_pg_schema("t_readme") as url:
        yield url


# -- running -----------------------------------------------------------------------------------
async def served(place: Place, before: int, proc: trio.Process) -> None:
    """Until a session opened after ``before`` has streamed the whole capture (or the process
    ended), then a moment for the fold and the persister."""
    sim = place.sim
    while proc.returncode is None and proc.poll() is None:
        new = sim.sessions[before:]
        if any(s.stream_done.is_set() for s in new):
            break
        await trio.sleep(0.05)
    await trio.sleep(1.0)


async def run_live(place: Place, argv: list[str], stop: signal.Signals, what: str) -> str:
    before = len(place.sim.sessions)
    out_path, err_path = place.tmp / "live.out", place.tmp / "live.err"
    with out_path.open("wb") as out, err_path.open("wb") as err:
        proc = await trio.lowlevel.open_process(
            argv, cwd=place.tmp, env=place.env(), stdout=out, stderr=err, start_new_session=True
        )
        try:
            with trio.fail_after(60):
                await served(place, before, proc)
                if proc.returncode is None:
                    os.killpg(proc.pid, stop)  # bash may not have exec'd the command
                code = await proc.wait()
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
    stdout, stderr = out_path.read_text(), err_path.read_text()
    assert code == 0, f"{what} exited {code} after {stop.name}:\n{stderr}"
    assert "Traceback" not in stderr, stderr
    return stdout


async def run_finite(place: Place, argv: list[str], what: str) -> tuple[str, str]:
    with trio.fail_after(120):
        done = await trio.run_process(
            argv,
            cwd=place.tmp,
            env=place.env(),
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )
    stdout, stderr = done.stdout.decode(), done.stderr.decode()
    assert done.returncode == 0, f"{what} exited {done.returncode}:\n{stderr}"
    assert "Traceback" not in stderr, stderr
    return stdout, stderr


async def run_command(place: Place, command: str) -> str:
    line = place.adapt(command, shell=True)
    argv = argv_of(line)
    assert argv, command
    if argv[0] != "ami-tracker":
        pytest.fail(
            f"README command not run by the tests (teach tests/test_readme_examples.py): {command}"
        )
    sub = argv[1]
    assert sub != "top" or "--once" in argv, "a live `top` needs a terminal: show it inline"
    bash = ["bash", "-c", line]
    if sub in LIVE_STOP:
        stdout = await run_live(place, bash, LIVE_STOP[sub], command)
    else:
        stdout, stderr = await run_finite(place, bash, command)
        if "-o" not in argv:
            assert (stdout + stderr).strip(), f"{command} printed nothing"
    return stdout


async def run_python(place: Place, block: Block, index: int) -> str:
    path = place.tmp / f"readme_example_{index}.py"
    path.write_text(place.adapt(block.text, shell=False))
    argv = [sys.executable, "-c", PY_WRAPPER, str(path)]
    what = f"README.md:{block.line} (python)"
    if "open_tracker(" in block.text:
        stdout = await run_live(place, argv, signal.SIGINT, what)
    else:
        stdout, _ = await run_finite(place, argv, what)
    assert stdout.strip(), f"{what} printed nothing"
    return stdout


def write_file(place: Place, block: Block) -> None:
    first, _, rest = block.text.partition("\n")
    target = Path(place.adapt(first.removeprefix("#").strip(), shell=False))
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(place.adapt(rest, shell=False))


# -- extra checks ------------------------------------------------------------------------------
def expected_calls() -> set[str]:
    return {c.linkedid for c in replay(CAPTURE).call_records}


async def check_live_api(place: Place, stdout: str) -> None:
    """The live example printed the state, the Originate's answer and ended calls, and its
    ``db=`` kept every call of the capture."""
    assert re.search(r"^\d+ channels, \d+ calls up$", stdout, re.M), stdout
    assert re.search(r"^sales: \d+ waiting, 3 members$", stdout, re.M), stdout
    assert "originate: Success Originate successfully queued" in stdout
    ended = re.findall(r"^call (\S+) ended: [A-Z ]+, \d+s$", stdout, re.M)
    assert ended
    assert set(ended) <= expected_calls()
    argv = ["ami-tracker", "calls", "--db", "sqlite:///calls.db", "--format", "jsonl"]
    stored, _ = await run_finite(place, [str(BIN / argv[0]), *argv[1:]], "calls --db")
    assert {json.loads(line)["linkedid"] for line in stored.splitlines()} == expected_calls()


async def check_offline_api(place: Place, stdout: str) -> None:
    last = stdout.rstrip().splitlines()[-1]
    assert last == f"{len(expected_calls())} calls ended; queues: ['load', 'sales', 'support']"
    assert "CallEnded(" in stdout


async def check_pg_calls(place: Place, stdout: str) -> None:
    """``run --db postgresql...`` stored every call the simulated PBX made."""
    for linkedid in expected_calls():
        assert linkedid in stdout


async def check_watch(place: Place, stdout: str) -> None:
    assert len([line for line in stdout.splitlines() if line.strip()]) >= len(expected_calls())


async def check_python_reports(place: Place, stdout: str) -> None:
    assert re.search(r"^\{'server': 'pbx1', .*'offered': \d+", stdout, re.M), stdout
    assert stdout.rstrip().endswith("calls up at that time")


CHECKS: dict[str, Callable[[Place, str], object]] = {
    'open_tracker("ami://': check_live_api,
    "for env in envelopes(": check_offline_api,
    "ami-tracker calls --db postgresql": check_pg_calls,
    "ami-tracker watch --ami": check_watch,
    "run_report(conn": check_python_reports,
}
"""A marker in a block (a Python block, or one ``sh`` command) -> its extra check."""


def check_for(text: str) -> Callable[[Place, str], object] | None:
    found = [check for marker, check in CHECKS.items() if marker in text]
    assert len(found) <= 1
    return found[0] if found else None


# -- the tests ---------------------------------------------------------------------------------
def test_readme_has_runnable_examples_for_each_part() -> None:
    assert {
        "Python API (trio)",
        "Command line",
        "Configuration",
        "Connecting to a real Asterisk",
        "PostgreSQL",
        "Reports",
    } <= set(SECTIONS)
    text = README.read_text()
    for marker in CHECKS:
        assert marker in text, f"the README no longer shows {marker!r}: update CHECKS"


@pytest.mark.parametrize("section", SECTIONS)
async def test_readme_section_runs(section: str, tmp_path: Path) -> None:
    blocks = [b for b in readme_blocks() if b.section == section and runnable(b)]
    (tmp_path / "fixtures").symlink_to(FIXTURES)
    whole = "\n".join(b.text for b in blocks)
    for name in set(re.findall(r"/etc/ami-tracker/([\w.-]+\.secret)", whole)):
        secret = tmp_path / "etc" / "ami-tracker" / name
        secret.parent.mkdir(parents=True, exist_ok=True)
        secret.write_text(SECRET + "\n")
    ran = skipped = 0
    with pg_schema("postgresql+psycopg://" in whole) as pg_url:
        async with run_simulator(CAPTURE, username=USER, secret=SECRET, speed=SPEED) as sim:
            place = Place(tmp_path, sim, pg_url)
            for index, block in enumerate(blocks):
                if block.lang == "toml":
                    write_file(place, block)
                    continue
                if block.lang == "python":
                    stdout = await run_python(place, block, index)
                    ran += 1
                    check = check_for(block.text)
                    if check is not None:
                        await check(place, stdout)  # type: ignore[misc]
                    continue
                for command in shell_commands(block.text):
                    if any(command.startswith(prefix) for prefix in NOT_RUN):
                        skipped += 1
                        continue
                    stdout = await run_command(place, command)
                    ran += 1
                    check = check_for(command)
                    if check is not None:
                        await check(place, stdout)  # type: ignore[misc]
    assert ran or skipped, f"nothing runnable in {section}"


# -- every command and option named exists --------------------------------------------------
def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def mentions() -> list[tuple[list[str], list[str]]]:
    """``(command words, --options)`` of every ``ami-tracker ...`` in code of the README."""
    prose = re.sub(r"^```.*?^```", "", README.read_text(), flags=re.S | re.M)
    code = [b.text for b in readme_blocks() if b.lang == "sh"]
    code += [span for span in re.findall(r"`([^`]+)`", prose) if "ami-tracker " in span]
    found: list[tuple[list[str], list[str]]] = []
    for piece in code:
        piece = re.sub(r"\\\n\s*", " ", piece)
        for line in piece.splitlines():
            line = re.sub(r"(^|\s+)#\s.*$", "", line)
            parts = re.split(r"\bami-tracker (?=[a-z-])", line)
            for part in parts[1:]:
                words = part.split()
                options = [w.split("=")[0] for w in re.findall(r"(?<![\w-])--[a-z][\w-]*", part)]
                found.append((words, options))
    return found


def test_every_command_and_option_the_readme_names_exists() -> None:
    root: argparse.ArgumentParser = build_parser()
    subs = _subparsers(root)
    checked = 0
    for words, options in mentions():
        first = words[0]
        parsers: list[argparse.ArgumentParser] = [root]
        if not first.startswith("--"):
            assert first in subs, f"`ami-tracker {first}` is not a command"
            parsers = [subs[first]]
            nested = _subparsers(subs[first])
            if nested:
                names = words[1].replace("\\|", "|").split("|")
                assert all(n in nested for n in names), f"`ami-tracker {first} {words[1]}`"
                parsers = [nested[n] for n in names]
        for parser in parsers:
            for option in options:
                assert option in parser._option_string_actions, (
                    f"`ami-tracker {' '.join(words[:2])}`: no option {option}"
                )
                checked += 1
    assert checked > 50


def test_readme_live_urls_carry_the_secret_the_tests_serve() -> None:
    """The simulator checks the README's user and secret: a URL with another one would fail
    its login, so keep them in step here."""
    urls = re.findall(r"\bami://([^@\s\"'/]+)@", README.read_text())
    assert urls
    assert {u.split(":")[0] for u in urls} == {USER}
    assert {u.split(":")[1] for u in urls if ":" in u} == {SECRET}


def test_shell_commands_join_continuations_and_drop_comments() -> None:
    script = "# a comment\nA=1 \\\n  ami-tracker run --ami x   # live\nami-tracker calls y\n"
    assert shell_commands(script) == ["A=1 ami-tracker run --ami x", "ami-tracker calls y"]
    assert argv_of("A=1 B='2 3' ami-tracker run --ami x") == ["ami-tracker", "run", "--ami", "x"]
