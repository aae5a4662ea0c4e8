"""``world_at`` holds the garbage collector off while it works and leaves it as it found it
(on, off, after an error, with holds overlapping in threads); a long fold runs with it on."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import FIXTURES
from tracker.replay import import_capture
from tracker.store import SnapshotPolicy, Store, open_store
from tracker.store import store as store_module
from tracker.store.gcpause import CollectorHold


@pytest.fixture
def gc_restored() -> Iterator[None]:
    """The test may switch the collector off: it is on again afterwards."""
    try:
        yield
    finally:
        gc.enable()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    from tracker.store import migrate

    url = f"sqlite:///{tmp_path / 'store.sqlite'}"
    migrate.upgrade(url)
    with open_store(url) as opened:
        import_capture(
            opened, FIXTURES / "queue.ami", server="pbx", policy=SnapshotPolicy(every_frames=100)
        )
        yield opened


def _spy(monkeypatch: pytest.MonkeyPatch, store: Store, name: str, seen: list[bool]) -> None:
    """Record ``gc.isenabled()`` each time ``store.<name>`` is called."""
    original = getattr(store, name)

    def spy(*args: Any, **kwargs: Any) -> Any:
        seen.append(gc.isenabled())
        return original(*args, **kwargs)

    monkeypatch.setattr(store, name, spy)


def test_world_at_holds_the_collector_and_restores_it(
    store: Store, monkeypatch: pytest.MonkeyPatch, gc_restored: None
) -> None:
    seen: list[bool] = []
    _spy(monkeypatch, store, "_start", seen)
    _spy(monkeypatch, store, "_envelopes", seen)
    end = store.server("pbx").next_seq
    assert end > 300
    got = store.world_at("pbx", seq=end // 2)
    assert got.folded > 0  # the fold ran, with the collector off
    assert seen == [False, False]
    assert gc.isenabled()

    gc.disable()  # a caller that runs without the collector keeps it off
    store.world_at("pbx", seq=end // 3)
    assert not gc.isenabled()


def test_world_at_restores_the_collector_after_an_error(
    store: Store, monkeypatch: pytest.MonkeyPatch, gc_restored: None
) -> None:
    def broken(*args: Any) -> Any:
        assert not gc.isenabled()
        raise RuntimeError("snapshot query failed")

    monkeypatch.setattr(store, "_start", broken)
    with pytest.raises(RuntimeError, match="snapshot query failed"):
        store.world_at("pbx", seq=10)
    assert gc.isenabled()


def test_a_long_fold_runs_with_the_collector_on(
    store: Store, monkeypatch: pytest.MonkeyPatch, gc_restored: None
) -> None:
    seen: list[bool] = []
    _spy(monkeypatch, store, "_envelopes", seen)
    monkeypatch.setattr(store_module, "HOLD_COLLECTOR_UP_TO", 10)
    got = store.world_at("pbx", seq=store.server("pbx").next_seq // 2)
    assert got.folded > 10
    assert seen == [True]
    assert gc.isenabled()


def test_overlapping_holds_restore_once_the_last_ends(gc_restored: None) -> None:
    first, second = CollectorHold(), CollectorHold()
    with first:
        assert not gc.isenabled()
        second.__enter__()
        first.release()
        first.release()  # idempotent: it does not end the other hold
        assert not gc.isenabled()
        second.release()
        assert gc.isenabled()
    assert gc.isenabled()  # leaving the block after release changes nothing


def test_holds_in_threads(gc_restored: None) -> None:
    inside = threading.Barrier(2)
    states: list[bool] = []

    def read() -> None:
        with CollectorHold():
            inside.wait(timeout=10)
            states.append(gc.isenabled())
            inside.wait(timeout=10)  # both still inside

    threads = [threading.Thread(target=read) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=20)
    assert states == [False, False]
    assert gc.isenabled()
