"""The writer process stores exactly what the in-process writer stores, survives being killed,
reports failures, and does not keep what it inherited (signals, sockets, SQLite state)."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
from collections.abc import Sequence
from pathlib import Path

import pytest
from sqlalchemy import Connection, func, select

from tests.helpers import FIXTURES
from tracker.events.envelope import Envelope
from tracker.prestart import (
    PRESTART_FROM_BYTES,
    PROCESS_FROM_BYTES,
    Prestarted,
    prestart,
)
from tracker.replay import capture_batches, plan_import
from tracker.state import Change
from tracker.store import Batch, BatchWriter, Session, Snapshot, SnapshotPolicy, migrate, open_store
from tracker.store.models import default_projections
from tracker.store.writer_process import (
    WriterFailed,
    WriterProcess,
    fork_is_safe,
    serve_prestarted,
)

from .test_reporting import table_contents

CAPTURE = FIXTURES / "queue.ami"


def _batches(url: str) -> list[Batch]:
    with open_store(url) as store:
        plan = plan_import(store, store.ensure_server("pbx").id, CAPTURE)
    return list(capture_batches(CAPTURE, plan, SnapshotPolicy(every_frames=150), batch_frames=200))


Rows = list[tuple[object, ...]]


def _stored(url: str) -> tuple[bytes, dict[str, Rows], Rows]:
    with open_store(url) as store:
        info = store.server("pbx")
        raw = b"".join(b"".join(r) for _, _, r in store.iter_raw(info.id))
        skip = ("id", "call_id", "session_id")
        tables = table_contents(store.engine, server_id=info.id, skip=skip)
        with store.engine.connect() as conn:
            rest = [
                *conn.execute(
                    select(Session.frames, Session.live_events, Session.stamped_events)
                ).all(),
                *conn.execute(select(Snapshot.seq, Snapshot.clock)).all(),
            ]
    return raw, tables, sorted(rest, key=repr)


def _reference(tmp_path: Path, batches: list[Batch]) -> tuple[object, ...]:
    url = f"sqlite:///{tmp_path / 'reference.sqlite'}"
    migrate.upgrade(url)
    with open_store(url) as store:
        writer = BatchWriter(
            store.engine, store.ensure_server("pbx").id, projections=default_projections()
        )
        for i in range(0, len(batches), 2):
            writer.write(batches[i : i + 2])
    return _stored(url)


def _server_id(url: str) -> int:
    with open_store(url) as store:
        return store.ensure_server("pbx").id


def test_the_child_stores_what_the_writer_in_this_process_stores(
    store_url: str, tmp_path: Path
) -> None:
    batches = _batches(store_url)
    assert fork_is_safe(store_url)  # nothing of this process holds the database open
    with WriterProcess(store_url, projections=default_projections()) as writer:
        assert writer.in_child and writer.pid != os.getpid()
        writer.server_id = _server_id(store_url)
        written = sum(writer.write(batches[i : i + 2]).written for i in range(0, len(batches), 2))
        assert written == writer.frames_written == sum(len(b.frames) for b in batches)
        # the same batches again: stored once (idempotent by offset, in the child too)
        again = writer.write(batches)
        assert again.written == 0 and again.skipped == written
    assert _stored(store_url) == _reference(tmp_path, batches)


def test_a_killed_child_loses_nothing(store_url: str, tmp_path: Path) -> None:
    batches = _batches(store_url)
    with WriterProcess(store_url, projections=default_projections()) as writer:
        writer.server_id = _server_id(store_url)
        writer.write(batches[:3])
        pid = writer.pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        with pytest.raises(WriterFailed, match="SIGKILL") as failed:
            writer.write(batches[3:5])
        assert failed.value.transient
        # the next write goes on where the database stands (from the batch that failed)
        writer.write(batches[3:])
    assert _stored(store_url) == _reference(tmp_path, batches)


def test_sqlite_held_open_here_is_written_from_this_process(tmp_path: Path) -> None:
    """A fork would share SQLite's per-file lock state with this process: not done."""
    url = f"sqlite:///{tmp_path / 'held.sqlite'}"
    migrate.upgrade(url)
    batches = _batches(url)
    with open_store(url) as holder, holder.engine.connect() as conn:
        conn.execute(select(func.count()).select_from(Session)).scalar_one()
        assert not fork_is_safe(url)
        with WriterProcess(url, projections=default_projections()) as writer:
            assert not writer.in_child and writer.pid is None
            writer.server_id = holder.ensure_server("pbx").id
            for i in range(0, len(batches), 2):
                writer.write(batches[i : i + 2])
    assert _stored(url) == _reference(tmp_path, batches)


