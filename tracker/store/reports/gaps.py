"""``report gaps``: where the other reports are incomplete. Gaps between AMI sessions (the
tracker saw nothing of the PBX), their total length, the calls they cut through (recorded,
flagged ``gap``), the calls that ended or began unseen in them, the channels that came and went
unseen (from Asterisk's Uniqueid counter), and the queue callers that completed or abandoned
unseen, of which ``queue_unrecorded`` have no call record at all; by the gap's start."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Integer, Select, cast, func, select

from ..reporting import GAP_QUEUES, GAPS
from ._common import Params, grouped

TITLE = "Gaps between AMI sessions"


def query(p: Params) -> Select[Any]:
    g = GAPS.c
    q = GAP_QUEUES.c
    queues = (
        select(
            q.gap_id,
            # integers per gap (a sum of sums would be numeric on PostgreSQL)
            cast(func.sum(q.completed + q.abandoned), Integer).label("finished"),
            cast(func.sum(q.unrecorded), Integer).label("unrecorded"),
        )
        .group_by(q.gap_id)
        .subquery("gap_queue_totals")
    )
    return grouped(
        GAPS.outerjoin(queues, queues.c.gap_id == g.id),
        g.since_at,
        p,
        func.count().label("gaps"),
        func.coalesce(func.sum(g.seconds), 0.0).label("seconds"),
        func.max(g.seconds).label("longest"),
        func.coalesce(func.sum(g.calls_cut), 0).label("calls_cut"),
        func.coalesce(func.sum(g.ended_unseen), 0).label("ended_unseen"),
        func.coalesce(func.sum(g.joined_unseen), 0).label("joined_unseen"),
        func.sum(g.channels_unseen).label("channels_unseen"),
        func.coalesce(func.sum(queues.c.finished), 0).label("queue_unseen"),
        func.coalesce(func.sum(queues.c.unrecorded), 0).label("queue_unrecorded"),
        server_id=g.server_id,
    )
