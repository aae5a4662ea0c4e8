"""A large import is written from a writer process, a small one from a thread."""

from __future__ import annotations

import gzip
from pathlib import Path

from tests.helpers import FIXTURES
from tracker.capture import expanded_size, read_bytes
from tracker.prestart import PROCESS_FROM_BYTES
from tracker.runtime.importing import _worth_a_process


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
    packed = tmp_path / "small.ami.gz"  # named .gz, but zeros: not gzip
    with packed.open("wb") as f:
        f.truncate(PROCESS_FROM_BYTES // 4)
    assert not _worth_a_process([packed])  # not gzip (no magic): its own size
    assert not _worth_a_process([tmp_path / "missing.ami"])


def test_a_gzip_capture_counts_as_large_as_it_expands(tmp_path: Path) -> None:
    """Its trailer says how large it expands: the load capture is 0.7 MB of gzip for 14 MB of
    AMI (its name's ``.gz`` counted five times 0.7 MB: a thread wrote it, 0.41 s against 0.28 s
    from a process)."""
    load = FIXTURES / "load.ami.gz"
    assert load.stat().st_size * 5 < PROCESS_FROM_BYTES
    assert expanded_size(load) == len(read_bytes(load))
    assert _worth_a_process([load])
    small = tmp_path / "queue.ami.gz"
    small.write_bytes(gzip.compress((FIXTURES / "queue.ami").read_bytes()))
    assert expanded_size(small) == (FIXTURES / "queue.ami").stat().st_size
    assert not _worth_a_process([small])
    # several members (``cat a.gz b.gz``): the last one's size
    two = tmp_path / "two.ami.gz"
    two.write_bytes(small.read_bytes() + small.read_bytes())
    assert expanded_size(two) == (FIXTURES / "queue.ami").stat().st_size
    # a trailer that states less than the file (a member past 4 GiB wraps): the file's size
    wrapped = tmp_path / "wrapped.ami.gz"
    wrapped.write_bytes(small.read_bytes()[:-4] + (100).to_bytes(4, "little"))
    assert expanded_size(wrapped) == wrapped.stat().st_size
    tiny = tmp_path / "tiny.ami.gz"
    tiny.write_bytes(b"\x1f\x8b")  # magic and nothing else: a plain size
    assert expanded_size(tiny) == 2
