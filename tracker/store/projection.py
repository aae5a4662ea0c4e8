"""The reporting projection: change records (and a few raw events) -> reporting rows.

``project_batch`` runs inside the transaction that stores a batch's frames, so the reporting
tables are never ahead of or behind the raw log; it is not idempotent by itself (the recorder
never hands it a batch twice). Its state between batches lives in the tables: an open fact (a
waiting queue caller, a paused member, a parked call) is a row whose end is NULL, closed by a
later change. A batch reads the facts its changes name in one statement per table, changes them
in memory and writes them back with one statement per table (and set of columns), not one
round trip per change. Call records are written whole when the call ends (``CallEnded``), with
their legs and transfers; queue, member, conference and parking facts are written as they
happen. Asterisk's own ``Cdr`` and ``CEL`` events are copied from the envelopes. Bulk rows go
through :mod:`tracker.store.bulk` (the driver's own bulk path).
"""

from __future__ import annotations

import functools
import itertools
import operator
from collections.abc import Callable, Sequence
from datetime import datetime
from enum import Enum
from typing import Any, NamedTuple, get_args

import msgspec
from sqlalchemy import (
    Connection,
    Table,
    delete,
    insert,
    select,
    update,
)

from ..events import CEL, Cdr
from ..events.base import AmiEvent
from ..events.envelope import Envelope
from ..state import Change
from ..state.call import Call, CallEnded
from ..state.conference import ConferenceReconciled, ParticipantJoined, ParticipantLeft
from ..state.gap import GapUpdated
from ..state.parking import (
    CallParked,
    CallUnparked,
    ParkedCallGaveUp,
    ParkedCallSwapped,
    ParkingReconciled,
    ParkingTimedOut,
)
from ..state.queue import (
    AgentCalled,
    AgentCompleted,
    AgentConnected,
    AgentDumped,
    AgentRingNoAnswer,
    QueueCallerAbandoned,
    QueueCallerJoined,
    QueueCallerLeft,
    QueueMemberAdded,
    QueueMemberPaused,
    QueueMemberRemoved,
    QueueReconciled,
)
from .bulk import insert_rows, insert_values, marks, new_ids, select_rows, update_rows
from .packed import Needs
from .reporting import ASTERISK_CDR as CDR
from .reporting import ASTERISK_CEL as CEL_TABLE
from .reporting import CALL_LEGS as LEGS
from .reporting import CALLS, GAP_QUEUES, GAPS, QUEUE_CALLS, TRANSFERS
from .reporting import CONFERENCE_PARTICIPATIONS as PARTICIPATIONS
from .reporting import PARKED_CALLS as PARKED
from .reporting import QUEUE_MEMBER_PAUSES as PAUSES
from .reporting import QUEUE_MEMBER_SESSIONS as MEMBERS
from .reporting import QUEUE_OFFERS as OFFERS
from .reporting_rows import call_rows, fields_getter
from .reporting_types import to_datetime

_BASE_FIELDS = frozenset(f.name for f in msgspec.structs.fields(AmiEvent))
CEL_COLUMNS = {
    "caller_i_dnum": "cid_num",
    "caller_i_dname": "cid_name",
    "caller_i_dani": "cid_ani",
    "caller_i_drdnis": "cid_rdnis",
    "caller_i_ddnid": "cid_dnid",
    "extra_": "event_extra",
}
"""CEL event fields whose column is named as in cel.conf rather than after the header."""


_OPEN: dict[str, Callable[[dict[str, Any]], bool]] = {
    "waiting": lambda r: r["outcome"] == "waiting",
    "not_left": lambda r: r["left_at"] is None,
    "not_connected": lambda r: r["connected_at"] is None,
    "talking": lambda r: r["connected_at"] is not None and r["completed_at"] is None,
    "ringing": lambda r: r["outcome"] == "ringing",
    "ringing_or_canceled": lambda r: r["outcome"] in ("ringing", "canceled"),
    "not_ended": lambda r: r["ended_at"] is None,
    "not_removed": lambda r: r["removed_at"] is None,
    "not_unpaused": lambda r: r["unpaused_at"] is None,
}
"""What makes a fact row open (not finished yet), by name."""


class _Facts(NamedTuple):
    """How a fact table's rows are found: by the ``group`` columns (a handler's keys are these
    or more), and only rows that ``loads`` (SQL) keeps can ever match a handler's state."""

    group: tuple[str, ...]
    loads: str | None


