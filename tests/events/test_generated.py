"""The checked-in vocabulary is exactly what tools/gen_events.py produces from the spec."""

from __future__ import annotations

import importlib.util
import json
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


def test_capture_survey_is_current() -> None:
    """The int/enum typing decisions rest on tools/capture_survey.json: it must match fixtures/."""
    spec = importlib.util.spec_from_file_location(
        "survey", ROOT / "tools" / "gen_capture_survey.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    fixtures = ROOT / "fixtures"
    paths = sorted(fixtures.glob("*.ami")) + sorted(fixtures.glob("*.ami.gz"))
    current = json.loads(json.dumps(module.survey(paths)))
    stored = json.loads((ROOT / "tools" / "capture_survey.json").read_text())
    assert current == stored
