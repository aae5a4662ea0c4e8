"""reporting tables: calls, legs, transfers, queue/agent/conference/parking facts, Asterisk CDR/CEL

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 13:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "asterisk_cdr",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("server_id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("source", sa.Text(), nullable=True),
        sa.Column("destination", sa.Text(), nullable=True),
        sa.Column("destination_context", sa.Text(), nullable=True),
        sa.Column("caller_id", sa.Text(), nullable=True),
        sa.Column("destination_channel", sa.Text(), nullable=True),
        sa.Column("last_application", sa.Text(), nullable=True),
        sa.Column("last_data", sa.Text(), nullable=True),
        sa.Column("start_time", sa.Text(), nullable=True),
        sa.Column("answer_time", sa.Text(), nullable=True),
        sa.Column("end_time", sa.Text(), nullable=True),
        sa.Column("duration", sa.Integer(), nullable=True),
        sa.Column("billable_seconds", sa.Integer(), nullable=True),
        sa.Column("disposition", sa.Text(), nullable=True),
        sa.Column("account_code", sa.Text(), nullable=True),
        sa.Column("channel", sa.Text(), nullable=True),
        sa.Column("unique_id", sa.Text(), nullable=True),
        sa.Column("user_field", sa.Text(), nullable=True),
        sa.Column("ama_flags", sa.Text(), nullable=True),
        sa.Column("extra", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["server_id"], ["servers.id"], name=op.f("fk_asterisk_cdr_server_id_servers")
        ),
        sa.ForeignKeyConstraint(
            ["session_id"], ["sessions.id"], name=op.f("fk_asterisk_cdr_session_id_sessions")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_asterisk_cdr")),
    )
    op.create_index(
        "ix_asterisk_cdr_server_id_at", "asterisk_cdr", ["server_id", "at"], unique=False
    )
    op.create_index(
        "ix_asterisk_cdr_server_id_unique_id",
        "asterisk_cdr",
        ["server_id", "unique_id"],
        unique=False,
    )
    op.create_table(
        "asterisk_cel",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("server_id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("event_name", sa.Text(), nullable=True),
        sa.Column("event_time", sa.Text(), nullable=True),
        sa.Column("cid_num", sa.Text(), nullable=True),
        sa.Column("cid_name", sa.Text(), nullable=True),
        sa.Column("cid_ani", sa.Text(), nullable=True),
        sa.Column("cid_rdnis", sa.Text(), nullable=True),
        sa.Column("cid_dnid", sa.Text(), nullable=True),
        sa.Column("exten", sa.Text(), nullable=True),
        sa.Column("context", sa.Text(), nullable=True),
        sa.Column("application", sa.Text(), nullable=True),
        sa.Column("app_data", sa.Text(), nullable=True),
        sa.Column("linked_id", sa.Text(), nullable=True),
        sa.Column("peer", sa.Text(), nullable=True),
        sa.Column("peer_account", sa.Text(), nullable=True),
        sa.Column("event_extra", sa.Text(), nullable=True),
        sa.Column("account_code", sa.Text(), nullable=True),
        sa.Column("channel", sa.Text(), nullable=True),
        sa.Column("unique_id", sa.Text(), nullable=True),
        sa.Column("user_field", sa.Text(), nullable=True),
        sa.Column("ama_flags", sa.Text(), nullable=True),
        sa.Column("extra", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["server_id"], ["servers.id"], name=op.f("fk_asterisk_cel_server_id_servers")
        ),
        sa.ForeignKeyConstraint(
            ["session_id"], ["sessions.id"], name=op.f("fk_asterisk_cel_session_id_sessions")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_asterisk_cel")),
    )
    op.create_index(
        "ix_asterisk_cel_server_id_at", "asterisk_cel", ["server_id", "at"], unique=False
    )
    op.create_index(
        "ix_asterisk_cel_server_id_linked_id",
        "asterisk_cel",
        ["server_id", "linked_id"],
        unique=False,
    )
    op.create_table(
        "calls",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("server_id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("linkedid", sa.Text(), nullable=False),
        sa.Column("start_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("origin", sa.Text(), nullable=False),
        sa.Column("caller_answer_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("answer_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("end_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("duration", sa.Double(), nullable=False),
        sa.Column("billsec", sa.Double(), nullable=False),
        sa.Column("disposition", sa.Text(), nullable=False),
        sa.Column("hangup_cause", sa.Integer(), nullable=True),
        sa.Column("hangup_cause_txt", sa.Text(), nullable=False),
        sa.Column("caller_num", sa.Text(), nullable=False),
        sa.Column("caller_name", sa.Text(), nullable=False),
        sa.Column("caller_channel", sa.Text(), nullable=False),
        sa.Column("callee_num", sa.Text(), nullable=True),
        sa.Column("callee_name", sa.Text(), nullable=True),
        sa.Column("callee_channel", sa.Text(), nullable=True),
        sa.Column("dial_status", sa.Text(), nullable=False),
        sa.Column("queue_name", sa.Text(), nullable=True),
        sa.Column("queue_joined_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("queue_position", sa.Integer(), nullable=True),
        sa.Column("queue_left_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("queue_wait", sa.Double(), nullable=True),
        sa.Column("queue_outcome", sa.Text(), nullable=True),
        sa.Column("queue_agent", sa.Text(), nullable=True),
        sa.Column("queue_joined_late", sa.Boolean(), nullable=True),
        sa.Column("parked_lot", sa.Text(), nullable=True),
        sa.Column("parked_space", sa.Text(), nullable=True),
        sa.Column("parked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("parked_outcome", sa.Text(), nullable=True),
        sa.Column("conference", sa.Text(), nullable=True),
        sa.Column("ended_while_disconnected", sa.Boolean(), nullable=False),
        sa.Column("reconciled", sa.Boolean(), nullable=False),
        sa.Column("joined_late", sa.Boolean(), nullable=False),
        sa.Column("first_seq", sa.BigInteger(), nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["server_id"], ["servers.id"], name=op.f("fk_calls_server_id_servers")
        ),
        sa.ForeignKeyConstraint(
            ["session_id"], ["sessions.id"], name=op.f("fk_calls_session_id_sessions")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_calls")),
    )
    op.create_index("ix_calls_server_id_linkedid", "calls", ["server_id", "linkedid"], unique=False)
    op.create_index("ix_calls_server_id_start", "calls", ["server_id", "start_at"], unique=False)
    op.create_table(
        "conference_participations",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("server_id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("conference", sa.Text(), nullable=False),
        sa.Column("uniqueid", sa.Text(), nullable=False),
        sa.Column("linkedid", sa.Text(), nullable=True),
        sa.Column("channel", sa.Text(), nullable=False),
        sa.Column("caller_num", sa.Text(), nullable=True),
        sa.Column("admin", sa.Boolean(), nullable=False),
        sa.Column("joined_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("left_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("seconds", sa.Double(), nullable=True),
        sa.ForeignKeyConstraint(
            ["server_id"],
            ["servers.id"],
            name=op.f("fk_conference_participations_server_id_servers"),
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["sessions.id"],
            name=op.f("fk_conference_participations_session_id_sessions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conference_participations")),
    )
    op.create_index(
        "ix_conference_participations_server_id_joined",
        "conference_participations",
        ["server_id", "joined_at"],
        unique=False,
    )
    op.create_index(
        "ix_conference_participations_server_id_uniqueid",
        "conference_participations",
        ["server_id", "conference", "uniqueid"],
        unique=False,
    )
    op.create_table(
        "parked_calls",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("server_id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("lot", sa.Text(), nullable=False),
        sa.Column("space", sa.Text(), nullable=False),
        sa.Column("parkee_uniqueid", sa.Text(), nullable=True),
        sa.Column("parkee_channel", sa.Text(), nullable=True),
        sa.Column("parkee_linkedid", sa.Text(), nullable=True),
        sa.Column("parker_dial_string", sa.Text(), nullable=True),
        sa.Column("timeout", sa.Integer(), nullable=True),
        sa.Column("parked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("seconds", sa.Double(), nullable=True),
        sa.Column("outcome", sa.Text(), nullable=False),
        sa.Column("retriever_uniqueid", sa.Text(), nullable=True),
        sa.Column("retriever_channel", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["server_id"], ["servers.id"], name=op.f("fk_parked_calls_server_id_servers")
        ),
        sa.ForeignKeyConstraint(
            ["session_id"], ["sessions.id"], name=op.f("fk_parked_calls_session_id_sessions")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_parked_calls")),
    )
    op.create_index(
        "ix_parked_calls_server_id_parked", "parked_calls", ["server_id", "parked_at"], unique=False
    )
    op.create_table(
        "queue_calls",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("server_id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("queue", sa.Text(), nullable=False),
        sa.Column("uniqueid", sa.Text(), nullable=False),
        sa.Column("linkedid", sa.Text(), nullable=True),
        sa.Column("channel", sa.Text(), nullable=False),
        sa.Column("caller_num", sa.Text(), nullable=True),
        sa.Column("caller_name", sa.Text(), nullable=True),
        sa.Column("position", sa.Integer(), nullable=True),
        sa.Column("joined_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("joined_late", sa.Boolean(), nullable=False),
        sa.Column("left_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("wait", sa.Double(), nullable=True),
        sa.Column("outcome", sa.Text(), nullable=False),
        sa.Column("agent", sa.Text(), nullable=True),
        sa.Column("interface", sa.Text(), nullable=True),
        sa.Column("connected_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("talk", sa.Double(), nullable=True),
        sa.Column("complete_reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["server_id"], ["servers.id"], name=op.f("fk_queue_calls_server_id_servers")
        ),
        sa.ForeignKeyConstraint(
            ["session_id"], ["sessions.id"], name=op.f("fk_queue_calls_session_id_sessions")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_queue_calls")),
    )
    op.create_index(
        "ix_queue_calls_server_id_joined", "queue_calls", ["server_id", "joined_at"], unique=False
    )
    op.create_index(
        "ix_queue_calls_server_id_queue_uniqueid",
        "queue_calls",
        ["server_id", "queue", "uniqueid"],
        unique=False,
    )
    op.create_table(
        "queue_member_pauses",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("server_id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("queue", sa.Text(), nullable=False),
        sa.Column("interface", sa.Text(), nullable=False),
        sa.Column("member_name", sa.Text(), nullable=False),
        sa.Column("paused_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("unpaused_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("seconds", sa.Double(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["server_id"], ["servers.id"], name=op.f("fk_queue_member_pauses_server_id_servers")
        ),
        sa.ForeignKeyConstraint(
            ["session_id"], ["sessions.id"], name=op.f("fk_queue_member_pauses_session_id_sessions")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_queue_member_pauses")),
    )
    op.create_index(
        "ix_queue_member_pauses_server_id_queue_interface",
        "queue_member_pauses",
        ["server_id", "queue", "interface"],
        unique=False,
    )
    op.create_table(
        "queue_member_sessions",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("server_id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("queue", sa.Text(), nullable=False),
        sa.Column("interface", sa.Text(), nullable=False),
        sa.Column("member_name", sa.Text(), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("removed_by_resync", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["server_id"], ["servers.id"], name=op.f("fk_queue_member_sessions_server_id_servers")
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["sessions.id"],
            name=op.f("fk_queue_member_sessions_session_id_sessions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_queue_member_sessions")),
    )
    op.create_index(
        "ix_queue_member_sessions_server_id_queue_interface",
        "queue_member_sessions",
        ["server_id", "queue", "interface"],
        unique=False,
    )
    op.create_table(
        "queue_offers",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("server_id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("queue", sa.Text(), nullable=False),
        sa.Column("uniqueid", sa.Text(), nullable=False),
        sa.Column("interface", sa.Text(), nullable=False),
        sa.Column("member_name", sa.Text(), nullable=False),
        sa.Column("called_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.Text(), nullable=False),
        sa.Column("ring_time", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["server_id"], ["servers.id"], name=op.f("fk_queue_offers_server_id_servers")
        ),
        sa.ForeignKeyConstraint(
            ["session_id"], ["sessions.id"], name=op.f("fk_queue_offers_session_id_sessions")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_queue_offers")),
    )
    op.create_index(
        "ix_queue_offers_server_id_queue_uniqueid",
        "queue_offers",
        ["server_id", "queue", "uniqueid"],
        unique=False,
    )
    op.create_table(
        "call_legs",
        sa.Column("call_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("ordinal", sa.Integer(), nullable=False),
        sa.Column("server_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("role", sa.Text(), nullable=False),
        sa.Column("uniqueid", sa.Text(), nullable=False),
        sa.Column("channel", sa.Text(), nullable=False),
        sa.Column("num", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("hungup_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cause", sa.Integer(), nullable=True),
        sa.Column("cause_txt", sa.Text(), nullable=False),
        sa.Column("dialed_by", sa.Text(), nullable=True),
        sa.Column("moved_to", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["call_id"], ["calls.id"], name=op.f("fk_call_legs_call_id_calls"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["server_id"], ["servers.id"], name=op.f("fk_call_legs_server_id_servers")
        ),
        sa.PrimaryKeyConstraint("call_id", "ordinal", name=op.f("pk_call_legs")),
    )
    op.create_index(
        "ix_call_legs_server_id_uniqueid", "call_legs", ["server_id", "uniqueid"], unique=False
    )
    op.create_table(
        "transfers",
        sa.Column("call_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("ordinal", sa.Integer(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("result", sa.Text(), nullable=False),
        sa.Column("transferer", sa.Text(), nullable=False),
        sa.Column("transferee", sa.Text(), nullable=False),
        sa.Column("target", sa.Text(), nullable=False),
        sa.Column("dest_type", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["call_id"], ["calls.id"], name=op.f("fk_transfers_call_id_calls"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("call_id", "ordinal", name=op.f("pk_transfers")),
    )


def downgrade() -> None:
    op.drop_table("transfers")
    op.drop_index("ix_call_legs_server_id_uniqueid", table_name="call_legs")
    op.drop_table("call_legs")
    op.drop_index("ix_queue_offers_server_id_queue_uniqueid", table_name="queue_offers")
    op.drop_table("queue_offers")
    op.drop_index(
        "ix_queue_member_sessions_server_id_queue_interface", table_name="queue_member_sessions"
    )
    op.drop_table("queue_member_sessions")
    op.drop_index(
        "ix_queue_member_pauses_server_id_queue_interface", table_name="queue_member_pauses"
    )
    op.drop_table("queue_member_pauses")
    op.drop_index("ix_queue_calls_server_id_queue_uniqueid", table_name="queue_calls")
    op.drop_index("ix_queue_calls_server_id_joined", table_name="queue_calls")
    op.drop_table("queue_calls")
    op.drop_index("ix_parked_calls_server_id_parked", table_name="parked_calls")
    op.drop_table("parked_calls")
    op.drop_index(
        "ix_conference_participations_server_id_uniqueid", table_name="conference_participations"
    )
    op.drop_index(
        "ix_conference_participations_server_id_joined", table_name="conference_participations"
    )
    op.drop_table("conference_participations")
    op.drop_index("ix_calls_server_id_start", table_name="calls")
    op.drop_index("ix_calls_server_id_linkedid", table_name="calls")
    op.drop_table("calls")
    op.drop_index("ix_asterisk_cel_server_id_linked_id", table_name="asterisk_cel")
    op.drop_index("ix_asterisk_cel_server_id_at", table_name="asterisk_cel")
    op.drop_table("asterisk_cel")
    op.drop_index("ix_asterisk_cdr_server_id_unique_id", table_name="asterisk_cdr")
    op.drop_index("ix_asterisk_cdr_server_id_at", table_name="asterisk_cdr")
    op.drop_table("asterisk_cdr")