_FACTS: dict[Table, _Facts] = {
    QUEUE_CALLS: _Facts(("queue", "uniqueid"), None),
    OFFERS: _Facts(("queue", "uniqueid"), "\"outcome\" IN ('ringing', 'canceled')"),
    MEMBERS: _Facts(("queue", "interface"), '"removed_at" IS NULL'),
    PAUSES: _Facts(("queue", "interface"), '"unpaused_at" IS NULL'),
    PARTICIPATIONS: _Facts(("conference", "uniqueid"), '"left_at" IS NULL'),
    PARKED: _Facts(("lot",), '"ended_at" IS NULL'),
}
"""Fact tables the handlers find rows in, and how their rows are loaded."""


_LOAD_CHUNK = 400
"""Groups loaded per statement (bound parameters stay far below every backend's limit)."""


class _Table:
    """One fact table during a batch: the rows of the groups it looked at (stored rows in id
    order, then the rows it created), changes to stored rows, and rows to insert."""

    def __init__(self, table: Table) -> None:
        self.table = table
        self.group = _FACTS[table].group
        self.stored: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
        self.created: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
        self.inserts: list[dict[str, Any]] = []
        self.updates: dict[int, dict[str, Any]] = {}

    def load(self, conn: Connection, server_id: int, groups: set[tuple[Any, ...]]) -> None:
        """Read the stored rows of ``groups`` not read yet (one statement per chunk)."""
        todo = [g for g in groups if g not in self.stored]
        for g in todo:
            self.stored[g] = []
        names = self.group
        for i in range(0, len(todo), _LOAD_CHUNK):
            chunk = todo[i : i + _LOAD_CHUNK]
            # the rows whose group columns take values in these lists (a superset of the
            # groups asked for: the combinations are filtered here)
            where = [f'"server_id" = {marks(conn, 1)}']
            params: list[Any] = [server_id]
            for k, name in enumerate(names):
                values = sorted({g[k] for g in chunk})
                where.append(f'"{name}" IN ({marks(conn, len(values))})')
                params += values
            loads = _FACTS[self.table].loads
            if loads is not None:
                where.append(loads)
            for row in select_rows(conn, self.table, " AND ".join(where), params):
                rows = self.stored.get(tuple(row[name] for name in names))
                if rows is not None:
                    rows.append(row)

    def rows(self, b: _Batch, keys: dict[str, Any]) -> list[dict[str, Any]]:
        """Rows of the group ``keys`` belong to (stored, then created), oldest first."""
        g = tuple(keys[name] for name in self.group)
        if g not in self.stored:
            self.load(b.conn, b.server_id, {g})
        return [*self.stored[g], *self.created.get(g, ())]

    def find(self, b: _Batch, state: str, keys: dict[str, Any]) -> list[dict[str, Any]]:
        """Rows matching ``keys`` (SQL equality: None matches nothing) open in ``state``."""
        if any(v is None for v in keys.values()):
            return []
        is_open = _OPEN[state]
        items = keys.items()
        return [r for r in self.rows(b, keys) if is_open(r) and all(r[k] == v for k, v in items)]

    def insert(self, values: dict[str, Any]) -> None:
        row = {c.name: None for c in self.table.c}
        row.update(values)
        self.inserts.append(row)
        g = tuple(row[name] for name in self.group)
        self.created.setdefault(g, []).append(row)

    def set(self, row: dict[str, Any], values: dict[str, Any]) -> None:
        row.update(values)
        if row["id"] is not None:  # stored: write the columns changed
            self.updates.setdefault(row["id"], {}).update(values)

    def flush(self, conn: Connection) -> None:
        """One INSERT (many rows) for the rows created, one UPDATE (many rows) per set of
        columns changed in stored rows."""
        if self.inserts:
            for row in self.inserts:
                del row["id"]
            insert_rows(conn, self.table, self.inserts)
        by_columns: dict[tuple[str, ...], list[tuple[Any, ...]]] = {}
        for row_id, values in self.updates.items():
            columns = tuple(sorted(values))
            by_columns.setdefault(columns, []).append((*map(values.get, columns), row_id))
        for columns, rows in by_columns.items():
            update_rows(conn, self.table, columns, rows)


