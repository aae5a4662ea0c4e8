"""The import direction and the purity of the core are checked, not just documented."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PURE = ["ami", "events", "state", "reducer", "query.py"]
CLOCK_CALLS = {"time", "monotonic", "perf_counter", "now", "utcnow", "today", "random", "urandom"}


def test_import_contracts_hold() -> None:
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert exe is not None, "import-linter is a test dependency"
    proc = subprocess.run(
        [exe, "--no-cache"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "BROKEN" not in proc.stdout


def _pure_files() -> list[Path]:
    out: list[Path] = []
    for name in PURE:
        p = ROOT / "tracker" / name
        out.extend(sorted(p.rglob("*.py")) if p.is_dir() else [p])
    return [p for p in out if p.exists()]


def test_pure_core_never_reads_a_clock_or_randomness() -> None:
    offenders = []
    files = _pure_files()
    assert len(files) > 10
    for path in files:
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                mods = (
                    [a.name for a in node.names]
                    if isinstance(node, ast.Import)
                    else [node.module or ""]
                )
                for mod in mods:
                    if mod.split(".")[0] in {"time", "random", "datetime", "secrets", "uuid"}:
                        offenders.append(f"{path}:{node.lineno} imports {mod}")
            elif isinstance(node, ast.Attribute) and node.attr in CLOCK_CALLS:
                base = node.value
                if isinstance(base, ast.Name) and base.id in {"time", "datetime", "random", "os"}:
                    offenders.append(f"{path}:{node.lineno} calls {base.id}.{node.attr}")
    assert offenders == []
