"""``report calls``: calls, answered, ASR (answer-seizure ratio, %), ACD (average call duration of
answered calls: their billsec), the count of each disposition, and ``incomplete``: calls whose
record is partly estimated (they lived through a gap between AMI sessions, were first met in a
resync's list, or a list closed them after their Hangup was lost; ``report gaps`` says more);
by the call's start."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, case, func

from ..reporting import CALLS
from ._common import Params, count_if, grouped, percent

TITLE = "Calls"
DISPOSITIONS = {
    "answered": "ANSWERED",
    "no_answer": "NO ANSWER",
    "busy": "BUSY",
    "failed": "FAILED",
    "congestion": "CONGESTION",
}


def query(p: Params) -> Select[Any]:
    c = CALLS.c
    answered = c.disposition == "ANSWERED"
    return grouped(
        CALLS,
        c.start_at,
        p,
        func.count().label("calls"),
        *(count_if(c.disposition == value).label(key) for key, value in DISPOSITIONS.items()),
        percent(count_if(answered), func.count()).label("asr"),
        func.avg(case((answered, c.billsec))).label("acd"),
        func.coalesce(func.sum(c.billsec), 0.0).label("billsec"),
        count_if(c.gap | c.joined_late | c.ended_while_disconnected | c.reconciled).label(
            "incomplete"
        ),
    )
