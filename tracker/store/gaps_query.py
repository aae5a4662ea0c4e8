"""Reading the gaps between sessions back (``gaps`` and ``gap_queues``), as the fold's records.

A gap meets the range ``[start, until)`` when it began before ``until`` and ended (or, still
open, began) at or after ``start``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Select, func, select

from ..state.gap import Gap, QueueGap
from .engine import translated
from .reporting import GAP_QUEUES, GAPS
from .reporting_query import Moment, aware, server_filter
from .reporting_types import to_epoch
from .store import Store


def gaps_query(
    *, server: str | None = None, start: datetime | None = None, until: datetime | None = None
) -> Select[Any]:
    g = GAPS.c
    where = server_filter(GAPS, server)
    if start is not None:
        where.append(func.coalesce(g.until_at, g.since_at) >= start)
    if until is not None:
        where.append(g.since_at < until)
    return select(GAPS).where(*where).order_by(g.server_id, g.seq)


def gap_records(
    conn: Connection,
    *,
    server: str | None = None,
    start: Moment | None = None,
    until: Moment | None = None,
) -> list[Gap]:
    """The gaps meeting ``[start, until)`` (on ``server``, by name, if given), in log order.
    ``Gap.session`` is the ``sessions.id`` of the session after the gap."""
    rows = list(conn.execute(gaps_query(server=server, start=aware(start), until=aware(until))))
    queues: dict[int, list[QueueGap]] = {row.id: [] for row in rows}
    if rows:
        found = conn.execute(
            select(GAP_QUEUES)
            .where(GAP_QUEUES.c.gap_id.in_(list(queues)))
            .order_by(GAP_QUEUES.c.gap_id, GAP_QUEUES.c.queue)
        )
        for q in found:
            queues[q.gap_id].append(
                QueueGap(
                    queue=q.queue, completed=q.completed, abandoned=q.abandoned, recorded=q.recorded
                )
            )
    return [
        Gap(
            session=row.session_id,
            seq=row.seq,
            last_seq=row.last_seq,
            since=to_epoch(row.since_at) or 0.0,
            until=to_epoch(row.until_at),
            calls_cut=row.calls_cut,
            ended_unseen=row.ended_unseen,
            joined_unseen=row.joined_unseen,
            channels_unseen=row.channels_unseen,
            queues=queues[row.id],
        )
        for row in rows
    ]


def load_gaps(
    store: Store,
    *,
    server: str | None = None,
    start: Moment | None = None,
    until: Moment | None = None,
) -> list[Gap]:
    """:func:`gap_records` from an open store (database errors: ``StoreError``)."""
    with translated(store.url), store.engine.connect() as conn:
        return gap_records(conn, server=server, start=start, until=until)


__all__ = ["gap_records", "gaps_query", "load_gaps"]
