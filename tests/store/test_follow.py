"""``Follower``: a reader that folds what a writer adds to the log keeps the World the store
rebuilds at the same seq (and the writer's own fold), across pruning and a replaced log."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import FIXTURES
from tracker.errors import StoreError
from tracker.reducer import Reducer
from tracker.replay import capture_batches, import_capture, iter_envelopes, plan_import
from tracker.state import encode_world
from tracker.store import Batch, BatchWriter, Follower, SnapshotPolicy, Store, open_store
from tracker.store.follow import writer_state

CAPTURE = FIXTURES / "transfers.ami"


def _batches(store: Store, server: str, capture: Path, batch_frames: int) -> Iterator[Batch]:
    info = store.ensure_server(server)
    plan = plan_import(store, info.id, capture)
    policy = SnapshotPolicy(every_frames=250, last_seq=plan.session.first_seq - 1)
    return capture_batches(capture, plan, policy, batch_frames=batch_frames)


def _reference(capture: Path) -> list[bytes]:
    """The World after every frame of ``capture``, folded in one go (the writer's World)."""
    reducer = Reducer()
    return [encode_world(reducer.fold([env])) for env in iter_envelopes(capture)]


def test_polling_folds_the_world_the_store_rebuilds(store_url: str) -> None:
    reference = _reference(CAPTURE)
    with open_store(store_url) as store:
        batches = _batches(store, "pbx", CAPTURE, batch_frames=97)
        writer = BatchWriter(store.engine, store.server("pbx").id, block_frames=200)
        follower = Follower(store)
        started = follower.start()  # the server exists, nothing written yet
        assert (started.seq, follower.seq) == (-1, -1)
        assert follower.apply(follower.fetch()) == 0
        written = -1
        polls = 0
        for batch in batches:
            writer.write([batch])
            if batch.envelopes:
                written = batch.envelopes[-1].seq
            if batch.snapshot is None and polls % 3 == 2:  # sometimes two batches per poll
                polls += 1
                continue
            polls += 1
            update = follower.fetch()
            assert update.restart is None and update.writer.next_seq == written + 1
            assert [e.seq for e in update.envelopes] == list(range(follower.seq + 1, written + 1))
            follower.apply(update)
            assert follower.seq == written
            assert encode_world(follower.world) == reference[written], f"after seq {written}"
            rebuilt = store.world_at("pbx", seq=written)
            assert encode_world(rebuilt.world) == encode_world(follower.world)
        assert follower.seq == len(reference) - 1
        assert follower.folded == len(reference)
        assert follower.restarts == 0
        state = writer_state(store, store.server("pbx"))
        assert state.source == "import" and state.sessions == 1
        assert state.disconnected_at is not None and state.disconnect_reason == "logoff"
        assert state.holder is None  # an import holds no lease once done


def test_a_follower_far_behind_catches_up_in_bounded_fetches(sqlite_url: str) -> None:
    from tracker.store import migrate

    migrate.upgrade(sqlite_url)
    reference = _reference(CAPTURE)
    with open_store(sqlite_url) as store:
        follower = Follower(store, "pbx")
        store.ensure_server("pbx")
        follower.start()
        import_capture(store, CAPTURE, server="pbx")
        sizes = []
        while (update := follower.fetch(limit=300)).envelopes:
            sizes.append(len(update.envelopes))
            follower.apply(update)
        assert sizes[:-1] == [300] * (len(sizes) - 1) and sum(sizes) == len(reference)
        assert encode_world(follower.world) == reference[-1]


def test_a_pruned_log_starts_over_at_its_end(store_url: str) -> None:
    with open_store(store_url) as store:
        batches = list(_batches(store, "pbx", CAPTURE, batch_frames=100))
        info = store.server("pbx")
        writer = BatchWriter(store.engine, info.id, block_frames=100)
        writer.write(batches[:2])
        follower = Follower(store)
        follower.start()
        behind = follower.seq
        writer.write(batches[2:])
        end = store.world_at("pbx")
        result = store.prune(info.id, before=end.world.clock + 1)
        assert result.kept_from is not None and result.kept_from > behind + 1
        update = follower.fetch()
        assert update.restart is not None and "pruned" in update.reason
        follower.apply(update)
        assert follower.seq == end.seq and follower.restarts == 1
        assert encode_world(follower.world) == encode_world(end.world)
        assert follower.apply(follower.fetch()) == 0  # and it follows on from there


def test_a_replaced_log_starts_over(tmp_path: Path) -> None:
    from tracker.store import migrate

    url = f"sqlite:///{tmp_path / 'calls.sqlite'}"
    migrate.upgrade(url)
    with open_store(url) as store:
        import_capture(store, CAPTURE, server="pbx")
        follower = Follower(store)
        follower.start()
    (tmp_path / "calls.sqlite").unlink()
    migrate.upgrade(url)
    small = FIXTURES / "basic.ami"
    with open_store(url) as store:
        import_capture(store, small, server="pbx")
        follower.store = store
        update = follower.fetch()
        assert update.restart is not None and "log now ends at seq" in update.reason
        follower.apply(update)
        assert encode_world(follower.world) == encode_world(store.world_at("pbx").world)


def test_which_server(store_url: str) -> None:
    with open_store(store_url) as store:
        with pytest.raises(StoreError, match="holds no server yet"):
            Follower(store).fetch()
        import_capture(store, FIXTURES / "basic.ami", server="pbx1")
        import_capture(store, FIXTURES / "queue.ami", server="pbx2")
        with pytest.raises(StoreError, match=r"several servers \(pbx1, pbx2\): pick one"):
            Follower(store).start()
        with pytest.raises(StoreError, match=r"no server 'pbx3' .*\(known: pbx1, pbx2\)"):
            Follower(store, "pbx3").start()
        follower = Follower(store, "pbx2")
        follower.start()
        assert encode_world(follower.world) == encode_world(store.world_at("pbx2").world)