class _Batch:
    """One batch being projected: the connection, ids, the fact tables' rows it touched, and
    lazily the envelopes by seq. Facts are read in a few statements up front (the groups the
    batch's changes name, see ``_GROUPS``), changed in memory, written once at the end."""

    def __init__(
        self, conn: Connection, server_id: int, session_id: int, envelopes: Sequence[Envelope]
    ) -> None:
        self.conn = conn
        self.server_id = server_id
        self.session_id = session_id
        self.envelopes = envelopes
        self._by_seq: dict[int, Any] | None = None
        self.calls: list[Call] = []
        self.tables: dict[Table, _Table] = {}

    def event(self, seq: int) -> Any:
        """The item of the frame ``seq`` of this batch (None if not in it)."""
        envelopes = self.envelopes
        i = seq - envelopes[0].seq if envelopes else -1
        if 0 <= i < len(envelopes) and envelopes[i].seq == seq:
            return envelopes[i].item  # consecutive seqs (every frame of the batch)
        if self._by_seq is None:  # only some frames (what the projection said it reads)
            self._by_seq = {env.seq: env.item for env in envelopes}
        return self._by_seq.get(seq)

    def ids(self) -> dict[str, int]:
        return {"server_id": self.server_id, "session_id": self.session_id}

    def facts(self, table: Table) -> _Table:
        got = self.tables.get(table)
        if got is None:
            got = self.tables[table] = _Table(table)
        return got

    def preload(self, changes: Sequence[Change]) -> None:
        """Read the groups every change will look at, in one statement per table."""
        wanted: dict[Table, set[tuple[Any, ...]]] = {}
        for change in changes:
            for table, group in _GROUPS.get(type(change), _no_groups)(change):
                if None not in group:
                    wanted.setdefault(table, set()).add(group)
        for table, groups_ in wanted.items():
            self.facts(table).load(self.conn, self.server_id, groups_)

    def insert(self, table: Table, **values: Any) -> None:
        self.facts(table).insert({**self.ids(), **values})

    def open_row(self, table: Table, state: str, **keys: Any) -> dict[str, Any] | None:
        """The latest row of this server matching ``keys`` that is open in the sense of
        ``state`` (see ``_OPEN``)."""
        found = self.facts(table).find(self, state, keys)
        return found[-1] if found else None

    def set_latest(self, table: Table, state: str, keys: dict[str, Any], **values: Any) -> bool:
        """Update the row :meth:`open_row` would return; False if there is none."""
        row = self.open_row(table, state, **keys)
        if row is None:
            return False
        self.facts(table).set(row, values)
        return True

    def set(self, table: Table, row: dict[str, Any], **values: Any) -> None:
        self.facts(table).set(row, values)

    def set_open(self, table: Table, state: str, keys: dict[str, Any], **values: Any) -> None:
        """Update every open row matching ``keys``."""
        facts = self.facts(table)
        for row in facts.find(self, state, keys):
            facts.set(row, values)

    def flush(self) -> None:
        for facts in self.tables.values():
            facts.flush(self.conn)


def _seconds(start: datetime | None, at: float) -> float | None:
    return None if start is None else at - start.timestamp()


# ---- calls ----------------------------------------------------------------------------------


def _call_ended(b: _Batch, c: CallEnded) -> None:
    b.calls.append(c.record)


def _write_calls(b: _Batch) -> None:
    if not b.calls:
        return
    rows, legs, transfers = [], [], []
    for call in b.calls:
        row, call_legs, call_transfers = call_rows(
            call, server_id=b.server_id, session_id=b.session_id, epochs=True
        )
        rows.append(row)
        legs.append(call_legs)
        transfers.append(call_transfers)
    ids = new_ids(b.conn, CALLS, len(rows))
    leg_rows: list[dict[str, Any]] = []
    transfer_rows: list[dict[str, Any]] = []
    for row, call_id, call_legs, call_transfers in zip(rows, ids, legs, transfers, strict=True):
        row["id"] = call_id
        for r in call_legs:
            r["call_id"] = call_id
        for r in call_transfers:
            r["call_id"] = call_id
        leg_rows += call_legs
        transfer_rows += call_transfers
    insert_rows(b.conn, CALLS, rows, epochs=True)
    insert_rows(b.conn, LEGS, leg_rows, epochs=True)
    insert_rows(b.conn, TRANSFERS, transfer_rows, epochs=True)


# ---- queue callers and offers -----------------------------------------------------------------


