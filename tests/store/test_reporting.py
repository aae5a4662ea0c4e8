"""Reporting tables on a real SQLite file and the real PostgreSQL, filled by folding every fixture
(one server per capture) and projecting batch by batch.

Checked: the call records read back equal the fold's, field for field; the rows agree with
Asterisk's own ground truth for the same calls, parsed here from ``NAME.cdr.csv``,
``NAME.cel.csv`` and ``NAME.queue_log`` (CDR rows join our legs by uniqueid in one SQL query;
queue passages, agent offers and pauses match queue_log; conference stays and parked calls
match CEL's BRIDGE_ENTER/EXIT and PARK_START/END); and the rows do not depend on where batches
are cut.
"""

from __future__ import annotations

import csv
import functools
from collections import Counter, defaultdict
from pathlib import Path

import msgspec
import pytest
from sqlalchemy import Engine, select, text

from tests.helpers import FIXTURES
from tests.store.reporting_support import (
    BACKENDS,
    CAPTURES,
    create_schema,
    database,
    filled_database,
    member_names,
    project_capture,
)
from tracker.replay import replay
from tracker.state.call import Call
from tracker.store.reporting import CALLS, REPORTING_TABLES
from tracker.store.reporting_query import call_records
from tracker.store.reporting_rows import unmapped

QUEUE_CAPTURES = ["queue.ami", "lists.ami", "reconnect.ami", "load.ami.gz"]


@pytest.fixture(scope="session", params=BACKENDS)
def filled(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Engine:
    return filled_database(request, tmp_path_factory)


@functools.cache
def folded(capture: str) -> list[Call]:
    """The fold's call records in the order ``calls CAPTURE`` prints them (start, then end)."""
    return sorted(replay(FIXTURES / capture).call_records, key=lambda c: c.start)


def stem(capture: str) -> str:
    return capture.split(".")[0]


def csv_rows(capture: str, kind: str) -> list[list[str]]:
    path = FIXTURES / f"{stem(capture)}.{kind}.csv"
    with path.open(encoding="latin-1", newline="") as f:
        return list(csv.reader(f))


def queue_log(capture: str) -> list[list[str]]:
    lines = (FIXTURES / f"{stem(capture)}.queue_log").read_text().splitlines()
    return [line.split("|") for line in lines if line]


def rows(engine: Engine, sql: str, **params: object) -> list[tuple[object, ...]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(sql), params)]


def test_every_field_of_the_call_record_has_a_column() -> None:
    assert unmapped() == []


@pytest.mark.parametrize("capture", CAPTURES)
def test_call_records_read_back_equal_the_fold(filled: Engine, capture: str) -> None:
    with filled.connect() as conn:
        stored = list(call_records(conn, server=capture))
    expected = folded(capture)
    assert [c.linkedid for c in stored] == [c.linkedid for c in expected]
    for got, want in zip(stored, expected, strict=True):
        assert msgspec.to_builtins(got) == msgspec.to_builtins(want), want.linkedid
    if capture != "md5_login.fail.ami":
        assert stored, "the capture has calls"


