"""``report gaps`` and the footers of ``report calls|queues``: two captures imported one after
the other into one server are two sessions with a gap between them (SQLite, PostgreSQL)."""

from __future__ import annotations

import json

import pytest

from tests.helpers import FIXTURES
from tests.store.test_reports_cli import cli
from tracker.capture import iter_frames
from tracker.store import load_call_records, load_gaps, open_store


def _times(capture: str) -> list[float]:
    out = []
    for frame in iter_frames(FIXTURES / capture):
        stamp = frame.get("Timestamp")
        if stamp is not None:
            out.append(float(stamp))
    return out


def test_two_imports_make_one_gap_and_the_reports_say_so(
    store_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = cli(
        capsys, "import", str(FIXTURES / "basic.ami"), str(FIXTURES / "queue.ami"),
        "--db", store_url, "--server", "pbx",
    )  # fmt: skip
    assert code == 0, err
    with open_store(store_url) as store:
        (gap,) = load_gaps(store, server="pbx")
        sessions = store.sessions(store.server("pbx").id)
        records = load_call_records(store, server="pbx")
    assert gap.seq == sessions[1].first_seq == gap.last_seq + 1
    assert gap.since == pytest.approx(max(_times("basic.ami")), abs=1e-6)
    assert gap.until == pytest.approx(_times("queue.ami")[0], abs=1e-6)
    assert gap.calls_cut == sum(r.gap for r in records) == 0  # basic ends with every call over

    code, out, _ = cli(capsys, "report", "gaps", "--db", store_url, "--format", "json")
    assert code == 0
    (row,) = json.loads(out)
    assert row["server"] == "pbx"
    assert (row["gaps"], row["calls_cut"]) == (1, 0)
    assert row["seconds"] == pytest.approx(gap.seconds) == row["longest"]
    assert row["seconds"] > 0

    for name in ("calls", "queues"):
        code, out, _ = cli(capsys, "report", name, "--db", store_url)
        assert code == 0
        assert f"Incomplete: 1 gap between AMI sessions in this period ({gap.seconds:.1f} s" in out
        assert out.rstrip().endswith("See `ami-tracker report gaps`.")
        # machine formats carry no footer
        code, out, _ = cli(capsys, "report", name, "--db", store_url, "--format", "csv")
        assert "Incomplete" not in out
    # a period before the gap meets none: no footer
    until = str(min(_times("basic.ami")) + 1)
    code, out, _ = cli(capsys, "report", "calls", "--db", store_url, "--until", until)
    assert code == 0 and "Incomplete" not in out