def _queue_join(b: _Batch, c: QueueCallerJoined) -> None:
    item = b.event(c.seq)
    b.insert(
        QUEUE_CALLS,
        queue=c.queue,
        uniqueid=c.uniqueid,
        linkedid=getattr(item, "linkedid", None),
        channel=c.channel,
        caller_num=c.caller_id_num,
        caller_name=c.caller_id_name,
        position=c.position,
        joined_at=to_datetime(c.at),
        outcome="waiting",
        joined_late=False,
    )


def _cancel_offers(b: _Batch, queue: str, uniqueid: str, at: float) -> None:
    keys = {"queue": queue, "uniqueid": uniqueid}
    b.set_open(OFFERS, "ringing", keys, outcome="canceled", ended_at=to_datetime(at))


def _queue_abandon(b: _Batch, c: QueueCallerAbandoned) -> None:
    keys = {"queue": c.queue, "uniqueid": c.uniqueid}
    values = {"outcome": "abandoned", "left_at": to_datetime(c.at), "wait": c.wait}
    if not b.set_latest(QUEUE_CALLS, "waiting", keys, **values):
        b.insert(QUEUE_CALLS, **keys, channel="", joined_late=True, **values)
    _cancel_offers(b, c.queue, c.uniqueid, c.at)


def _queue_leave(b: _Batch, c: QueueCallerLeft) -> None:
    found = b.open_row(QUEUE_CALLS, "not_left", queue=c.queue, uniqueid=c.uniqueid)
    if found is not None:
        values: dict[str, Any] = {"left_at": to_datetime(c.at)}
        if found["outcome"] == "waiting":
            # "exited" until an AgentConnect (which follows the leave) says it was answered.
            values.update(outcome="exited", wait=c.wait)
        b.set(QUEUE_CALLS, found, **values)
    _cancel_offers(b, c.queue, c.uniqueid, c.at)


def _agent_connect(b: _Batch, c: AgentConnected) -> None:
    values: dict[str, Any] = {
        "outcome": "answered",
        "agent": c.member_name,
        "interface": c.interface,
        "connected_at": to_datetime(c.at),
    }
    keys = {"queue": c.queue, "uniqueid": c.uniqueid}
    waited = {"wait": c.wait} if c.wait is not None else {}
    if not b.set_latest(QUEUE_CALLS, "not_connected", keys, **values, **waited):
        b.insert(QUEUE_CALLS, **keys, channel="", joined_late=True, **values)
    offer = {**keys, "interface": c.interface}
    b.set_latest(
        OFFERS, "ringing_or_canceled", offer, outcome="connected", ended_at=values["connected_at"]
    )


def _agent_complete(b: _Batch, c: AgentCompleted) -> None:
    found = b.open_row(QUEUE_CALLS, "talking", queue=c.queue, uniqueid=c.uniqueid)
    if found is not None:
        b.set(
            QUEUE_CALLS,
            found,
            completed_at=to_datetime(c.at),
            talk=_seconds(found["connected_at"], c.at),
            complete_reason=c.reason,
        )
        return
    # A call connected before we were (a resync showed the member in a call): keep it, with
    # Asterisk's own talk and hold times standing in for ours.
    connected = None if c.talk_time is None else c.at - c.talk_time
    joined = None if connected is None or c.hold_time is None else connected - c.hold_time
    b.insert(
        QUEUE_CALLS,
        queue=c.queue,
        uniqueid=c.uniqueid,
        channel="",
        joined_at=to_datetime(joined),
        wait=None if c.hold_time is None else float(c.hold_time),
        outcome="answered",
        agent=c.member_name,
        interface=c.interface,
        connected_at=to_datetime(connected),
        completed_at=to_datetime(c.at),
        talk=None if c.talk_time is None else float(c.talk_time),
        complete_reason=c.reason,
        joined_late=True,
    )


def _agent_called(b: _Batch, c: AgentCalled) -> None:
    b.insert(
        OFFERS,
        queue=c.queue,
        uniqueid=c.uniqueid,
        interface=c.interface,
        member_name=c.member_name,
        called_at=to_datetime(c.at),
        outcome="ringing",
    )


def _offer_ended(b: _Batch, c: AgentRingNoAnswer | AgentDumped) -> None:
    outcome = "ringnoanswer" if type(c) is AgentRingNoAnswer else "dumped"
    values: dict[str, Any] = {"outcome": outcome, "ended_at": to_datetime(c.at)}
    if isinstance(c, AgentRingNoAnswer):
        values["ring_time"] = c.ring_time
    keys = {"queue": c.queue, "uniqueid": c.uniqueid, "interface": c.interface}
    if b.set_latest(OFFERS, "ringing", keys, **values):
        return
    if isinstance(c, AgentRingNoAnswer):
        b.insert(OFFERS, member_name=c.member_name, **keys, **values)


