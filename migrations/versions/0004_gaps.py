"""gaps between sessions: the gaps and gap_queues tables, calls.gap

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 16:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        # calls recorded before this revision were not flagged: false, as they were read then
        batch.add_column(sa.Column("gap", sa.Boolean(), nullable=False, server_default=sa.false()))
    with op.batch_alter_table("calls") as batch:
        batch.alter_column("gap", server_default=None)
    op.create_table(
        "gaps",
        sa.Column("id", _ID, nullable=False),
        sa.Column("server_id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.Column("since_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("until_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("seconds", sa.Double(), nullable=False),
        sa.Column("calls_cut", sa.Integer(), nullable=False),
        sa.Column("ended_unseen", sa.Integer(), nullable=False),
        sa.Column("joined_unseen", sa.Integer(), nullable=False),
        sa.Column("channels_unseen", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["server_id"], ["servers.id"], name=op.f("fk_gaps_server_id_servers")
        ),
        sa.ForeignKeyConstraint(
            ["session_id"], ["sessions.id"], name=op.f("fk_gaps_session_id_sessions")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gaps")),
        sa.UniqueConstraint("server_id", "seq", name=op.f("uq_gaps_server_id_seq")),
    )
    op.create_index("ix_gaps_server_id_since", "gaps", ["server_id", "since_at"], unique=False)
    op.create_table(
        "gap_queues",
        sa.Column("gap_id", _ID, nullable=False),
        sa.Column("queue", sa.Text(), nullable=False),
        sa.Column("server_id", sa.Integer(), nullable=False),
        sa.Column("completed", sa.Integer(), nullable=False),
        sa.Column("abandoned", sa.Integer(), nullable=False),
        sa.Column("recorded", sa.Integer(), nullable=False),
        sa.Column("unrecorded", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["gap_id"], ["gaps.id"], name=op.f("fk_gap_queues_gap_id_gaps"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["server_id"], ["servers.id"], name=op.f("fk_gap_queues_server_id_servers")
        ),
        sa.PrimaryKeyConstraint("gap_id", "queue", name=op.f("pk_gap_queues")),
    )


def downgrade() -> None:
    op.drop_table("gap_queues")
    op.drop_index("ix_gaps_server_id_since", table_name="gaps")
    op.drop_table("gaps")
    with op.batch_alter_table("calls") as batch:
        batch.drop_column("gap")
