"""core store: servers, sessions, frame blocks, snapshots, anomalies

Revision ID: 0001
Revises:
Create Date: 2026-11-29 13:13:27.774949
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "servers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("ami_url", sa.String(length=500), nullable=True),
        sa.Column("versions", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_servers")),
        sa.UniqueConstraint("name", name=op.f("uq_servers_name")),
    )
    op.create_table(
        "sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("server_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("origin", sa.String(length=1000), nullable=True),
        sa.Column("first_seq", sa.BigInteger(), nullable=False),
        sa.Column("frames", sa.BigInteger(), nullable=False),
        sa.Column("first_time", sa.Double(), nullable=True),
        sa.Column("last_time", sa.Double(), nullable=True),
        sa.Column("connected_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("logged_in_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resync_started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resync_ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("disconnected_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("disconnect_reason", sa.Text(), nullable=True),
        sa.Column("live_events", sa.BigInteger(), nullable=False),
        sa.Column("stamped_events", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["server_id"], ["servers.id"], name=op.f("fk_sessions_server_id_servers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sessions")),
        sa.UniqueConstraint("server_id", "first_seq", name=op.f("uq_sessions_server_id_first_seq")),
        sa.UniqueConstraint("server_id", "key", name=op.f("uq_sessions_server_id_key")),
    )
    op.create_table(
        "frame_blocks",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("server_id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("first_seq", sa.BigInteger(), nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.Column("first_offset", sa.BigInteger(), nullable=False),
        sa.Column("frame_count", sa.Integer(), nullable=False),
        sa.Column("first_time", sa.Double(), nullable=False),
        sa.Column("last_time", sa.Double(), nullable=False),
        sa.Column("codec", sa.SmallInteger(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["server_id"], ["servers.id"], name=op.f("fk_frame_blocks_server_id_servers")
        ),
        sa.ForeignKeyConstraint(
            ["session_id"], ["sessions.id"], name=op.f("fk_frame_blocks_session_id_sessions")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_frame_blocks")),
        sa.UniqueConstraint(
            "server_id", "first_seq", name=op.f("uq_frame_blocks_server_id_first_seq")
        ),
        sa.UniqueConstraint(
            "session_id", "first_offset", name=op.f("uq_frame_blocks_session_id_first_offset")
        ),
    )
    with op.batch_alter_table("frame_blocks", schema=None) as batch_op:
        batch_op.create_index(
            "ix_frame_blocks_server_id_last_time", ["server_id", "last_time"], unique=False
        )

    op.create_table(
        "snapshots",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("server_id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("clock", sa.Double(), nullable=False),
        sa.Column("fold_version", sa.String(length=40), nullable=False),
        sa.Column("codec", sa.SmallInteger(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["server_id"], ["servers.id"], name=op.f("fk_snapshots_server_id_servers")
        ),
        sa.ForeignKeyConstraint(
            ["session_id"], ["sessions.id"], name=op.f("fk_snapshots_session_id_sessions")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_snapshots")),
        sa.UniqueConstraint(
            "server_id", "fold_version", "seq", name=op.f("uq_snapshots_server_id_fold_version_seq")
        ),
    )

    op.create_table(
        "anomalies",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("server_id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("at", sa.Double(), nullable=False),
        sa.Column("kind", sa.String(length=100), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("event", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["server_id"], ["servers.id"], name=op.f("fk_anomalies_server_id_servers")
        ),
        sa.ForeignKeyConstraint(
            ["session_id"], ["sessions.id"], name=op.f("fk_anomalies_session_id_sessions")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_anomalies")),
    )
    with op.batch_alter_table("anomalies", schema=None) as batch_op:
        batch_op.create_index("ix_anomalies_server_id_seq", ["server_id", "seq"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("anomalies", schema=None) as batch_op:
        batch_op.drop_index("ix_anomalies_server_id_seq")

    op.drop_table("anomalies")
    op.drop_table("snapshots")
    with op.batch_alter_table("frame_blocks", schema=None) as batch_op:
        batch_op.drop_index("ix_frame_blocks_server_id_last_time")

    op.drop_table("frame_blocks")
    op.drop_table("sessions")
    op.drop_table("servers")