# ---- queue members ------------------------------------------------------------------------------


def _pause_sync(
    b: _Batch, queue: str, interface: str, name: str, paused: bool, reason: str, at: float
) -> None:
    """Open, close or re-reason the member's paused interval to match ``paused``/``reason``."""
    found = b.open_row(PAUSES, "not_unpaused", queue=queue, interface=interface)
    if found is not None:
        if paused and found["reason"] == reason:
            return
        b.set(PAUSES, found, unpaused_at=to_datetime(at), seconds=_seconds(found["paused_at"], at))
    if paused:
        b.insert(
            PAUSES,
            queue=queue,
            interface=interface,
            member_name=name,
            paused_at=to_datetime(at),
            reason=reason,
        )


def _member_added(b: _Batch, c: QueueMemberAdded) -> None:
    b.insert(
        MEMBERS,
        queue=c.queue,
        interface=c.interface,
        member_name=c.member_name,
        added_at=to_datetime(c.at),
        removed_by_resync=False,
    )
    if c.paused:
        reason = getattr(b.event(c.seq), "paused_reason", None) or ""
        _pause_sync(b, c.queue, c.interface, c.member_name, True, reason, c.at)


def _member_gone(b: _Batch, queue: str, interface: str, at: float, *, resync: bool) -> None:
    keys = {"queue": queue, "interface": interface}
    b.set_open(MEMBERS, "not_removed", keys, removed_at=to_datetime(at), removed_by_resync=resync)
    _pause_sync(b, queue, interface, "", False, "", at)


def _member_removed(b: _Batch, c: QueueMemberRemoved) -> None:
    _member_gone(b, c.queue, c.interface, c.at, resync=False)


def _member_paused(b: _Batch, c: QueueMemberPaused) -> None:
    _pause_sync(b, c.queue, c.interface, c.member_name, c.paused, c.reason, c.at)


def _queue_reconciled(b: _Batch, c: QueueReconciled) -> None:
    """A QueueStatus reply corrected our state: members and callers we had not seen."""
    item = b.event(c.seq)
    if c.subject == "member":
        if c.action == "removed":
            _member_gone(b, c.queue, c.key, c.at, resync=True)
            return
        name = getattr(item, "name_", None) or c.key
        if c.action == "created":
            b.insert(
                MEMBERS,
                queue=c.queue,
                interface=c.key,
                member_name=name,
                added_at=None,
                removed_by_resync=False,
            )
        paused = bool(getattr(item, "paused", 0))
        reason = getattr(item, "paused_reason", None) or ""
        _pause_sync(b, c.queue, c.key, name, paused, reason, c.at)
    elif c.subject == "caller":
        if c.action == "created":
            b.insert(
                QUEUE_CALLS,
                queue=c.queue,
                uniqueid=c.key,
                channel=getattr(item, "channel", None) or "",
                caller_num=getattr(item, "caller_id_num", None),
                caller_name=getattr(item, "caller_id_name", None),
                position=getattr(item, "position", None),
                joined_at=None,
                outcome="waiting",
                joined_late=True,
            )
        elif c.action == "removed":
            keys = {"queue": c.queue, "uniqueid": c.key}
            b.set_open(QUEUE_CALLS, "waiting", keys, outcome="unknown", left_at=to_datetime(c.at))
            _cancel_offers(b, c.queue, c.key, c.at)


# ---- conferences and parking -------------------------------------------------------------------


def _participant_joined(b: _Batch, c: ParticipantJoined) -> None:
    b.insert(
        PARTICIPATIONS,
        conference=c.conference,
        uniqueid=c.uniqueid,
        linkedid=getattr(b.event(c.seq), "linkedid", None),
        channel=c.channel,
        caller_num=c.caller_id_num,
        admin=c.admin,
        joined_at=to_datetime(c.at),
    )


