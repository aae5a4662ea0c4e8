"""reporting tables: server_id / session_id without foreign keys

PostgreSQL checks a foreign key per inserted row with a trigger and a lookup; on the load
capture that was about half of the server's CPU for the reporting rows (``COPY`` into
``calls``, ``call_legs``, ``asterisk_cdr`` ...). The writer takes both ids from the rows it
reads or creates in the same transaction, and servers and sessions are never deleted, so the
keys only ever cost. The keys to ``calls`` and ``gaps`` (``ON DELETE CASCADE``) stay.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 21:50:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_KEYS: dict[str, tuple[str, ...]] = {
    "asterisk_cdr": ("server_id", "session_id"),
    "asterisk_cel": ("server_id", "session_id"),
    "calls": ("server_id", "session_id"),
    "call_legs": ("server_id",),
    "queue_calls": ("server_id", "session_id"),
    "queue_offers": ("server_id", "session_id"),
    "queue_member_sessions": ("server_id", "session_id"),
    "queue_member_pauses": ("server_id", "session_id"),
    "conference_participations": ("server_id", "session_id"),
    "parked_calls": ("server_id", "session_id"),
    "gaps": ("server_id", "session_id"),
    "gap_queues": ("server_id",),
}
"""Reporting table -> its columns that lose their foreign key."""


def _name(table: str, column: str) -> str:
    return f"fk_{table}_{column}_{column.removesuffix('_id')}s"


def upgrade() -> None:
    for table, columns in _KEYS.items():
        with op.batch_alter_table(table) as batch:
            for column in columns:
                batch.drop_constraint(_name(table, column), type_="foreignkey")


def downgrade() -> None:
    for table, columns in _KEYS.items():
        with op.batch_alter_table(table) as batch:
            for column in columns:
                referred = f"{column.removesuffix('_id')}s"
                batch.create_foreign_key(_name(table, column), referred, [column], ["id"])
