"""The store's commands end to end on SQLite and PostgreSQL: db, import, replay --db, export,
events; and every bad input as one line on stderr with a non-zero exit."""

from __future__ import annotations

import gzip
import json
import os
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, event, text
from sqlalchemy.exc import OperationalError

from tests.helpers import FIXTURES
from tracker.capture import read_bytes
from tracker.cli import main
from tracker.errors import StoreError
from tracker.store import describe, migrate, open_store

CAPS = [FIXTURES / "queue.ami", FIXTURES / "transfers.ami"]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_db_commands(capsys: pytest.CaptureFixture[str], db_url: str) -> None:
    code, out, _ = run(capsys, "db", "current", "--db", db_url)
    assert code == 1 and "no schema" in out
    assert run(capsys, "db", "upgrade", "--db", db_url)[0] == 0
    code, out, _ = run(capsys, "db", "current", "--db", db_url)
    assert code == 0 and out.startswith(migrate.head()) and "up to date" in out
    assert run(capsys, "db", "downgrade", "--db", db_url, "base")[0] == 0
    assert run(capsys, "db", "current", "--db", db_url)[0] == 1
    code, _, err = run(capsys, "db", "downgrade", "--db", db_url, "nosuchrev")
    assert code == 1 and err.count("\n") == 1 and "Traceback" not in err


def test_import_then_replay_export_events(
    capsys: pytest.CaptureFixture[str], store_url: str, tmp_path: Path
) -> None:
    paths = [str(p) for p in CAPS]
    assert run(capsys, "import", *paths, "--db", store_url, "--server", "pbx", "--quiet")[0] == 0
    code, _, err = run(capsys, "import", *paths, "--db", store_url, "--server", "pbx", "--quiet")
    assert code == 0 and "0 written" in err
    # replay --db prints what replay CAPTURE prints for the same frames
    _, from_files, _ = run(capsys, "replay", *paths, "--json")
    _, from_db, _ = run(capsys, "replay", "--db", store_url, "--json")
    assert json.loads(from_db) == json.loads(from_files)
    _, first_only, _ = run(capsys, "replay", paths[0], "--json")
    n = json.loads(first_only)["frames"]
    _, at_seq, _ = run(capsys, "replay", "--db", store_url, "--json", "--at", str(n - 1))
    assert json.loads(at_seq) == json.loads(first_only)
    code, text_out, _ = run(capsys, "replay", "--db", store_url, "--at", "#10")
    assert code == 0 and "rebuilt from" in text_out
    # export: one file per session, each byte-identical to its capture
    out = tmp_path / "back.ami.gz"
    assert run(capsys, "export", "--db", store_url, "-o", str(out))[0] == 0
    for i, path in enumerate(CAPS, 1):
        with gzip.open(tmp_path / f"back.{i}.ami.gz") as f:
            assert f.read() == read_bytes(path)
    # the exported capture is accepted by the other commands
    _, again, _ = run(capsys, "replay", str(tmp_path / "back.1.ami.gz"), "--json")
    assert json.loads(again) == json.loads(first_only)
    # events of one call, as AMI and as JSON lines
    code, jsonl, _ = run(
        capsys, "events", "--db", store_url, "--call", "1795663854.0", "--format", "jsonl"
    )
    lines = [json.loads(line) for line in jsonl.splitlines()]
    assert code == 0 and len(lines) > 20
    assert all(  # the call's Linkedid, or a leg's Uniqueid (a Cdr event names only that)
        any(
            k.lower().endswith(("linkedid", "uniqueid")) and v.startswith("1795663854.")
            for k, v in ln["headers"].items()
        )
        for ln in lines
    )
    assert any(ln["headers"]["Event"] == "Cdr" for ln in lines)
    assert any(ln["headers"]["Event"] == "Hangup" for ln in lines)
    code, ami, _ = run(
        capsys, "events", "--db", store_url, "--channel", "1795663854.1", "--name", "Hangup"
    )
    assert code == 0 and ami.count("Event: Hangup\r\n") == 1 and "Uniqueid: 1795663854.1" in ami