def _participant_left(b: _Batch, conference: str, uniqueid: str, channel: str, at: float) -> None:
    found = b.open_row(PARTICIPATIONS, "not_left", conference=conference, uniqueid=uniqueid)
    if found is None:
        b.insert(
            PARTICIPATIONS,
            conference=conference,
            uniqueid=uniqueid,
            channel=channel,
            admin=False,
            joined_at=None,
            left_at=to_datetime(at),
        )
    else:
        b.set(
            PARTICIPATIONS, found, left_at=to_datetime(at), seconds=_seconds(found["joined_at"], at)
        )


def _left(b: _Batch, c: ParticipantLeft) -> None:
    _participant_left(b, c.conference, c.uniqueid, c.channel, c.at)


def _conference_reconciled(b: _Batch, c: ConferenceReconciled) -> None:
    if c.subject != "participant":
        return
    if c.action == "created":
        item = b.event(c.seq)
        b.insert(
            PARTICIPATIONS,
            conference=c.conference,
            uniqueid=c.key,
            linkedid=getattr(item, "linkedid", None),
            channel=getattr(item, "channel", None) or "",
            caller_num=getattr(item, "caller_id_num", None),
            admin=str(getattr(item, "admin", "")).lower() in ("yes", "1", "true"),
            joined_at=None,
        )
    elif c.action == "removed":
        _participant_left(b, c.conference, c.key, "", c.at)


def _parked(b: _Batch, c: CallParked) -> None:
    b.insert(
        PARKED,
        lot=c.lot,
        space=c.space,
        parkee_uniqueid=c.parkee_uniqueid,
        parkee_channel=c.parkee_channel,
        parkee_linkedid=getattr(b.event(c.seq), "parkee_linkedid", None),
        parker_dial_string=c.parker_dial_string,
        timeout=c.timeout,
        parked_at=to_datetime(c.at),
        outcome="parked",
    )


_PARK_OUTCOME = {CallUnparked: "retrieved", ParkingTimedOut: "timeout", ParkedCallGaveUp: "giveup"}


def _unparked(b: _Batch, c: CallUnparked | ParkingTimedOut | ParkedCallGaveUp) -> None:
    found = b.open_row(PARKED, "not_ended", lot=c.lot, parkee_uniqueid=c.parkee_uniqueid)
    if found is None:
        return
    values: dict[str, Any] = {
        "outcome": _PARK_OUTCOME[type(c)],
        "ended_at": to_datetime(c.at),
        "seconds": _seconds(found["parked_at"], c.at),
    }
    if isinstance(c, CallUnparked):
        values.update(
            retriever_uniqueid=c.retriever_uniqueid, retriever_channel=c.retriever_channel
        )
    b.set(PARKED, found, **values)


def _parking_reconciled(b: _Batch, c: ParkingReconciled) -> None:
    """A ParkedCalls reply named a parked call we had not seen, or no longer lists one."""
    if not c.space:
        return  # a lot
    if c.action == "created":
        item = b.event(c.seq)
        b.insert(
            PARKED,
            lot=c.lot,
            space=c.space,
            parkee_uniqueid=getattr(item, "parkee_uniqueid", None),
            parkee_channel=getattr(item, "parkee_channel", None),
            parkee_linkedid=getattr(item, "parkee_linkedid", None),
            parker_dial_string=getattr(item, "parker_dial_string", None),
            timeout=getattr(item, "parking_timeout", None),
            parked_at=to_datetime(c.at - (getattr(item, "parking_duration", None) or 0)),
            outcome="parked",
        )
    elif c.action == "removed":
        keys = {"lot": c.lot, "space": c.space}
        b.set_open(PARKED, "not_ended", keys, outcome="unknown", ended_at=to_datetime(c.at))


def _swapped(b: _Batch, c: ParkedCallSwapped) -> None:
    keys = {"lot": c.lot, "parkee_uniqueid": c.previous_uniqueid}
    b.set_open(PARKED, "not_ended", keys, parkee_uniqueid=c.parkee_uniqueid)


def _queue_groups(c: Any) -> list[tuple[Table, tuple[Any, ...]]]:
    return [(QUEUE_CALLS, (c.queue, c.uniqueid)), (OFFERS, (c.queue, c.uniqueid))]


def _member_groups(queue: str, interface: str) -> list[tuple[Table, tuple[Any, ...]]]:
    return [(MEMBERS, (queue, interface)), (PAUSES, (queue, interface))]


def _reconciled_groups(c: QueueReconciled) -> list[tuple[Table, tuple[Any, ...]]]:
    if c.subject == "member":
        return _member_groups(c.queue, c.key)
    return [(QUEUE_CALLS, (c.queue, c.key)), (OFFERS, (c.queue, c.key))]


