"""Reading the log ahead in a worker thread: same items in the same order, errors raised to
the reader, a reader that stops early stops the worker; on SQLite and PostgreSQL the
prefetched replay gives exactly the envelopes of the plain one."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import msgspec
import pytest

from tests.helpers import FIXTURES
from tracker.replay import import_capture, iter_envelopes
from tracker.store import open_store
from tracker.store import store as store_module
from tracker.store.prefetch import prefetched


def test_items_come_in_order_and_errors_in_their_place() -> None:
    def numbers() -> Iterator[int]:
        yield from range(50)
        raise ValueError("broken at 50")

    got: list[int] = []
    with pytest.raises(ValueError, match="broken at 50"):
        got.extend(prefetched(numbers, 3))
    assert got == list(range(50))


def test_a_reader_that_stops_early_stops_the_worker() -> None:
    made: list[int] = []

    def endless() -> Iterator[int]:
        n = 0
        while True:
            made.append(n)
            yield n
            n += 1

    items = prefetched(endless, 2)
    assert [next(items) for _ in range(5)] == [0, 1, 2, 3, 4]
    items.close()  # type: ignore[attr-defined]
    assert not any(t.name == "store-prefetch" for t in threading.enumerate())
    assert len(made) <= 5 + 2 + 2  # read, queued, and the one at hand when told to stop


def test_prefetched_replay_equals_the_plain_one(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    capture = FIXTURES / "load.ami.gz"
    with open_store(store_url) as store:
        import_capture(store, capture, server="pbx")
        monkeypatch.setattr(store_module, "PREFETCH_FROM", 10**12)
        plain = list(store.iter_envelopes("pbx", last=10**11))
        monkeypatch.setattr(store_module, "PREFETCH_FROM", 0)
        ahead = list(store.iter_envelopes("pbx"))
        middle = list(store.iter_envelopes("pbx", first=5000, last=20000))
    expected = list(iter_envelopes(capture))
    assert len(plain) == len(ahead) == len(expected)
    for a, b, c in zip(plain, ahead, expected, strict=True):
        assert (a.seq, a.list_item, a.problem) == (b.seq, b.list_item, b.problem)
        assert (a.seq, a.list_item, a.problem) == (c.seq, c.list_item, c.problem)
        assert msgspec.to_builtins(a.item) == msgspec.to_builtins(b.item)
        assert msgspec.to_builtins(a.item) == msgspec.to_builtins(c.item)
    assert [e.seq for e in middle] == list(range(5000, 20001))
