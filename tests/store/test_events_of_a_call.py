"""``events --call`` prints every frame of a call: a brute-force scan of the capture for the
frames naming the call's Linkedid or one of its legs' Uniqueids (in any header) finds exactly
the frames the command prints, the trailing ones (Cdr after the last Hangup, a late
NewCallerid, ParkedCallGiveUp) and the early ones (an OriginateResponse before the first
channel) included."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import FIXTURES, SMALL_CAPTURES, capture_id
from tracker.ami import Frame
from tracker.capture import iter_frames
from tracker.cli import main
from tracker.replay import import_capture, replay
from tracker.state.call import Call
from tracker.store import open_store
from tracker.store.models import default_projections


def printed(capsys: pytest.CaptureFixture[str], url: str, linkedid: str) -> list[dict[str, object]]:
    code = main(["events", "--db", url, "--call", linkedid, "--format", "jsonl"])
    out = capsys.readouterr().out
    assert code == 0
    return [json.loads(line) for line in out.splitlines()]


def naming(frames: list[Frame], call: Call) -> list[int]:
    """Seqs of the frames with a header, whatever its name, whose value is the call's
    Linkedid, or a leg's Uniqueid (but not in a ``*Linkedid`` header: that names a call, and
    a leg may have been the first channel of another call before it joined this one)."""
    legs = set(call.legs)

    def names(key: str, value: str) -> bool:
        if value == call.linkedid:
            return True
        return value in legs and not key.lower().endswith("linkedid")

    return [seq for seq, f in enumerate(frames) if any(names(k, v) for k, v in f.headers)]


def check_calls(
    capsys: pytest.CaptureFixture[str], url: str, capture: Path, every: int = 1
) -> list[str]:
    """Import ``capture``, compare each call's printed frames with the scan; the names of
    the frames found outside the call's own seq range."""
    with open_store(url) as store:
        import_capture(store, capture, server="pbx", projections=default_projections())
    frames = list(iter_frames(capture))
    outside: list[str] = []
    for call in replay(capture).call_records[::every]:
        expected = naming(frames, call)
        lines = printed(capsys, url, call.linkedid)
        assert [line["seq"] for line in lines] == expected, call.linkedid
        outside += [frames[s].name for s in expected if not call.first_seq <= s <= call.last_seq]
    return outside


@pytest.mark.parametrize("capture", SMALL_CAPTURES, ids=capture_id)
def test_every_frame_naming_the_call_is_printed(
    capsys: pytest.CaptureFixture[str], store_url: str, capture: Path
) -> None:
    check_calls(capsys, store_url, capture)


def test_frames_after_the_last_hangup_and_before_the_first_channel(
    capsys: pytest.CaptureFixture[str], sqlite_url: str, tmp_path: Path
) -> None:
    from tracker.store import migrate

    found: list[str] = []
    for name in ("park.ami", "lists.ami", "transfers.ami"):
        url = f"sqlite:///{tmp_path / name}.sqlite"
        migrate.upgrade(url)
        found += check_calls(capsys, url, FIXTURES / name)
    assert {"Cdr", "NewCallerid", "ParkedCallGiveUp", "OriginateResponse"} <= set(found)


def test_a_busy_log(capsys: pytest.CaptureFixture[str], sqlite_url: str) -> None:
    """The load test: 300 calls, up to 286 channels at once (every 10th call checked)."""
    from tracker.store import migrate

    migrate.upgrade(sqlite_url)
    assert "Cdr" in check_calls(capsys, sqlite_url, FIXTURES / "load.ami.gz", every=10)


def test_a_negative_margin_is_one_clear_line(
    capsys: pytest.CaptureFixture[str], sqlite_url: str
) -> None:
    code = main(["events", "--db", sqlite_url, "--call", "1.0", "--margin", "-1"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "--margin" in err
