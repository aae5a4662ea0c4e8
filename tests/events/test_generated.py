"""The checked-in vocabulary is exactly what tools/gen_events.py produces from the spec."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_generator_gives_no_diff() -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "gen_events.py"), "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