def test_a_failure_in_the_child_is_reported_and_nothing_is_committed(
    store_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(
        conn: Connection,
        *,
        server_id: int,
        session_id: int,
        envelopes: Sequence[Envelope],
        changes: Sequence[Change],
    ) -> None:
        raise RuntimeError("projection bug")

    batches = _batches(store_url)
    with WriterProcess(store_url, projections=[broken]) as writer:
        writer.server_id = _server_id(store_url)
        with caplog.at_level(logging.ERROR), pytest.raises(WriterFailed) as failed:
            writer.write(batches[:2])
        assert str(failed.value) == "RuntimeError: projection bug"
        assert not failed.value.transient
        assert "raise RuntimeError" in caplog.text  # the child's traceback, logged here
    with open_store(store_url) as store:
        assert store.server("pbx").next_seq == 0


def test_the_child_ignores_interrupts_and_keeps_no_inherited_socket(store_url: str) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    batches = _batches(store_url)
    with WriterProcess(store_url, projections=default_projections()) as writer:
        assert writer.in_child
        writer.wait_ready()  # it has let go of what it inherited
        listener.close()
        with pytest.raises(ConnectionRefusedError):  # the child did not keep it open
            socket.create_connection(("127.0.0.1", port), timeout=5).close()
        pid = writer.pid
        assert pid is not None
        os.kill(pid, signal.SIGINT)  # Ctrl-C reaches the whole process group
        os.kill(pid, signal.SIGTERM)
        writer.server_id = _server_id(store_url)
        assert writer.write(batches).written == sum(len(b.frames) for b in batches)
        assert writer.pid == pid


def test_a_child_that_never_gets_ready_is_a_failed_start(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fork does not wait for the child's handshake (the store opens meanwhile): a child
    that dies before it is a writer that did not start, said by ``wait_ready``, and a later
    write forks a new one."""
    from tracker.store import writer_process

    batches = _batches(store_url)
    monkeypatch.setattr(writer_process, "_detach", lambda keep: os._exit(3))
    writer = WriterProcess(store_url, projections=default_projections())
    try:
        assert _in_child(writer)
        with pytest.raises(WriterFailed, match="did not start") as failed:
            writer.wait_ready()
        assert failed.value.transient
        assert not _in_child(writer)
        monkeypatch.undo()
        writer.server_id = _server_id(store_url)
        assert writer.write(batches).written == sum(len(b.frames) for b in batches)
        assert _in_child(writer)
    finally:
        writer.close()


def test_a_program_that_never_closes_its_writer_still_exits(tmp_path: Path) -> None:
    import subprocess
    import sys

    url = f"sqlite:///{tmp_path / 'left.sqlite'}"
    migrate.upgrade(url)
    script = (
        "from tracker.store.writer_process import WriterProcess\n"
        f"w = WriterProcess({url!r})\n"
        "print(w.pid, w.in_child, flush=True)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    pid, in_child = done.stdout.split()
    assert in_child == "True"
    with pytest.raises(ProcessLookupError):  # the child went with it (reaped, not left behind)
        os.kill(int(pid), 0)


def _awaiting(writer: WriterProcess) -> bool:
    return writer.awaiting


def _in_child(writer: WriterProcess) -> bool:
    return writer.in_child


def test_a_request_is_answered_when_its_descriptor_is_readable(
    store_url: str, tmp_path: Path
) -> None:
    """The event loop's way: send, wait for the descriptor, take the answer (no thread)."""
    import select as select_module

    batches = _batches(store_url)
    with WriterProcess(store_url, projections=default_projections()) as writer:
        writer.server_id = _server_id(store_url)
        assert writer.request(batches[:2])
        assert _awaiting(writer)
        with pytest.raises(RuntimeError, match="answer"):
            writer.request(batches[2:4])  # one request at a time
        readable, _, _ = select_module.select([writer.reply_fileno()], [], [], 30)
        assert readable
        first = writer.take_reply()
        assert not _awaiting(writer)
        assert first.written == sum(len(b.frames) for b in batches[:2])
        # an answer not taken yet is taken (and counted) before the next write
        assert writer.request(batches[2:4])
        rest = writer.write(batches[4:])
        assert not _awaiting(writer)
        assert writer.frames_written == sum(len(b.frames) for b in batches)
        assert rest.written == sum(len(b.frames) for b in batches[4:])
    assert _stored(store_url) == _reference(tmp_path, batches)


def test_a_request_larger_than_the_shared_memory_goes_down_the_pipe(
    store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from multiprocessing.connection import Connection as Pipe

    from tracker.store import writer_process

    batches = _batches(store_url)
    sizes = [len(b"".join(f.raw for f in b.frames)) for b in batches]
    # one batch's request fits, two batches' do not
    monkeypatch.setattr(writer_process, "SHARED_BYTES", max(sizes) * 3 // 2)
    sent: list[int] = []
    send_bytes = Pipe.send_bytes

    def spy(self: Pipe, buf: bytes | bytearray, *args: int) -> None:
        sent.append(len(buf))
        send_bytes(self, buf, *args)

    monkeypatch.setattr(Pipe, "send_bytes", spy)
    with WriterProcess(store_url, projections=default_projections()) as writer:
        writer.server_id = _server_id(store_url)
        writer.write(batches[:1])
        for i in range(1, len(batches), 2):
            writer.write(batches[i : i + 2])
    assert sent[0] < 16  # the first request went by the shared memory (a short note)
    assert max(sent) > writer_process.SHARED_BYTES  # a later one down the pipe itself
    assert _stored(store_url) == _reference(tmp_path, batches)


def test_a_stopped_writer_writes_nothing_more(store_url: str) -> None:
    batches = _batches(store_url)
    writer = WriterProcess(store_url, projections=default_projections())
    writer.server_id = _server_id(store_url)
    writer.write(batches[:1])
    process = writer._process
    writer.stop()  # the child exits by itself
    assert not writer.in_child
    with pytest.raises(WriterFailed, match="stopped") as failed:
        writer.write(batches[1:2])
    assert not failed.value.transient
    writer.close()
    assert process is not None and process.exitcode == 0
    with open_store(store_url) as store:
        assert store.server("pbx").next_seq == len(batches[0].frames)


def test_a_child_that_cannot_connect_says_so_at_its_first_write(tmp_path: Path) -> None:
    """Its warm-up (connecting before the first request) keeps quiet; the write reports."""
    url = f"sqlite:///{tmp_path / 'gone' / 'db.sqlite'}"  # the directory does not exist
    good = f"sqlite:///{tmp_path / 'ok.sqlite'}"
    migrate.upgrade(good)
    batches = _batches(good)
    with WriterProcess(url, projections=default_projections()) as writer:
        assert writer.in_child
        writer.server_id = 1
        with pytest.raises(WriterFailed) as failed:
            writer.write(batches[:1])
        assert str(failed.value) == f"cannot open the SQLite file (missing directory?) ({url})"
        assert failed.value.transient  # the live persister retries it


def test_the_child_checkpoints_sqlite_between_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once it has answered and nothing waits, the child copies the write-ahead log into the
    database file: its close (or ours) then finds little to do. Seen from outside as the
    database file growing while the child still runs (the log alone holds new pages until a
    checkpoint; SQLite's own comes only at 1000 pages)."""
    import time

    from tracker.store import writer_process

    url = f"sqlite:///{tmp_path / 'wal.sqlite'}"
    migrate.upgrade(url)
    batches = _batches(url)
    server_id = _server_id(url)
    database = tmp_path / "wal.sqlite"
    before = database.stat().st_size
    frames = sum(len(b.frames) for b in batches)
    monkeypatch.setattr(writer_process, "CHECKPOINT_FRAMES", frames)  # the child inherits it
    with WriterProcess(url, projections=default_projections()) as writer:
        writer.server_id = server_id
        writer.write(batches[: len(batches) // 2])
        assert database.stat().st_size == before  # not yet: fewer frames than the threshold
        writer.write(batches[len(batches) // 2 :])
        deadline = time.monotonic() + 30
        while database.stat().st_size == before and time.monotonic() < deadline:
            time.sleep(0.01)
        assert database.stat().st_size > before
        assert (tmp_path / "wal.sqlite-wal").exists()  # the child's connection is still open
    assert _stored(url) == _reference(tmp_path, batches)


def test_a_writer_takes_over_a_prestarted_child(store_url: str, tmp_path: Path) -> None:
    """``ami-tracker import`` forks its writer before loading anything heavy
    (:mod:`tracker.prestart`): the writer process takes that child instead of forking one."""
    batches = _batches(store_url)  # its store is closed again: nothing of it is inherited
    pre = prestart(store_url, serve_prestarted)
    assert pre is not None and pre.process.is_alive()
    with WriterProcess(store_url, projections=default_projections(), prestarted=pre) as writer:
        assert pre.taken and writer.in_child and writer.pid == pre.process.pid
        writer.server_id = _server_id(store_url)
        for i in range(0, len(batches), 2):
            writer.write(batches[i : i + 2])
    assert not pre.process.is_alive()
    pre.discard()  # taken: nothing to do
    assert _stored(store_url) == _reference(tmp_path, batches)


@pytest.mark.parametrize("other", ["database", "projections", "block size"])
def test_a_prestarted_child_for_another_writer_is_stopped(tmp_path: Path, other: str) -> None:
    url = f"sqlite:///{tmp_path / 'mine.sqlite'}"
    migrate.upgrade(url)
    pre = prestart(
        f"sqlite:///{tmp_path / 'other.sqlite'}" if other == "database" else url, serve_prestarted
    )
    assert pre is not None
    options: dict[str, object] = {"projections": default_projections()}
    if other == "projections":
        options["projections"] = ()
    if other == "block size":
        options["block_frames"] = 100
    with WriterProcess(url, prestarted=pre, **options) as writer:  # type: ignore[arg-type]
        assert pre.taken and not pre.process.is_alive()  # stopped
        assert writer.in_child and writer.pid != pre.process.pid  # forked its own
        writer.server_id = _server_id(url)
        assert writer.write(_batches(url)[:2]).written > 0
    other_file = tmp_path / "other.sqlite"
    if other_file.exists():  # the stopped child may have connected (SQLite makes the file)
        import sqlite3

        with contextlib.closing(sqlite3.connect(other_file)) as db:
            tables = db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
        assert tables == 0  # it wrote nothing there


def test_the_import_command_takes_its_prestarted_writer(
    tmp_path: Path, prestarted: list[Prestarted], capsys: pytest.CaptureFixture[str]
) -> None:
    """A capture large enough for a writer process: the command forks it first, and the import
    writes through that child (a small one gets none)."""
    from tracker.cli import main

    made = prestarted
    url = f"sqlite:///{tmp_path / 'import.sqlite'}"
    migrate.upgrade(url)
    assert main(["import", str(FIXTURES / "load.ami.gz"), "--db", url, "--quiet"]) == 0
    assert len(made) == 1 and made[0].taken and not made[0].process.is_alive()
    assert "30813 frames: 30813 written" in capsys.readouterr().err
    assert CAPTURE.stat().st_size < PRESTART_FROM_BYTES
    assert main(["import", str(CAPTURE), "--db", url, "--quiet"]) == 0
    assert len(made) == 1  # no writer process for a small capture
    # one above PRESTART_FROM_BYTES, far below PROCESS_FROM_BYTES: prestarted too
    middle = tmp_path / "middle.ami"
    middle.write_bytes(CAPTURE.read_bytes() * 3)
    assert PRESTART_FROM_BYTES <= middle.stat().st_size < PROCESS_FROM_BYTES
    assert main(["import", str(middle), "--db", url, "--quiet"]) == 0
    assert len(made) == 2 and made[1].taken and not made[1].process.is_alive()


def test_an_import_that_fails_stops_its_prestarted_writer(
    tmp_path: Path, prestarted: list[Prestarted], capsys: pytest.CaptureFixture[str]
) -> None:
    from tracker.cli import main

    made = prestarted
    url = f"sqlite:///{tmp_path / 'never-upgraded.sqlite'}"
    assert main(["import", str(FIXTURES / "load.ami.gz"), "--db", url, "--quiet"]) == 1
    assert "ami-tracker db upgrade" in capsys.readouterr().err
    assert len(made) == 1 and made[0].taken and not made[0].process.is_alive()


def test_no_prestarted_writer_on_one_core(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """On one core the child would load its modules on the core the command needs for its
    own: the writer is forked later instead (and shares them)."""
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: {0})
    assert prestart(f"sqlite:///{tmp_path / 'x.sqlite'}", serve_prestarted) is None
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: {0, 1})
    pre = prestart(f"sqlite:///{tmp_path / 'x.sqlite'}", serve_prestarted)
    assert pre is not None
    pre.discard()
    assert pre.taken and not pre.process.is_alive()
