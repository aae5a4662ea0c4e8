"""The reporting projection needs, of a batch's envelopes, only the ``Cdr``/``CEL`` events and
the frames its change records name: handed just those (seqs no longer consecutive), it writes
the same rows as with every envelope (what a writer fed packed batches may rely on)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import pytest
from sqlalchemy import Engine, text

from tests.helpers import FIXTURES
from tests.store.reporting_support import create_schema, database, project_capture
from tracker.events import CEL, Cdr
from tracker.events.envelope import Envelope
from tracker.state import Change
from tracker.store.projection import _HANDLERS, _Batch
from tracker.store.reporting import REPORTING_TABLES

CAPTURES = sorted(p.name for p in FIXTURES.glob("*.ami"))


def named_only(envelopes: list[Envelope], changes: list[Change]) -> list[Envelope]:
    named = {c.seq for c in changes if type(c) in _HANDLERS}
    return [e for e in envelopes if e.seq in named or type(e.item) in (Cdr, CEL)]


def dump(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    with engine.connect() as conn:
        return {
            t.name: [tuple(r) for r in conn.execute(text(f'SELECT * FROM "{t.name}"'))]
            for t in REPORTING_TABLES
        }


def test_the_named_envelopes_are_enough(tmp_path: Path) -> None:
    got = {}
    for sparse in (False, True):
        (tmp_path / str(sparse)).mkdir()
        with database("sqlite", tmp_path / str(sparse)) as engine:
            create_schema(engine)
            for capture in CAPTURES:
                project_capture(engine, capture, batch=300, given=named_only if sparse else None)
            got[sparse] = dump(engine)
    assert got[True] == got[False]
    filled = {name for name, rows in got[False].items() if rows}
    assert {"calls", "call_legs", "queue_calls", "queue_offers", "asterisk_cdr"} <= filled
    assert {"conference_participations", "parked_calls", "queue_member_sessions"} <= filled


@pytest.mark.parametrize("seqs", [[10, 11, 12, 13], [10, 13, 14, 20], [3, 7]])
def test_an_event_is_found_by_seq(seqs: list[int]) -> None:
    items = [cast(Any, object()) for _ in seqs]
    envelopes = [Envelope(s, i) for s, i in zip(seqs, items, strict=True)]
    batch = _Batch(cast(Any, None), 1, 1, envelopes)
    for seq, item in zip(seqs, items, strict=True):
        assert batch.event(seq) is item, seq
    assert batch.event(seqs[0] - 1) is None
    assert batch.event(seqs[-1] + 1) is None
    assert batch.event(max(seqs) + 100) is None
