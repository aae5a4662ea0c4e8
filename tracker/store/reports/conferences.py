"""``report conferences``: conference rooms used, participants (stays in a room) and the minutes
they spent there (stays still open count nothing yet); by the join time."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, distinct, func

from ..reporting import CONFERENCE_PARTICIPATIONS
from ._common import Params, grouped

TITLE = "Conferences"


def query(p: Params) -> Select[Any]:
    c = CONFERENCE_PARTICIPATIONS.c
    return grouped(
        CONFERENCE_PARTICIPATIONS,
        c.joined_at,
        p,
        func.count(distinct(c.conference)).label("rooms"),
        func.count().label("participants"),
        (func.coalesce(func.sum(c.seconds), 0.0) / 60.0).label("minutes"),
    )
