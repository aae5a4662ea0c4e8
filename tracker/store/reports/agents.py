"""``report agents``: per queue member (by member name) and queue, calls taken, talk time
(seconds of completed calls), rings not answered (RINGNOANSWER) and paused time (seconds of
finished pauses); each fact counts in the period it happened in (connect, ring end, pause start).
One query over a ``UNION ALL`` of the three kinds of facts."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Double, Integer, Select, cast, func, literal_column, select, union_all

from ..reporting import QUEUE_CALLS, QUEUE_MEMBER_PAUSES, QUEUE_OFFERS
from ._common import Params, grouped

TITLE = "Agents"


def _zero(kind: Any) -> Any:
    """A typed 0 (PostgreSQL must know each column type of a UNION)."""
    return cast(literal_column("0"), kind())


def query(p: Params) -> Select[Any]:
    q, o, s = QUEUE_CALLS.c, QUEUE_OFFERS.c, QUEUE_MEMBER_PAUSES.c
    facts = union_all(
        select(
            q.server_id,
            q.queue,
            q.agent.label("agent"),
            q.connected_at.label("at"),
            cast(literal_column("1"), Integer()).label("taken"),
            func.coalesce(q.talk, _zero(Double)).label("talk"),
            _zero(Integer).label("rna"),
            _zero(Double).label("paused"),
        ).where(q.outcome == "answered", q.agent.is_not(None)),
        select(
            o.server_id,
            o.queue,
            o.member_name,
            func.coalesce(o.ended_at, o.called_at),
            _zero(Integer),
            _zero(Double),
            cast(literal_column("1"), Integer()),
            _zero(Double),
        ).where(o.outcome == "ringnoanswer"),
        select(
            s.server_id,
            s.queue,
            s.member_name,
            s.paused_at,
            _zero(Integer),
            _zero(Double),
            _zero(Integer),
            func.coalesce(s.seconds, _zero(Double)),
        ),
    ).subquery("facts")
    f = facts.c
    return (
        grouped(
            facts,
            f.at,
            p,
            f.agent.label("agent"),
            f.queue.label("queue"),
            func.sum(f.taken).label("calls"),
            func.sum(f.talk).label("talk"),
            func.sum(f.rna).label("ring_no_answer"),
            func.sum(f.paused).label("paused"),
        )
        .group_by(f.agent, f.queue)
        .order_by(f.agent, f.queue)
    )
