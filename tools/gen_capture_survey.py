"""Survey the real captures: which headers each event carries and what their values look like.

Writes ``tools/capture_survey.json``, which ``tools/gen_events.py`` reads to decide integer types
and closed enums (a header is typed ``int`` only if every captured value is a non-empty integer)
and to model list-reply events the spec does not describe. Re-run after adding fixtures::

    .venv/bin/python tools/gen_capture_survey.py
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tracker.ami import FrameKind  # noqa: E402
from tracker.capture import iter_frames  # noqa: E402

OUT = ROOT / "tools" / "capture_survey.json"
INT_RE = re.compile(r"-?(?:0|[1-9][0-9]*)")  # canonical: str(int(v)) == v
MAX_VALUES = 40


def survey(paths: list[Path]) -> dict[str, Any]:
    events: dict[str, dict[str, Any]] = {}
    for path in paths:
        for frame in iter_frames(path):
            if frame.kind not in (FrameKind.EVENT, FrameKind.LIST_ITEM):
                continue
            name = frame.name
            ev = events.setdefault(
                name, {"frames": 0, "live": 0, "list": 0, "captures": [], "headers": {}}
            )
            ev["frames"] += 1
            ev["list" if frame.kind is FrameKind.LIST_ITEM else "live"] += 1
            if path.name not in ev["captures"]:
                ev["captures"].append(path.name)
            seen: dict[str, int] = {}
            for key, value in frame.headers[1:]:
                if key.startswith("ChanVariable("):
                    key = "ChanVariable(*)"
                seen[key] = seen.get(key, 0) + 1
                h = ev["headers"].setdefault(
                    key, {"count": 0, "empty": 0, "int": 0, "repeats": False, "values": []}
                )
                h["count"] += 1
                if value == "":
                    h["empty"] += 1
                elif INT_RE.fullmatch(value):
                    h["int"] += 1
                vals = h["values"]
                if vals is not None and value not in vals:
                    vals.append(value)
                    if len(vals) > MAX_VALUES:
                        h["values"] = None
            for key, n in seen.items():
                if n > 1:
                    ev["headers"][key]["repeats"] = True
    for ev in events.values():
        for h in ev["headers"].values():
            if h["values"] is not None:
                h["values"].sort()
    return {"captures": [p.name for p in paths], "events": dict(sorted(events.items()))}


def main() -> None:
    fixtures = ROOT / "fixtures"
    paths = sorted(fixtures.glob("*.ami")) + sorted(fixtures.glob("*.ami.gz"))
    OUT.write_text(json.dumps(survey(paths), indent=1, sort_keys=True) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