def test_time_range_is_half_open_on_start(filled: Engine) -> None:
    from datetime import UTC, datetime

    calls = folded("load.ami.gz")
    middle = calls[len(calls) // 2]
    cut = datetime.fromtimestamp(middle.start, UTC)
    with filled.connect() as conn:
        before = list(call_records(conn, server="load.ami.gz", until=cut))
        after = list(call_records(conn, server="load.ami.gz", start=cut))
        everything = list(call_records(conn))
    assert [c.linkedid for c in before] == [c.linkedid for c in calls if c.start < middle.start]
    assert [c.linkedid for c in after] == [c.linkedid for c in calls if c.start >= middle.start]
    assert len(everything) == sum(len(folded(c)) for c in CAPTURES)


@pytest.mark.parametrize("capture", [c for c in CAPTURES if c != "md5_login.fail.ami"])
def test_asterisk_cdr_joins_our_calls_by_uniqueid(filled: Engine, capture: str) -> None:
    """Every Cdr event is stored, and one query joins it to the call holding that channel."""
    truth = csv_rows(capture, "cdr")
    found = rows(
        filled,
        """
        SELECT a.unique_id, a.disposition, a.billable_seconds, c.linkedid
        FROM asterisk_cdr a
        JOIN servers s ON s.id = a.server_id
        LEFT JOIN call_legs l ON l.server_id = a.server_id AND l.uniqueid = a.unique_id
        LEFT JOIN calls c ON c.id = l.call_id
        WHERE s.name = :capture
        """,
        capture=capture,
    )
    stored = Counter((r[0], r[1], r[2]) for r in found)
    assert len({r[0] for r in found}) == len({r[16] for r in truth})
    joined: dict[str, set[object]] = defaultdict(set)
    for uid, _, _, linkedid in found:
        joined[str(uid)].add(linkedid)
    late = capture == "reconnect.late.ami"
    for row in truth:
        uniqueid, disposition, billsec, linkedid = row[16], row[14], int(row[13]), row[18]
        assert stored[(uniqueid, disposition, billsec)] >= 1, uniqueid
        if late and None in joined[uniqueid]:
            continue  # a channel that ended before this session saw it
        assert linkedid in joined[uniqueid], uniqueid


@pytest.mark.parametrize("capture", QUEUE_CAPTURES)
def test_queue_calls_match_queue_log(filled: Engine, capture: str) -> None:
    log = queue_log(capture)
    joins = {(r[2], r[1]) for r in log if r[4] == "ENTERQUEUE"}
    connects = {(r[2], r[1]): r for r in log if r[4] == "CONNECT"}
    abandons = {(r[2], r[1]): r for r in log if r[4] == "ABANDON"}
    completes = {(r[2], r[1]): r for r in log if r[4] in ("COMPLETECALLER", "COMPLETEAGENT")}
    got = {
        (str(r[0]), str(r[1])): r
        for r in rows(
            filled,
            """
            SELECT q.queue, q.uniqueid, q.outcome, q.agent, q.wait, q.talk, q.complete_reason
            FROM queue_calls q JOIN servers s ON s.id = q.server_id WHERE s.name = :capture
            """,
            capture=capture,
        )
    }
    assert set(got) == joins
    for key, (_, _, outcome, agent, wait, talk, reason) in got.items():
        assert isinstance(wait, float)
        if key in connects:
            assert outcome == "answered"
            assert agent == connects[key][3]
            assert abs(wait - int(connects[key][5])) <= 1.0
        elif key in abandons:
            assert outcome == "abandoned"
            assert abs(wait - int(abandons[key][7])) <= 1.0
        else:
            assert outcome == "exited"
        if key in completes:
            assert isinstance(talk, float)
            assert abs(talk - int(completes[key][6])) <= 1.0
            assert reason == completes[key][4].removeprefix("COMPLETE").lower()


@pytest.mark.parametrize("capture", QUEUE_CAPTURES)
def test_ring_no_answer_offers_match_queue_log(filled: Engine, capture: str) -> None:
    truth = sorted(
        (r[2], r[1], r[3], int(r[5])) for r in queue_log(capture) if r[4] == "RINGNOANSWER"
    )
    got = rows(
        filled,
        """
        SELECT o.queue, o.uniqueid, o.member_name, o.ring_time FROM queue_offers o
        JOIN servers s ON s.id = o.server_id
        WHERE s.name = :capture AND o.outcome = 'ringnoanswer'
        ORDER BY o.queue, o.uniqueid, o.member_name
        """,
        capture=capture,
    )
    assert sorted(got) == truth


def paused_intervals(capture: str) -> list[tuple[str, str, str, int]]:
    """(queue, member name, reason, seconds) from queue_log: PAUSE (or ADDMEMBER|PAUSED) until
    UNPAUSE or REMOVEMEMBER."""
    names = member_names(capture)
    opened: dict[tuple[str, str], tuple[int, str]] = {}
    out = []
    for r in queue_log(capture):
        when, queue, kind = int(r[0]), r[2], r[4]
        if kind not in ("ADDMEMBER", "PAUSE", "UNPAUSE", "REMOVEMEMBER"):
            continue
        key = (queue, names.get(r[3], r[3]))
        if kind == "PAUSE" or (kind == "ADDMEMBER" and r[5:6] == ["PAUSED"]):
            opened[key] = (when, r[5] if kind == "PAUSE" else "")
        elif kind in ("UNPAUSE", "REMOVEMEMBER") and key in opened:
            start, reason = opened.pop(key)
            out.append((*key, reason, when - start))
    return sorted(out)


def test_paused_intervals_match_queue_log(filled: Engine) -> None:
    truth = paused_intervals("queue.ami")
    got = sorted(
        (str(q), str(member), str(reason), seconds)
        for q, member, reason, seconds in rows(
            filled,
            """
            SELECT p.queue, p.member_name, p.reason, p.seconds FROM queue_member_pauses p
            JOIN servers s ON s.id = p.server_id WHERE s.name = 'queue.ami'
            """,
        )
    )
    assert len(got) == len(truth) >= 3
    for (queue, member, reason, seconds), (tq, tmember, treason, tseconds) in zip(
        got, truth, strict=True
    ):
        assert (queue, member) == (tq, tmember)
        assert reason == treason or not treason  # ADDMEMBER|PAUSED carries no reason
        assert isinstance(seconds, float)
        assert abs(seconds - tseconds) <= 1.0


def cel_intervals(capture: str, start: str, end: str, app: str | None = None) -> list[float]:
    opened: dict[str, float] = {}
    out = []
    for r in csv_rows(capture, "cel"):
        if app is not None and r[11] != app:
            continue
        if r[0] == start:
            opened[r[15]] = float(r[1])
        elif r[0] == end and r[15] in opened:
            out.append(float(r[1]) - opened.pop(r[15]))
    return sorted(out)


@pytest.mark.parametrize("capture", ["confbridge.ami", "transfers.ami", "reconnect.ami"])
def test_conference_stays_match_cel(filled: Engine, capture: str) -> None:
    truth = cel_intervals(capture, "BRIDGE_ENTER", "BRIDGE_EXIT", app="ConfBridge")
    got = rows(
        filled,
        """
        SELECT p.seconds FROM conference_participations p
        JOIN servers s ON s.id = p.server_id WHERE s.name = :capture ORDER BY p.seconds
        """,
        capture=capture,
    )
    assert truth
    assert len(got) == len(truth)
    for (seconds,), expected in zip(got, truth, strict=True):
        assert isinstance(seconds, float)
        assert abs(seconds - expected) < 0.1


def test_parked_calls_match_cel(filled: Engine) -> None:
    truth = cel_intervals("park.ami", "PARK_START", "PARK_END")
    reasons = sorted(r[20] for r in csv_rows("park.ami", "cel") if r[0] == "PARK_END")
    got = rows(
        filled,
        """
        SELECT p.seconds, p.outcome FROM parked_calls p
        JOIN servers s ON s.id = p.server_id WHERE s.name = 'park.ami' ORDER BY p.seconds
        """,
    )
    assert len(got) == len(truth) == 3
    for (seconds, _), expected in zip(got, truth, strict=True):
        assert isinstance(seconds, float)
        assert abs(seconds - expected) < 0.1
    outcomes = {"ParkedCallUnparked": "retrieved", "ParkedCallTimeOut": "timeout"}
    expected_outcomes = sorted(
        next((v for k, v in outcomes.items() if k in reason), "giveup") for reason in reasons
    )
    assert sorted(str(r[1]) for r in got) == expected_outcomes


def table_contents(
    engine: Engine, *, skip: tuple[str, ...] = ("id", "call_id"), server_id: int | None = None
) -> dict[str, list[tuple[object, ...]]]:
    """Every reporting row (of one server), without the columns in ``skip``, sorted."""
    out = {}
    with engine.connect() as conn:
        calls = select(CALLS.c.id)
        if server_id is not None:
            calls = calls.where(CALLS.c.server_id == server_id)
        for table in REPORTING_TABLES:
            query = select(*(c for c in table.c if c.name not in skip))
            if server_id is not None:
                if "server_id" in table.c:
                    query = query.where(table.c.server_id == server_id)
                else:
                    query = query.where(table.c.call_id.in_(calls))
            rows = [tuple(r) for r in conn.execute(query)]
            out[table.name] = sorted(rows, key=repr)
    return out


@pytest.mark.parametrize("capture", ["queue.ami", "park.ami", "transfers.ami"])
def test_rows_do_not_depend_on_batch_boundaries(tmp_path: Path, capture: str) -> None:
    contents = []
    for i, size in enumerate((1, 7, 10_000)):
        (tmp_path / str(i)).mkdir()
        with database("sqlite", tmp_path / str(i)) as engine:
            create_schema(engine)
            project_capture(engine, capture, batch=size)
            contents.append(table_contents(engine))
    assert contents[0] == contents[1] == contents[2]
    assert sum(len(v) for v in contents[0].values()) > 20


def test_what_a_resync_found_is_kept(filled: Engine) -> None:
    """reconnect.late joined while a queue call, a member and two conference users were up: the
    rows say so (join unknown) and end when Asterisk's records say they ended."""
    log = queue_log("reconnect.late.ami")
    (complete,) = (r for r in log if r[4] == "COMPLETECALLER")
    (remove,) = (r for r in log if r[4] == "REMOVEMEMBER")
    ((uid, agent, wait, talk, late),) = rows(
        filled,
        """
        SELECT q.uniqueid, q.agent, q.wait, q.talk, q.joined_late FROM queue_calls q
        JOIN servers s ON s.id = q.server_id WHERE s.name = 'reconnect.late.ami'
        """,
    )
    assert (uid, agent, late) == (complete[1], complete[3], True)
    assert wait == int(complete[5]) and talk == int(complete[6])
    ((interface, added, removed),) = rows(
        filled,
        """
        SELECT m.interface, m.added_at, m.removed_at FROM queue_member_sessions m
        JOIN servers s ON s.id = m.server_id WHERE s.name = 'reconnect.late.ami'
        """,
    )
    assert (interface, added) == (remove[3], None)
    assert abs(_epoch(removed) - int(remove[0])) <= 1.0
    exits = sorted(
        float(r[1])
        for r in csv_rows("reconnect.late.ami", "cel")
        if r[0] == "BRIDGE_EXIT" and r[11] == "ConfBridge"
    )
    stays = rows(
        filled,
        """
        SELECT p.joined_at, p.left_at FROM conference_participations p
        JOIN servers s ON s.id = p.server_id WHERE s.name = 'reconnect.late.ami'
        ORDER BY p.left_at
        """,
    )
    assert [joined for joined, _ in stays] == [None] * len(exits)
    assert [_epoch(left) for _, left in stays] == pytest.approx(exits, abs=0.1)


def _epoch(value: object) -> float:
    """A timestamp column as epoch seconds (text on SQLite when read through text())."""
    from datetime import UTC, datetime

    if isinstance(value, str):
        value = datetime.fromisoformat(value).replace(tzinfo=UTC)
    assert isinstance(value, datetime)
    return value.timestamp()


@pytest.mark.parametrize("capture", ["queue.ami", "transfers.ami", "reconnect.late.ami"])
def test_import_path_and_direct_projection_write_the_same_rows(
    filled: Engine, tmp_path: Path, capture: str
) -> None:
    """The store's import (its batches, sessions, seqs) writes what projecting a fold does."""
    with database("sqlite", tmp_path) as engine:
        create_schema(engine)
        project_capture(engine, capture)
        direct = table_contents(engine, skip=("id", "call_id", "server_id", "session_id"))
    with filled.connect() as conn:
        server_id = conn.execute(
            text("SELECT id FROM servers WHERE name = :n"), {"n": capture}
        ).scalar_one()
    imported = table_contents(
        filled, skip=("id", "call_id", "server_id", "session_id"), server_id=server_id
    )
    assert imported == direct
    assert sum(len(v) for v in direct.values()) > 10


CEL_HEADERS = (
    ("EventName", 0),
    ("AccountCode", 14),
    ("CallerIDnum", 4),
    ("CallerIDname", 3),
    ("CallerIDani", 5),
    ("CallerIDrdnis", 6),
    ("CallerIDdnid", 7),
    ("Exten", 8),
    ("Context", 9),
    ("Channel", 10),
    ("Application", 11),
    ("AppData", 12),
    ("EventTime", 1),
    ("AMAFlags", 13),
    ("UniqueID", 15),
    ("LinkedID", 16),
    ("UserField", 19),
    ("Peer", 17),
    ("PeerAccount", 18),
    ("Extra", 20),
)
"""cel_manager's headers, in its order, and the NAME.cel.csv column holding each value."""


def test_cel_events_are_kept_and_join_our_calls(tmp_path: Path) -> None:
    """No fixture ran cel_manager, so its ``CEL`` events are framed here from the same calls'
    real CEL records (``confbridge.cel.csv``), appended to ``confbridge.ami``; every record is
    stored as sent, and one query joins it to our call by Linkedid."""
    truth = csv_rows("confbridge.ami", "cel")
    frames = b"".join(
        b"Event: CEL\r\nPrivilege: call,all\r\n"
        + f"Timestamp: {r[1]}\r\n".encode()
        + b"".join(f"{name}: {r[col]}\r\n".encode("latin-1") for name, col in CEL_HEADERS)
        + b"\r\n"
        for r in truth
    )
    capture = tmp_path / "confbridge_cel.ami"
    capture.write_bytes((FIXTURES / "confbridge.ami").read_bytes() + frames)
    with database("sqlite", tmp_path) as engine:
        create_schema(engine)
        project_capture(engine, str(capture))
        stored = rows(
            engine,
            """
            SELECT e.event_name, e.event_time, e.cid_name, e.cid_num, e.cid_ani, e.cid_rdnis,
                   e.cid_dnid, e.exten, e.context, e.channel, e.application, e.app_data,
                   e.ama_flags, e.account_code, e.unique_id, e.linked_id, e.peer,
                   e.peer_account, e.user_field, e.event_extra, c.linkedid
            FROM asterisk_cel e
            LEFT JOIN calls c ON c.server_id = e.server_id AND c.linkedid = e.linked_id
            ORDER BY e.seq
            """,
        )
    expected = [[*r[:2], *r[3:21]] for r in truth]
    assert [list(r[:20]) for r in stored] == expected
    ours = {c.linkedid for c in folded("confbridge.ami")}
    assert {r[20] for r in stored} == {r[16] for r in truth} == ours
