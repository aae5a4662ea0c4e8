"""Reports: one SQLAlchemy Core query each (one module each), plain SQL a user could run by hand
(``ami-tracker report NAME --sql`` prints it).

Every report has the columns ``server`` and ``period`` (the UTC hour or day with ``--by``, else
NULL) first, then its figures; times are seconds, ratios percent.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import ModuleType
from typing import Any

from sqlalchemy import Connection, Select

from . import agents, calls, conferences, gaps, queues
from ._common import BUCKETS, Params

REPORTS: dict[str, ModuleType] = {
    "calls": calls,
    "queues": queues,
    "agents": agents,
    "conferences": conferences,
    "gaps": gaps,
}


def report_query(name: str, params: Params) -> Select[Any]:
    module = REPORTS.get(name)
    if module is None:
        raise KeyError(f"unknown report {name!r} (one of {', '.join(REPORTS)})")
    query: Select[Any] = module.query(params)
    return query


def run_report(
    conn: Connection, name: str, params: Params
) -> tuple[list[str], list[Sequence[Any]]]:
    """The column names and rows of report ``name``."""
    result = conn.execute(report_query(name, params))
    return list(result.keys()), [tuple(row) for row in result]


__all__ = ["BUCKETS", "REPORTS", "Params", "report_query", "run_report"]
