"""Reporting tables: call history and queue, agent, conference and parking facts, plus Asterisk's
own CDR and CEL records, written by :mod:`tracker.store.projection` in the same transaction as the
frames they come from.

Conventions (so a user can write reports by hand):

* every row has ``server_id`` (``servers.id``) and ``session_id`` (the AMI session or import that
  wrote it), not declared as foreign keys: the writer takes both from the rows it reads or
  creates in the same transaction, servers and sessions are never deleted, and PostgreSQL's
  check of two keys per row was about half its CPU for the bulk rows (migration 0005); times
  are timezone-aware (UTC) timestamps named ``*_at``; durations are seconds;
* ``calls`` has one row per ended call, one column per field of the call record
  (:class:`tracker.state.call.Call`; nested records flattened with their field name as prefix:
  ``caller_num``, ``queue_wait``, ``parked_lot``), and its frame range ``first_seq..last_seq``;
  its lists are child tables keyed by ``(call_id, ordinal)``: ``call_legs`` and ``transfers``;
* the other fact tables are filled while things happen (a queue caller appears when it joins), so
  a report on a live database sees what is in progress; an open fact has a NULL end time;
* ``asterisk_cdr`` / ``asterisk_cel``: the ``Cdr`` (cdr_manager) and ``CEL`` (cel_manager) events
  as Asterisk sent them; join them to ours on ``uniqueid``
  (``asterisk_cdr.unique_id = call_legs.uniqueid``) or ``linkedid``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Double,
    ForeignKey,
    Index,
    Integer,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base
from .reporting_types import ReportId, UtcDateTime


def _server(**kw: Any) -> Mapped[int]:
    """``servers.id``, without a foreign key (see the module's conventions)."""
    return mapped_column(Integer, **kw)


def _session(**kw: Any) -> Mapped[int]:
    """``sessions.id``, without a foreign key (see the module's conventions)."""
    return mapped_column(Integer, **kw)


def _time() -> Mapped[datetime | None]:
    return mapped_column(UtcDateTime)


class _Fact:
    """Columns every fact table starts with."""

    id: Mapped[int] = mapped_column(ReportId, primary_key=True, sort_order=-30)
    server_id: Mapped[int] = _server(sort_order=-29)
    session_id: Mapped[int] = _session(sort_order=-28)


class _AsteriskRecord(_Fact):
    """Columns of Asterisk's own records (``Cdr`` and ``CEL`` events)."""

    seq: Mapped[int] = mapped_column(BigInteger, sort_order=-27)
    """The frame the event came in."""
    at: Mapped[datetime | None] = mapped_column(UtcDateTime, sort_order=-26)
    """The event's time (its ``Timestamp``)."""
    account_code: Mapped[str | None] = mapped_column(Text)
    channel: Mapped[str | None] = mapped_column(Text)
    unique_id: Mapped[str | None] = mapped_column(Text)
    user_field: Mapped[str | None] = mapped_column(Text)
    ama_flags: Mapped[str | None] = mapped_column(Text)
    extra: Mapped[dict[str, Any]] = mapped_column(JSON)
    """Headers not modelled (e.g. cdr_manager ``[mappings]`` such as a LinkedID)."""


class CallRow(_Fact, Base):
    """One ended call (the call record)."""

    __tablename__ = "calls"
    __table_args__ = (
        Index("ix_calls_server_id_start", "server_id", "start_at"),
        Index("ix_calls_server_id_linkedid", "server_id", "linkedid"),
    )

    linkedid: Mapped[str] = mapped_column(Text)
    start_at: Mapped[datetime] = mapped_column(UtcDateTime)
    origin: Mapped[str] = mapped_column(Text)
    caller_answer_at: Mapped[datetime | None] = _time()
    answer_at: Mapped[datetime | None] = _time()
    end_at: Mapped[datetime | None] = _time()
    duration: Mapped[float] = mapped_column(Double)
    billsec: Mapped[float] = mapped_column(Double)
    disposition: Mapped[str] = mapped_column(Text)
    hangup_cause: Mapped[int | None] = mapped_column(Integer)
    hangup_cause_txt: Mapped[str] = mapped_column(Text)
    caller_num: Mapped[str] = mapped_column(Text)
    caller_name: Mapped[str] = mapped_column(Text)
    caller_channel: Mapped[str] = mapped_column(Text)
    callee_num: Mapped[str | None] = mapped_column(Text)
    callee_name: Mapped[str | None] = mapped_column(Text)
    callee_channel: Mapped[str | None] = mapped_column(Text)
    dial_status: Mapped[str] = mapped_column(Text)
    queue_name: Mapped[str | None] = mapped_column(Text)
    queue_joined_at: Mapped[datetime | None] = _time()
    queue_position: Mapped[int | None] = mapped_column(Integer)
    queue_left_at: Mapped[datetime | None] = _time()
    queue_wait: Mapped[float | None] = mapped_column(Double)
    queue_outcome: Mapped[str | None] = mapped_column(Text)
    queue_agent: Mapped[str | None] = mapped_column(Text)
    queue_joined_late: Mapped[bool | None] = mapped_column(Boolean)
    parked_lot: Mapped[str | None] = mapped_column(Text)
    parked_space: Mapped[str | None] = mapped_column(Text)
    parked_at: Mapped[datetime | None] = _time()
    parked_outcome: Mapped[str | None] = mapped_column(Text)
    conference: Mapped[str | None] = mapped_column(Text)
    ended_while_disconnected: Mapped[bool] = mapped_column(Boolean)
    reconciled: Mapped[bool] = mapped_column(Boolean)
    joined_late: Mapped[bool] = mapped_column(Boolean)
    gap: Mapped[bool] = mapped_column(Boolean)
    first_seq: Mapped[int] = mapped_column(BigInteger)
    last_seq: Mapped[int] = mapped_column(BigInteger)


class CallLegRow(Base):
    """One channel of a call (``Call.ended_legs``; ``position`` is its index in ``Call.legs``)."""

    __tablename__ = "call_legs"
    __table_args__ = (Index("ix_call_legs_server_id_uniqueid", "server_id", "uniqueid"),)

    call_id: Mapped[int] = mapped_column(
        ForeignKey("calls.id", ondelete="CASCADE"), primary_key=True
    )
    ordinal: Mapped[int] = mapped_column(Integer, primary_key=True)
    """Order in which the legs left the call."""
    server_id: Mapped[int] = _server()
    position: Mapped[int] = mapped_column(Integer)
    """Order of arrival in the call."""
    role: Mapped[str] = mapped_column(Text)
    """``caller`` (the call's first channel), ``callee`` (the answering party), ``originated``
    (made by an Originate), ``dialed`` (by another channel), else ``other``."""
    uniqueid: Mapped[str] = mapped_column(Text)
    channel: Mapped[str] = mapped_column(Text)
    num: Mapped[str] = mapped_column(Text)
    name: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    answered_at: Mapped[datetime | None] = _time()
    hungup_at: Mapped[datetime | None] = _time()
    cause: Mapped[int | None] = mapped_column(Integer)
    cause_txt: Mapped[str] = mapped_column(Text)
    dialed_by: Mapped[str | None] = mapped_column(Text)
    moved_to: Mapped[str | None] = mapped_column(Text)


class TransferRow(Base):
    """A transfer a call took part in (``Call.transfers``)."""

    __tablename__ = "transfers"

    call_id: Mapped[int] = mapped_column(
        ForeignKey("calls.id", ondelete="CASCADE"), primary_key=True
    )
    ordinal: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    result: Mapped[str] = mapped_column(Text)
    transferer: Mapped[str] = mapped_column(Text)
    transferee: Mapped[str] = mapped_column(Text)
    target: Mapped[str] = mapped_column(Text)
    dest_type: Mapped[str] = mapped_column(Text)


class QueueCallRow(_Fact, Base):
    """A caller's passage through a queue (join .. answered, abandoned or exited)."""

    __tablename__ = "queue_calls"
    __table_args__ = (
        Index("ix_queue_calls_server_id_joined", "server_id", "joined_at"),
        Index("ix_queue_calls_server_id_queue_uniqueid", "server_id", "queue", "uniqueid"),
    )

    queue: Mapped[str] = mapped_column(Text)
    uniqueid: Mapped[str] = mapped_column(Text)
    """The caller's channel."""
    linkedid: Mapped[str | None] = mapped_column(Text)
    channel: Mapped[str] = mapped_column(Text)
    caller_num: Mapped[str | None] = mapped_column(Text)
    caller_name: Mapped[str | None] = mapped_column(Text)
    position: Mapped[int | None] = mapped_column(Integer)
    """Position on joining."""
    joined_at: Mapped[datetime | None] = _time()
    """NULL when the join was not seen (the caller was found by a resync)."""
    joined_late: Mapped[bool] = mapped_column(Boolean)
    """The join was not seen (found by a resync, or only its end was): times before we
    connected are Asterisk's own figures (hold and talk time) or unknown."""
    left_at: Mapped[datetime | None] = _time()
    wait: Mapped[float | None] = mapped_column(Double)
    """Seconds from joining to being connected, abandoning or leaving."""
    outcome: Mapped[str] = mapped_column(Text)
    """``waiting``, ``answered``, ``abandoned``, ``exited`` (left unanswered: timeout, ...), or
    ``unknown`` (gone while we were not connected: a resync no longer listed it)."""
    agent: Mapped[str | None] = mapped_column(Text)
    """Member name of the agent that answered."""
    interface: Mapped[str | None] = mapped_column(Text)
    connected_at: Mapped[datetime | None] = _time()
    completed_at: Mapped[datetime | None] = _time()
    talk: Mapped[float | None] = mapped_column(Double)
    """Seconds from connect to completion (our clock)."""
    complete_reason: Mapped[str | None] = mapped_column(Text)
    """``caller``, ``agent`` or ``transfer`` (AgentComplete's Reason)."""


class QueueOfferRow(_Fact, Base):
    """A caller offered to a queue member (AgentCalled) and how that ended."""

    __tablename__ = "queue_offers"
    __table_args__ = (
        Index("ix_queue_offers_server_id_queue_uniqueid", "server_id", "queue", "uniqueid"),
    )

    queue: Mapped[str] = mapped_column(Text)
    uniqueid: Mapped[str] = mapped_column(Text)
    interface: Mapped[str] = mapped_column(Text)
    member_name: Mapped[str] = mapped_column(Text)
    called_at: Mapped[datetime | None] = _time()
    """NULL when the offer was not seen (a ring-no-answer of an earlier session)."""
    ended_at: Mapped[datetime | None] = _time()
    outcome: Mapped[str] = mapped_column(Text)
    """``ringing``, ``connected``, ``ringnoanswer``, ``canceled`` or ``dumped``."""
    ring_time: Mapped[int | None] = mapped_column(Integer)


class QueueMemberSessionRow(_Fact, Base):
    """A member's time in a queue: added .. removed."""

    __tablename__ = "queue_member_sessions"
    __table_args__ = (
        Index(
            "ix_queue_member_sessions_server_id_queue_interface",
            "server_id",
            "queue",
            "interface",
        ),
    )

    queue: Mapped[str] = mapped_column(Text)
    interface: Mapped[str] = mapped_column(Text)
    member_name: Mapped[str] = mapped_column(Text)
    added_at: Mapped[datetime | None] = _time()
    """NULL when the member was found by a resync (QueueStatus), not seen being added."""
    removed_at: Mapped[datetime | None] = _time()
    removed_by_resync: Mapped[bool] = mapped_column(Boolean, default=False)


class QueueMemberPauseRow(_Fact, Base):
    """A paused interval of a queue member, with its reason."""

    __tablename__ = "queue_member_pauses"
    __table_args__ = (
        Index(
            "ix_queue_member_pauses_server_id_queue_interface", "server_id", "queue", "interface"
        ),
    )

    queue: Mapped[str] = mapped_column(Text)
    interface: Mapped[str] = mapped_column(Text)
    member_name: Mapped[str] = mapped_column(Text)
    paused_at: Mapped[datetime] = mapped_column(UtcDateTime)
    unpaused_at: Mapped[datetime | None] = _time()
    seconds: Mapped[float | None] = mapped_column(Double)
    reason: Mapped[str] = mapped_column(Text)


class ConferenceParticipationRow(_Fact, Base):
    """A channel's stay in a conference room (ConfBridge or MeetMe)."""

    __tablename__ = "conference_participations"
    __table_args__ = (
        Index("ix_conference_participations_server_id_joined", "server_id", "joined_at"),
        Index(
            "ix_conference_participations_server_id_uniqueid", "server_id", "conference", "uniqueid"
        ),
    )

    conference: Mapped[str] = mapped_column(Text)
    uniqueid: Mapped[str] = mapped_column(Text)
    linkedid: Mapped[str | None] = mapped_column(Text)
    channel: Mapped[str] = mapped_column(Text)
    caller_num: Mapped[str | None] = mapped_column(Text)
    admin: Mapped[bool] = mapped_column(Boolean)
    joined_at: Mapped[datetime | None] = _time()
    """NULL when the join was not seen (found by a resync)."""
    left_at: Mapped[datetime | None] = _time()
    seconds: Mapped[float | None] = mapped_column(Double)


class ParkedCallRow(_Fact, Base):
    """A call parked in a lot, until retrieved, timed out or given up."""

    __tablename__ = "parked_calls"
    __table_args__ = (Index("ix_parked_calls_server_id_parked", "server_id", "parked_at"),)

    lot: Mapped[str] = mapped_column(Text)
    space: Mapped[str] = mapped_column(Text)
    parkee_uniqueid: Mapped[str | None] = mapped_column(Text)
    parkee_channel: Mapped[str | None] = mapped_column(Text)
    parkee_linkedid: Mapped[str | None] = mapped_column(Text)
    parker_dial_string: Mapped[str | None] = mapped_column(Text)
    timeout: Mapped[int | None] = mapped_column(Integer)
    parked_at: Mapped[datetime] = mapped_column(UtcDateTime)
    ended_at: Mapped[datetime | None] = _time()
    seconds: Mapped[float | None] = mapped_column(Double)
    outcome: Mapped[str] = mapped_column(Text)
    """``parked``, ``retrieved``, ``timeout``, ``giveup``, or ``unknown`` (gone while we were not
    connected: a resync no longer listed it)."""
    retriever_uniqueid: Mapped[str | None] = mapped_column(Text)
    retriever_channel: Mapped[str | None] = mapped_column(Text)


class AsteriskCdrRow(_AsteriskRecord, Base):
    """A ``Cdr`` event (cdr_manager), as sent; times are Asterisk's local-time text."""

    __tablename__ = "asterisk_cdr"
    __table_args__ = (
        Index("ix_asterisk_cdr_server_id_unique_id", "server_id", "unique_id"),
        Index("ix_asterisk_cdr_server_id_at", "server_id", "at"),
    )

    source: Mapped[str | None] = mapped_column(Text)
    destination: Mapped[str | None] = mapped_column(Text)
    destination_context: Mapped[str | None] = mapped_column(Text)
    caller_id: Mapped[str | None] = mapped_column(Text)
    destination_channel: Mapped[str | None] = mapped_column(Text)
    last_application: Mapped[str | None] = mapped_column(Text)
    last_data: Mapped[str | None] = mapped_column(Text)
    start_time: Mapped[str | None] = mapped_column(Text)
    answer_time: Mapped[str | None] = mapped_column(Text)
    end_time: Mapped[str | None] = mapped_column(Text)
    duration: Mapped[int | None] = mapped_column(Integer)
    billable_seconds: Mapped[int | None] = mapped_column(Integer)
    disposition: Mapped[str | None] = mapped_column(Text)


class AsteriskCelRow(_AsteriskRecord, Base):
    """A ``CEL`` event (cel_manager), as sent."""

    __tablename__ = "asterisk_cel"
    __table_args__ = (
        Index("ix_asterisk_cel_server_id_linked_id", "server_id", "linked_id"),
        Index("ix_asterisk_cel_server_id_at", "server_id", "at"),
    )

    event_name: Mapped[str | None] = mapped_column(Text)
    event_time: Mapped[str | None] = mapped_column(Text)
    cid_num: Mapped[str | None] = mapped_column(Text)
    cid_name: Mapped[str | None] = mapped_column(Text)
    cid_ani: Mapped[str | None] = mapped_column(Text)
    cid_rdnis: Mapped[str | None] = mapped_column(Text)
    cid_dnid: Mapped[str | None] = mapped_column(Text)
    exten: Mapped[str | None] = mapped_column(Text)
    context: Mapped[str | None] = mapped_column(Text)
    application: Mapped[str | None] = mapped_column(Text)
    app_data: Mapped[str | None] = mapped_column(Text)
    linked_id: Mapped[str | None] = mapped_column(Text)
    peer: Mapped[str | None] = mapped_column(Text)
    peer_account: Mapped[str | None] = mapped_column(Text)
    event_extra: Mapped[str | None] = mapped_column(Text)
    """CEL's ``Extra`` (JSON text from Asterisk)."""


class GapRow(_Fact, Base):
    """A gap between two AMI sessions of a server (:class:`tracker.state.gap.Gap`): the tracker
    saw nothing from ``since_at`` (frame ``last_seq``) until ``until_at`` (the session
    ``session_id`` began at frame ``seq``). Figures over a period that meets a gap are
    incomplete."""

    __tablename__ = "gaps"
    __table_args__ = (
        UniqueConstraint("server_id", "seq"),
        Index("ix_gaps_server_id_since", "server_id", "since_at"),
    )

    seq: Mapped[int] = mapped_column(BigInteger)
    """The banner of the session after the gap."""
    last_seq: Mapped[int] = mapped_column(BigInteger)
    """The last frame before the gap."""
    since_at: Mapped[datetime] = mapped_column(UtcDateTime)
    until_at: Mapped[datetime | None] = _time()
    """NULL until the session's first live event."""
    seconds: Mapped[float] = mapped_column(Double)
    calls_cut: Mapped[int] = mapped_column(Integer)
    """Calls up when the gap began (their records are flagged ``gap``)."""
    ended_unseen: Mapped[int] = mapped_column(Integer)
    """Of those, calls that ended in the gap (found gone by the resync)."""
    joined_unseen: Mapped[int] = mapped_column(Integer)
    """Calls that began in the gap and were still up at the resync (flagged ``gap``)."""
    channels_unseen: Mapped[int | None] = mapped_column(Integer)
    """Channels created and hung up in the gap, never seen (from Asterisk's Uniqueid counter);
    NULL: unknown."""


class GapQueueRow(Base):
    """A queue's counters across a gap (:class:`tracker.state.gap.QueueGap`): callers that
    completed or abandoned unseen; ``unrecorded`` of them lived entirely inside the gap and
    have no call record."""

    __tablename__ = "gap_queues"

    gap_id: Mapped[int] = mapped_column(ForeignKey("gaps.id", ondelete="CASCADE"), primary_key=True)
    queue: Mapped[str] = mapped_column(Text, primary_key=True)
    server_id: Mapped[int] = _server()
    completed: Mapped[int] = mapped_column(Integer)
    abandoned: Mapped[int] = mapped_column(Integer)
    recorded: Mapped[int] = mapped_column(Integer)
    unrecorded: Mapped[int] = mapped_column(Integer)


def _table(model: type[Base]) -> Table:
    table = model.__table__
    assert isinstance(table, Table)
    return table


CALLS = _table(CallRow)
CALL_LEGS = _table(CallLegRow)
TRANSFERS = _table(TransferRow)
QUEUE_CALLS = _table(QueueCallRow)
QUEUE_OFFERS = _table(QueueOfferRow)
QUEUE_MEMBER_SESSIONS = _table(QueueMemberSessionRow)
QUEUE_MEMBER_PAUSES = _table(QueueMemberPauseRow)
CONFERENCE_PARTICIPATIONS = _table(ConferenceParticipationRow)
PARKED_CALLS = _table(ParkedCallRow)
ASTERISK_CDR = _table(AsteriskCdrRow)
ASTERISK_CEL = _table(AsteriskCelRow)
GAPS = _table(GapRow)
GAP_QUEUES = _table(GapQueueRow)

REPORTING_TABLES = (
    CALLS,
    CALL_LEGS,
    TRANSFERS,
    QUEUE_CALLS,
    QUEUE_OFFERS,
    QUEUE_MEMBER_SESSIONS,
    QUEUE_MEMBER_PAUSES,
    CONFERENCE_PARTICIPATIONS,
    PARKED_CALLS,
    ASTERISK_CDR,
    ASTERISK_CEL,
    GAPS,
    GAP_QUEUES,
)
"""Every table this module defines, in dependency order."""