def test_prune_keeps_what_is_needed(capsys: pytest.CaptureFixture[str], store_url: str) -> None:
    path = FIXTURES / "load.ami.gz"
    assert run(capsys, "import", str(path), "--db", store_url, "--quiet")[0] == 0
    _, full, _ = run(capsys, "replay", "--db", store_url, "--json")
    with open_store(store_url) as store:
        info = store.server()
        cut = store.world_at(seq=info.next_seq // 2).world.clock
    code, out, _ = run(capsys, "db", "prune", "--db", store_url, "--before", str(cut))
    assert code == 0 and "dropped" in out
    with open_store(store_url) as store:
        kept = store.first_stored_seq(store.server().id)
    assert kept is not None and 0 < kept <= info.next_seq // 2
    # the end of the log, and any point after the kept snapshot, are still there
    _, after, _ = run(capsys, "replay", "--db", store_url, "--json")
    assert json.loads(after) == json.loads(full)
    code, _, err = run(capsys, "replay", "--db", store_url, "--at", "5")
    assert code == 1 and "pruned" in err and err.count("\n") == 1


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["replay", "--db", "foo://x"], "unsupported database URL"),
        (["replay", "--db", "not a url"], "not a database URL"),
        (
            ["replay", "--db", "postgresql+psycopg://postgres:pw@127.0.0.1:1/x"],
            "refused the connection",
        ),
        (["events", "--db", "sqlite:////nonexistent/dir/x.sqlite", "--call", "1"], "cannot open"),
    ],
)
def test_bad_database_urls(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, _, err = run(capsys, *argv)
    assert code == 1
    assert message in err and err.count("\n") == 1 and "Traceback" not in err
    assert "pw" not in err


def test_schema_not_upgraded(capsys: pytest.CaptureFixture[str], db_url: str) -> None:
    for argv in (
        ["replay", "--db", db_url],
        ["import", str(CAPS[0]), "--db", db_url, "--quiet"],
        ["export", "--db", db_url, "-o", os.devnull],
    ):
        code, _, err = run(capsys, *argv)
        assert code == 1 and "ami-tracker db upgrade" in err and err.count("\n") == 1


def test_read_only_sqlite(capsys: pytest.CaptureFixture[str], sqlite_url: str) -> None:
    assert run(capsys, "db", "upgrade", "--db", sqlite_url)[0] == 0
    path = sqlite_url.removeprefix("sqlite:///")
    read_only = f"sqlite:///file:{path}?mode=ro&uri=true"
    code, _, err = run(capsys, "import", str(CAPS[0]), "--db", read_only, "--quiet")
    assert code == 1 and "read-only" in err and err.count("\n") == 1


def test_disk_full_is_one_line(sqlite_url: str) -> None:
    """A real SQLITE_FULL (the file may not grow past a few pages) reads "the disk is full"."""
    from tracker.store import migrate

    migrate.upgrade(sqlite_url)
    engine = create_engine(sqlite_url)

    @event.listens_for(engine, "connect")
    def _small(dbapi: sqlite3.Connection, _: object) -> None:
        dbapi.execute("PRAGMA max_page_count = 12")

    def fill() -> None:
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE filler (x BLOB)"))
            for _ in range(50):
                conn.execute(text("INSERT INTO filler VALUES (randomblob(4000))"))

    with pytest.raises(OperationalError) as caught:
        fill()
    engine.dispose()
    assert describe(caught.value).startswith("the disk is full")
    assert isinstance(StoreError(describe(caught.value)), StoreError)


def test_time_ranges(capsys: pytest.CaptureFixture[str], store_url: str, tmp_path: Path) -> None:
    """``--from``/``--until`` select frames by the fold's clock; export of a stretch is a
    capture the other commands accept."""
    path = FIXTURES / "queue.ami"
    assert run(capsys, "import", str(path), "--db", store_url, "--quiet")[0] == 0
    with open_store(store_url) as store:
        stored = list(store.iter_frames())
    clocks = [f.clock for f in stored]
    lo, hi = clocks[len(clocks) // 3], clocks[(2 * len(clocks)) // 3]
    inside = [f for f in stored if lo <= f.clock <= hi]
    assert 0 < len(inside) < len(stored)
    code, jsonl, _ = run(
        capsys,
        "events",
        "--db",
        store_url,
        "--from",
        str(lo),
        "--until",
        str(hi),
        "--format",
        "jsonl",
    )
    assert code == 0
    assert [json.loads(line)["seq"] for line in jsonl.splitlines()] == [f.seq for f in inside]
    out = tmp_path / "stretch.ami"
    args = ["export", "--db", store_url, "--from", str(lo), "--until", str(hi), "-o", str(out)]
    assert run(capsys, *args)[0] == 0
    assert out.read_bytes() == b"".join(f.frame.raw for f in inside)
    code, summary, _ = run(capsys, "replay", str(out), "--json")
    assert code == 0 and json.loads(summary)["frames"] == len(inside)
    # an ISO date-time works as well as epoch seconds
    iso = datetime.fromtimestamp(hi, UTC).isoformat()
    code, at_iso, _ = run(capsys, "replay", "--db", store_url, "--at", iso, "--json")
    _, until, _ = run(capsys, "replay", str(path), "--until", str(hi), "--json")
    assert code == 0 and json.loads(at_iso) == json.loads(until)


def test_sqlite_files_use_wal(sqlite_url: str) -> None:
    """A store file is in WAL mode (kept in the file) with synchronous=NORMAL on every
    connection: no fsync per commit, readers beside the writer."""
    from tracker.store.engine import create

    migrate.upgrade(sqlite_url)
    path = sqlite_url.removeprefix("sqlite:///")
    plain = sqlite3.connect(path)
    try:
        assert plain.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    finally:
        plain.close()
    engine = create(sqlite_url)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
    engine.dispose()