def _no_groups(c: Any) -> list[tuple[Table, tuple[Any, ...]]]:
    return []


_GROUPS: dict[type[Any], Callable[[Any], list[tuple[Table, tuple[Any, ...]]]]] = {
    QueueCallerAbandoned: _queue_groups,
    QueueCallerLeft: _queue_groups,
    AgentConnected: _queue_groups,
    AgentCompleted: _queue_groups,
    AgentRingNoAnswer: lambda c: [(OFFERS, (c.queue, c.uniqueid))],
    AgentDumped: lambda c: [(OFFERS, (c.queue, c.uniqueid))],
    QueueMemberAdded: lambda c: [(PAUSES, (c.queue, c.interface))],
    QueueMemberRemoved: lambda c: _member_groups(c.queue, c.interface),
    QueueMemberPaused: lambda c: [(PAUSES, (c.queue, c.interface))],
    QueueReconciled: _reconciled_groups,
    ParticipantLeft: lambda c: [(PARTICIPATIONS, (c.conference, c.uniqueid))],
    ConferenceReconciled: lambda c: [(PARTICIPATIONS, (c.conference, c.key))],
    CallUnparked: lambda c: [(PARKED, (c.lot,))],
    ParkingTimedOut: lambda c: [(PARKED, (c.lot,))],
    ParkedCallGaveUp: lambda c: [(PARKED, (c.lot,))],
    ParkedCallSwapped: lambda c: [(PARKED, (c.lot,))],
    ParkingReconciled: lambda c: [(PARKED, (c.lot,))],
}
"""Change record class -> the fact groups its handler looks rows up in (read up front; a
group missing here is read when first needed, one statement each)."""


# ---- gaps between sessions -------------------------------------------------------------------


def _gap(b: _Batch, c: GapUpdated) -> None:
    """Insert or update the gap's row (each ``GapUpdated`` carries its whole account)."""
    g = c.gap
    values = {
        "last_seq": g.last_seq,
        "since_at": to_datetime(g.since),
        "until_at": to_datetime(g.until),
        "seconds": g.seconds,
        "calls_cut": g.calls_cut,
        "ended_unseen": g.ended_unseen,
        "joined_unseen": g.joined_unseen,
        "channels_unseen": g.channels_unseen,
    }
    conn = b.conn
    where = (GAPS.c.server_id == b.server_id, GAPS.c.seq == g.seq)
    gap_id = conn.execute(select(GAPS.c.id).where(*where)).scalar()
    if gap_id is None:
        gap_id = conn.execute(
            insert(GAPS).returning(GAPS.c.id), {**b.ids(), "seq": g.seq, **values}
        ).scalar_one()
    else:
        conn.execute(update(GAPS).where(GAPS.c.id == gap_id).values(**values))
        conn.execute(delete(GAP_QUEUES).where(GAP_QUEUES.c.gap_id == gap_id))
    if g.queues:
        rows = [
            {
                "gap_id": gap_id,
                "server_id": b.server_id,
                "queue": q.queue,
                "completed": q.completed,
                "abandoned": q.abandoned,
                "recorded": q.recorded,
                "unrecorded": q.unrecorded,
            }
            for q in g.queues
        ]
        conn.execute(insert(GAP_QUEUES), rows)


_HANDLERS: dict[type[Any], Callable[[_Batch, Any], None]] = {
    CallEnded: _call_ended,
    QueueCallerJoined: _queue_join,
    QueueCallerAbandoned: _queue_abandon,
    QueueCallerLeft: _queue_leave,
    AgentConnected: _agent_connect,
    AgentCompleted: _agent_complete,
    AgentCalled: _agent_called,
    AgentRingNoAnswer: _offer_ended,
    AgentDumped: _offer_ended,
    QueueMemberAdded: _member_added,
    QueueMemberRemoved: _member_removed,
    QueueMemberPaused: _member_paused,
    QueueReconciled: _queue_reconciled,
    ParticipantJoined: _participant_joined,
    ParticipantLeft: _left,
    ConferenceReconciled: _conference_reconciled,
    CallParked: _parked,
    CallUnparked: _unparked,
    ParkingTimedOut: _unparked,
    ParkedCallGaveUp: _unparked,
    ParkedCallSwapped: _swapped,
    ParkingReconciled: _parking_reconciled,
    GapUpdated: _gap,
}
"""Change record class -> writer (every other change leaves the reporting tables alone)."""


