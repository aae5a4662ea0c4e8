"""The compiled codec is optional: a failed build and a disabled or missing extension all leave
a working install on the pure-Python codec, and ``speedups_status()`` says which one runs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(code: str, **env: str) -> str:
    """Run ``code`` in a fresh interpreter (imports happen once per process); return stdout."""
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        cwd=ROOT,
        check=True,
    )
    return proc.stdout.strip()


def build(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    dirs = ["--build-lib", str(tmp_path / "lib"), "--build-temp", str(tmp_path / "tmp")]
    return subprocess.run(
        [sys.executable, "setup.py", "-q", "build_ext", *dirs],
        capture_output=True,
        text=True,
        env={**os.environ, "AMI_TRACKER_NO_EXTENSIONS": "", **env},
        cwd=ROOT,
        check=False,
    )


def test_build_without_a_compiler_succeeds_without_the_extension(tmp_path: Path) -> None:
    proc = build(tmp_path, CC="false")
    assert proc.returncode == 0, proc.stderr
    assert "the compiled codec was not built" in proc.stderr
    assert not list(tmp_path.rglob("_speedups*.so"))


def test_build_with_the_compiler_produces_the_extension(tmp_path: Path) -> None:
    proc = build(tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "not built" not in proc.stderr
    assert len(list((tmp_path / "lib" / "tracker" / "ami").glob("_speedups*"))) == 1


def test_build_skips_the_extension_when_disabled(tmp_path: Path) -> None:
    proc = build(tmp_path, AMI_TRACKER_NO_EXTENSIONS="1")
    assert proc.returncode == 0, proc.stderr
    assert not list(tmp_path.rglob("_speedups*.so"))


def test_environment_variable_forces_the_pure_codec() -> None:
    out = run(
        "from tracker.ami import parser, speedups_status\n"
        "from tracker.events import decode\n"
        "assert parser.FrameParser is parser.PyFrameParser\n"
        "assert decode.decode_headers is decode.decode_headers_py\n"
        "assert decode.envelopes is decode.envelopes_py\n"
        "print(speedups_status())",
        AMI_TRACKER_NO_EXTENSIONS="1",
    )
    assert out == (
        "codec: pure Python (AMI_TRACKER_NO_EXTENSIONS is set; the compiled one is built)"
    )


def test_missing_extension_falls_back_to_the_pure_codec() -> None:
    out = run(
        "import sys\n"
        "sys.modules['tracker.ami._speedups'] = None  # as if it had not been built\n"
        "from tracker.ami import parser, speedups_status\n"
        "from tracker.events import decode\n"
        "from tracker.replay import replay\n"
        "assert parser.FrameParser is parser.PyFrameParser\n"
        "assert decode.compiled_decoder is None\n"
        "print(replay('fixtures/basic.ami').events)\n"
        "print(speedups_status())",
        AMI_TRACKER_NO_EXTENSIONS="",
    )
    events, status = out.splitlines()
    assert int(events) > 100
    assert status.startswith("codec: pure Python (the compiled one is not ")


def test_compiled_codec_is_the_default_when_built() -> None:
    out = run(
        "from tracker.ami import parser, speedups_status\n"
        "assert parser.FrameParser is not parser.PyFrameParser\n"
        "print(speedups_status())",
        AMI_TRACKER_NO_EXTENSIONS="0",
    )
    assert out == "codec: compiled (tracker.ami._speedups)"


def test_version_says_which_codec_runs() -> None:
    for env, status in (
        ("1", "codec: pure Python (AMI_TRACKER_NO_EXTENSIONS is set; the compiled one is built)"),
        ("", "codec: compiled (tracker.ami._speedups)"),
    ):
        proc = subprocess.run(
            [sys.executable, "-m", "tracker", "--version"],
            capture_output=True,
            text=True,
            env={**os.environ, "AMI_TRACKER_NO_EXTENSIONS": env},
            cwd=ROOT,
            check=True,
        )
        lines = proc.stdout.splitlines()
        assert lines[0].startswith("ami-tracker ")
        assert lines[1:] == [status]
