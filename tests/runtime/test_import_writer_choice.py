"""A large import is written from a writer process, a small one from a thread."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import FIXTURES
from tracker.runtime.importing import PROCESS_FROM_BYTES, _worth_a_process


def test_the_writer_process_is_for_large_imports(tmp_path: Path) -> None:
    assert not _worth_a_process([FIXTURES / "queue.ami"])
    big = tmp_path / "big.ami"
    with big.open("wb") as f:
        f.truncate(PROCESS_FROM_BYTES)
    assert _worth_a_process([big])
    half = tmp_path / "half.ami"
    with half.open("wb") as f:
        f.truncate(PROCESS_FROM_BYTES // 2)
    assert not _worth_a_process([half])
    assert _worth_a_process([half, half])  # together
    packed = tmp_path / "small.ami.gz"  # compressed: about five times as many frames
    with packed.open("wb") as f:
        f.truncate(PROCESS_FROM_BYTES // 4)
    assert _worth_a_process([packed])
    assert not _worth_a_process([tmp_path / "missing.ami"])
