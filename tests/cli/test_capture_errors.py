"""Unusable captures: one clear stderr line and a non-zero exit, never a traceback."""

from __future__ import annotations

import gzip
import random
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.helpers import FIXTURES
from tracker.capture import CaptureError, check_capture, iter_frames, read_bytes

from ._support import REPO, main_fails, run_cli

OFFLINE = ("inspect", "replay", "calls")


@pytest.fixture(scope="module")
def truncated_gz(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first 60 kB of load.ami.gz: its start decodes, then the gzip stream stops."""
    path = tmp_path_factory.mktemp("cap") / "cut.ami.gz"
    path.write_bytes((FIXTURES / "load.ami.gz").read_bytes()[:60_000])
    return path


@pytest.mark.parametrize("command", OFFLINE)
def test_truncated_gzip(
    capsys: pytest.CaptureFixture[str], truncated_gz: Path, command: str
) -> None:
    code, line = main_fails(capsys, command, str(truncated_gz))
    assert code == 2
    assert "truncated gzip file" in line
    assert str(truncated_gz) in line


def test_truncated_gzip_as_a_process(truncated_gz: Path) -> None:
    proc = run_cli("calls", str(truncated_gz))
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.splitlines()[-1].endswith(
        "truncated gzip file (it ends before the end of the compressed stream)"
    )


def test_directory_as_capture(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, line = main_fails(capsys, "inspect", str(tmp_path))
    assert code == 2
    assert line == f"ami-tracker inspect: {tmp_path}: is a directory, not a capture file"


@pytest.mark.parametrize("command", OFFLINE)
def test_missing_capture(capsys: pytest.CaptureFixture[str], tmp_path: Path, command: str) -> None:
    code, line = main_fails(capsys, command, str(tmp_path / "nope.ami"))
    assert code == 2
    assert line.endswith("nope.ami: no such file")


def _random_bytes(path: Path) -> None:
    path.write_bytes(random.Random(6).randbytes(5000))


def _readme(path: Path) -> None:
    path.write_bytes((REPO / "README.md").read_bytes())


def _empty(path: Path) -> None:
    path.write_bytes(b"")


@pytest.mark.parametrize("command", OFFLINE)
@pytest.mark.parametrize(
    "make", [_empty, _random_bytes, _readme], ids=["empty", "random", "readme"]
)
def test_not_an_ami_capture(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, command: str, make: Callable[[Path], None]
) -> None:
    path = tmp_path / "capture.ami"
    make(path)
    code, line = main_fails(capsys, command, str(path))
    assert code == 2
    assert "not an AMI capture" in line
    assert capsys.readouterr().out == ""


def test_several_captures_checked_before_folding(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    bad = tmp_path / "notes.txt"
    bad.write_text("hello\n")
    code, line = main_fails(capsys, "calls", str(FIXTURES / "basic.ami"), str(bad))
    assert code == 2
    assert "notes.txt: not an AMI capture" in line


def test_check_capture_accepts_every_fixture_and_a_capture_cut_before_its_banner(
    tmp_path: Path,
) -> None:
    for path in [*FIXTURES.glob("*.ami"), FIXTURES / "load.ami.gz"]:
        check_capture(path)
    data = read_bytes(FIXTURES / "basic.ami")
    cut = tmp_path / "cut.ami"
    cut.write_bytes(data[data.index(b"Event: ") :])  # no banner, no login answer
    check_capture(cut)


def test_gzip_is_recognised_by_content_not_name(tmp_path: Path) -> None:
    plain = (FIXTURES / "basic.ami").read_bytes()
    odd = tmp_path / "basic.capture"
    odd.write_bytes(gzip.compress(plain))
    assert read_bytes(odd) == plain
    assert b"".join(f.raw for f in iter_frames(odd)) == plain
    named = tmp_path / "plain.ami.gz"
    named.write_bytes(plain)  # not compressed despite its name: still readable
    assert read_bytes(named) == plain


def test_corrupt_gzip_is_a_capture_error(tmp_path: Path) -> None:
    data = bytearray(gzip.compress((FIXTURES / "basic.ami").read_bytes()))
    data[20:40] = bytes(20)
    path = tmp_path / "corrupt.ami.gz"
    path.write_bytes(bytes(data))
    with pytest.raises(CaptureError, match=r"corrupt\.ami\.gz: corrupt gzip data"):
        list(iter_frames(path))
