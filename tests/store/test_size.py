"""The raw log's size budget: at most 64 bytes per frame on disk for ``load.ami.gz``, table
and indexes included, on SQLite and PostgreSQL (the capture is ~460 bytes per frame)."""

from __future__ import annotations

from tests.helpers import FIXTURES
from tracker.replay import import_capture
from tracker.store import open_store
from tracker.store.sizes import raw_log_bytes

BUDGET = 64


def test_raw_log_fits_the_budget(store_url: str) -> None:
    with open_store(store_url) as store:
        stats = import_capture(store, FIXTURES / "load.ami.gz", server="pbx")
        with store.engine.connect() as conn:
            size = raw_log_bytes(conn)
    per_frame = size / stats.frames
    print(f"{store.engine.dialect.name}: {size} bytes, {per_frame:.1f} B/frame")
    assert 5 < per_frame <= BUDGET
