"""``report queues``: per queue, callers offered, answered, abandoned and exited unanswered
(timeout, empty queue, exit key), the service level (% of offered callers answered within
``--service-level`` seconds), average and longest wait (every caller's time in the queue until
answered, abandoned or gone), average talk time of completed calls, and ``incomplete``: callers
met only after they joined (after a reconnect) or gone while the tracker was away (outcome
``unknown``); by the join time. Callers that came and went inside a gap are not here: ``report
gaps`` counts them from the queue's own counters."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, func

from ..reporting import QUEUE_CALLS
from ._common import Params, count_if, grouped, percent

TITLE = "Queues"


def query(p: Params) -> Select[Any]:
    q = QUEUE_CALLS.c
    answered = q.outcome == "answered"
    return (
        grouped(
            QUEUE_CALLS,
            q.joined_at,
            p,
            q.queue.label("queue"),
            func.count().label("offered"),
            count_if(answered).label("answered"),
            count_if(q.outcome == "abandoned").label("abandoned"),
            count_if(q.outcome == "exited").label("exited"),
            percent(count_if(answered & (q.wait <= p.service_level)), func.count()).label(
                "service_level"
            ),
            func.avg(q.wait).label("avg_wait"),
            func.max(q.wait).label("max_wait"),
            func.avg(q.talk).label("avg_talk"),
            count_if(q.joined_late | (q.outcome == "unknown")).label("incomplete"),
        )
        .group_by(q.queue)
        .order_by(q.queue)
    )
