"""Several captures in one server's log, a capture that grew, and a batch written twice."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, func, select, text, update

from tests.helpers import FIXTURES
from tracker.capture import read_bytes
from tracker.errors import StoreError
from tracker.events.envelope import Envelope
from tracker.replay import capture_batches, import_capture, plan_import, replay
from tracker.state import Change, encode_world
from tracker.store import BatchWriter, Session, Snapshot, SnapshotPolicy, open_store
from tracker.store.schema import FrameBlock

PATHS = [FIXTURES / "basic.ami", FIXTURES / "queue.ami", FIXTURES / "reconnect.ami"]


def test_captures_follow_each_other_in_one_server(store_url: str) -> None:
    with open_store(store_url) as store:
        for path in PATHS:
            import_capture(store, path, server="pbx", policy=SnapshotPolicy(every_frames=200))
        expected = replay(PATHS)
        got = store.world_at("pbx")
        assert got.seq == expected.events - 1
        assert encode_world(got.world) == encode_world(expected.world)
        sessions = store.sessions(store.server("pbx").id)
        assert [s.frames for s in sessions] == [replay(p).events for p in PATHS]
        assert [s.first_seq for s in sessions] == [
            0,
            sessions[0].frames,
            sum(s.frames for s in sessions[:2]),
        ]
        with store.engine.connect() as conn:
            rows = conn.execute(
                select(
                    Session.source,
                    Session.disconnect_reason,
                    Session.connected_at,
                    Session.disconnected_at,
                    Session.first_time,
                    Session.last_time,
                ).order_by(Session.first_seq)
            ).all()
        for row in rows:
            assert row.source == "import" and row.disconnect_reason == "logoff"
            assert row.connected_at is not None and row.disconnected_at is not None
            assert row.connected_at <= row.disconnected_at
            assert 0 < row.first_time <= row.last_time
        # importing the first one again changes nothing
        assert import_capture(store, PATHS[0], server="pbx").written == 0
        assert store.server("pbx").next_seq == expected.events
        # a second server has its own numbering
        import_capture(store, PATHS[1], server="other")
        assert store.server("other").next_seq == replay(PATHS[1]).events
        assert store.world_at("other").seq == replay(PATHS[1]).events - 1


def test_a_capture_that_grew_adds_only_its_tail(store_url: str, tmp_path: Path) -> None:
    data = read_bytes(FIXTURES / "queue.ami")
    cut = data.index(b"\r\n\r\n", len(data) // 2) + 4
    growing = tmp_path / "growing.ami"
    growing.write_bytes(data[:cut])
    with open_store(store_url) as store:
        head = import_capture(store, growing, server="pbx")
        growing.write_bytes(data)
        tail = import_capture(store, growing, server="pbx")
        assert head.written + tail.written == replay(FIXTURES / "queue.ami").events
        assert tail.skipped == head.written
        got = store.world_at("pbx")
        assert encode_world(got.world) == encode_world(replay(FIXTURES / "queue.ami").world)
        raws = b"".join(b"".join(r) for _, _, r in store.iter_raw(store.server("pbx").id))
        assert raws == data


def test_a_batch_written_twice_is_stored_once(store_url: str) -> None:
    with open_store(store_url) as store:
        info = store.ensure_server("pbx")
        plan = plan_import(store, info.id, FIXTURES / "basic.ami")
        batches = list(
            capture_batches(FIXTURES / "basic.ami", plan, SnapshotPolicy(), batch_frames=10)
        )
        writer = BatchWriter(store.engine, info.id)
        writer.write(batches[:3])
        # a new writer (as after a restart) gets the first batches again, then the rest
        again = BatchWriter(store.engine, info.id)
        result = again.write(batches[:5])
        assert result.skipped == sum(len(b.frames) for b in batches[:3])
        again.write(batches[5:])
        assert encode_world(store.world_at("pbx").world) == encode_world(
            replay(FIXTURES / "basic.ami").world
        )
        # a batch after a gap is refused rather than stored out of place
        lone = BatchWriter(store.engine, store.ensure_server("gap").id)
        with pytest.raises(StoreError, match="missing"):
            lone.write([batches[2]._replace(session=batches[2].session._replace(key="k"))])


def test_snapshots_of_another_fold_version_are_ignored(store_url: str) -> None:
    path = FIXTURES / "queue.ami"
    with open_store(store_url) as store:
        import_capture(store, path, server="pbx", policy=SnapshotPolicy(every_frames=100))
        expected = encode_world(replay(path).world)
        assert store.world_at("pbx").snapshot_seq is not None
        with store.engine.begin() as conn:
            conn.execute(update(Snapshot).values(fold_version="0-older"))
        got = store.world_at("pbx")
        assert got.snapshot_seq is None and got.folded == replay(path).events
        assert encode_world(got.world) == expected
        # an unreadable snapshot of this version is skipped for an earlier one
        import_capture(store, path, server="other", policy=SnapshotPolicy(every_frames=100))
        other = store.server("other").id
        with store.engine.begin() as conn:
            newest = conn.execute(
                select(func.max(Snapshot.seq)).where(Snapshot.server_id == other)
            ).scalar_one()
            conn.execute(
                update(Snapshot)
                .where(Snapshot.server_id == other, Snapshot.seq == newest)
                .values(data=b"garbage")
            )
        got = store.world_at("other")
        assert got.snapshot_seq is not None and got.snapshot_seq < newest
        assert encode_world(got.world) == expected


def test_projections_run_in_the_frames_transaction(store_url: str) -> None:
    """A projection sees each new frame once with the changes it caused; if it fails, the
    frames of that transaction are not stored either (never ahead of or behind the log)."""
    path = FIXTURES / "queue.ami"
    seen: list[int] = []
    caused: list[int] = []

    def record(
        conn: Connection,
        *,
        server_id: int,
        session_id: int,
        envelopes: Sequence[Envelope],
        changes: Sequence[Change],
    ) -> None:
        assert conn.execute(text("SELECT count(*) FROM sessions")).scalar_one() >= 1
        seen.extend(e.seq for e in envelopes)
        caused.extend(c.seq for c in changes)

    def failing(
        conn: Connection,
        *,
        server_id: int,
        session_id: int,
        envelopes: Sequence[Envelope],
        changes: Sequence[Change],
    ) -> None:
        raise RuntimeError("projection bug")

    with open_store(store_url) as store:
        info = store.ensure_server("pbx")
        plan = plan_import(store, info.id, path)
        batches = list(capture_batches(path, plan, SnapshotPolicy(), batch_frames=100))
        with pytest.raises(RuntimeError):
            BatchWriter(store.engine, info.id, projections=[failing]).write(batches[:2])
        assert store.server("pbx").next_seq == 0
        writer = BatchWriter(store.engine, info.id, projections=[record])
        writer.write(batches[:3])
        writer.write(batches[1:])  # overlapping: the repeated frames are not projected again
    expected = replay(path)
    assert seen == list(range(expected.events))
    assert len(caused) == sum(expected.changes.values())
    assert caused == sorted(caused)


def test_anomalies_and_untimed_sessions_are_kept(store_url: str, tmp_path: Path) -> None:
    """Anomalies the fold recorded are rows (replay --db counts them by kind without folding
    from the start); a session without Timestamp headers says durations are unknown."""
    data = read_bytes(FIXTURES / "basic.ami")
    lines = data.split(b"\r\n")
    stamped = [i for i, line in enumerate(lines) if line.startswith(b"Timestamp: ")]
    lines[stamped[5]] = b"Timestamp: 9999999999.000000"  # a far-future outlier
    odd = b"\r\n".join(lines)
    cut = odd.index(b"\r\n\r\n", len(odd) // 2) + 4
    odd = odd[:cut] + b"this is no AMI frame\r\n\r\n" + odd[cut:]
    weird = tmp_path / "weird.ami"
    weird.write_bytes(odd)
    untimed = tmp_path / "untimed.ami"
    untimed.write_bytes(
        b"\r\n".join(ln for ln in data.split(b"\r\n") if not ln.startswith(b"Timestamp: "))
    )
    expected = Counter(a.kind for a in replay(weird).anomalies)
    assert sum(expected.values()) >= 2
    with open_store(store_url) as store:
        import_capture(store, weird, server="pbx")
        sid = store.server("pbx").id
        assert store.anomaly_kinds(sid) == dict(expected)
        first = min(a.seq for a in replay(weird).anomalies)
        assert store.anomaly_kinds(sid, first - 1) == {}
        assert store.durations_known(sid)
        import_capture(store, untimed, server="untimed")
        assert not store.durations_known(store.server("untimed").id)
        import_capture(store, FIXTURES / "md5_login.fail.ami", server="nolive")
        assert store.durations_known(store.server("nolive").id)


def test_rows_do_not_depend_on_how_batches_are_grouped(store_url: str) -> None:
    """The writer updates a session's row once per transaction (the batches without notes
    summed up): the row ends up as when each batch is its own transaction, also with a batch
    carrying notes in the middle of a transaction (written in order). Blocks (short ones
    rewritten by later transactions, several inserted by one statement, queue.ami's 124 in
    one transaction by two) and snapshots are the same bytes too."""
    columns = (
        Session.first_seq,
        Session.frames,
        Session.first_time,
        Session.last_time,
        Session.live_events,
        Session.stamped_events,
        Session.connected_at,
        Session.disconnected_at,
        Session.disconnect_reason,
    )
    got: dict[int, list[tuple[Any, ...]]] = {}
    stored: dict[int, tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]] = {}
    with open_store(store_url) as store:
        for group in (1, 3, 1000):
            server = store.ensure_server(f"pbx{group}").id
            writer = BatchWriter(store.engine, server, block_frames=7)
            for path in PATHS:
                plan = plan_import(store, server, path)
                batches = list(
                    capture_batches(path, plan, SnapshotPolicy(every_frames=30), batch_frames=16)
                )
                assert len(batches) > 6
                middle = batches[4]  # frames and notes: the writer flushes the row first
                batches[4] = middle._replace(
                    notes={"disconnect_reason": f"cut {len(middle.frames)}"}
                )
                for i in range(0, len(batches), group):
                    writer.write(batches[i : i + group])
            with store.engine.connect() as conn:
                query = select(*columns).where(Session.server_id == server)
                got[group] = [tuple(row) for row in conn.execute(query.order_by(Session.first_seq))]
                blocks = select(
                    FrameBlock.first_seq,
                    FrameBlock.last_seq,
                    FrameBlock.first_offset,
                    FrameBlock.frame_count,
                    FrameBlock.first_time,
                    FrameBlock.last_time,
                    FrameBlock.codec,
                    FrameBlock.data,
                ).where(FrameBlock.server_id == server)
                snapshots = select(Snapshot.seq, Snapshot.clock, Snapshot.data).where(
                    Snapshot.server_id == server
                )
                stored[group] = (
                    [tuple(r) for r in conn.execute(blocks.order_by(FrameBlock.first_seq))],
                    [tuple(r) for r in conn.execute(snapshots.order_by(Snapshot.seq))],
                )
    assert len(got[1]) == len(PATHS)
    assert all(frames > 0 and live > 0 for _, frames, _, _, live, *_ in got[1])
    assert got[3] == got[1]
    assert got[1000] == got[1]
    block_rows, snapshot_rows = stored[1]
    assert sum(b[3] for b in block_rows) == sum(row[1] for row in got[1])
    assert len(block_rows) > 10 and len(snapshot_rows) > 3
    assert stored[3] == stored[1]
    assert stored[1000] == stored[1]