# ---- Asterisk's own records ------------------------------------------------------------------


@functools.cache
def _columns_of(kind: type[Any], table: Table) -> tuple[tuple[str, str], ...]:
    """(field, column) for every field of event class ``kind`` that ``table`` has a column for."""
    renames = CEL_COLUMNS if table is CEL_TABLE else {}
    pairs = []
    for field in msgspec.structs.fields(kind):
        column = renames.get(field.name, field.name)
        if field.name not in _BASE_FIELDS and column in table.c:
            pairs.append((field.name, column))
    return tuple(pairs)


_PLAIN = frozenset((str, int, float, bool, type(None)))
"""Field types stored as they are (any other field's value may be an Enum: its value is)."""


class _Records(NamedTuple):
    """How the rows of Asterisk records of one event class are made."""

    columns: tuple[str, ...]
    get: Callable[[Any], tuple[Any, ...]]
    """The event's fields that have a column, in ``columns`` order (after the first five)."""
    enums: tuple[int, ...]
    """Positions (in the row) of the fields that may hold an Enum."""


@functools.cache
def _records(kind: type[msgspec.Struct], table: Table) -> _Records:
    pairs = _columns_of(kind, table)
    types = {f.name: f.type for f in msgspec.structs.fields(kind)}
    head = ("server_id", "session_id", "seq", "at", "extra")
    enums = tuple(
        len(head) + i
        for i, (field, _) in enumerate(pairs)
        if not set(get_args(types[field]) or (types[field],)) <= _PLAIN
    )
    get = fields_getter([field for field, _ in pairs])
    return _Records((*head, *(column for _, column in pairs)), get, enums)


def _asterisk_rows(b: _Batch, envelopes: list[Envelope], table: Table) -> None:
    """Insert the rows of these envelopes' records (``Cdr`` or ``CEL`` events) into ``table``,
    one statement per event class."""
    by_kind: dict[type[msgspec.Struct], list[list[Any]]] = {}
    server_id, session_id = b.server_id, b.session_id
    for env in envelopes:
        item = env.item
        kind = type(item)
        plan = _records(kind, table)
        row = [
            server_id,
            session_id,
            env.seq,
            getattr(item, "timestamp", None) or env.received_at,
            getattr(item, "extra", {}),
            *plan.get(item),
        ]
        for i in plan.enums:
            value = row[i]
            if isinstance(value, Enum):
                row[i] = value._value_  # ``.value`` is a Python-level property
        by_kind.setdefault(kind, []).append(row)
    for kind_, rows in by_kind.items():
        insert_values(b.conn, table, _records(kind_, table).columns, rows, epochs=True)


_ITEM = operator.attrgetter("item")
_ASTERISK_RECORDS = frozenset((Cdr, CEL))


def _write_asterisk_records(b: _Batch) -> None:
    envelopes = b.envelopes
    kinds = map(type, map(_ITEM, envelopes))
    found = list(itertools.compress(envelopes, map(_ASTERISK_RECORDS.__contains__, kinds)))
    if not found:
        return
    _asterisk_rows(b, [env for env in found if type(env.item) is Cdr], CDR)
    _asterisk_rows(b, [env for env in found if type(env.item) is CEL], CEL_TABLE)


def project_batch(
    conn: Connection,
    *,
    server_id: int,
    session_id: int,
    envelopes: Sequence[Envelope],
    changes: Sequence[Change],
) -> None:
    """Write the reporting rows of one batch (a :class:`tracker.store.schema.Projection`)."""
    batch = _Batch(conn, server_id, session_id, envelopes)
    # most changes (channel states, bridges...) leave these tables alone: skip them in C
    mine = list(itertools.compress(changes, map(_HANDLERS.__contains__, map(type, changes))))
    batch.preload(mine)
    handlers = _HANDLERS
    for change in mine:
        handlers[type(change)](batch, change)
    batch.flush()
    _write_calls(batch)
    _write_asterisk_records(batch)


project_batch.needs = Needs(  # type: ignore[attr-defined]
    frozenset(_HANDLERS), _ASTERISK_RECORDS, causes=True
)
"""What the writer keeps of a batch for this projection (:func:`tracker.store.packed.pack`):
the changes it handles, Asterisk's records, and the events that caused those changes."""


__all__ = ["project_batch"]
