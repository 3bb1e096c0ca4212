"""reliable trace writer: idempotent guard events, quarantine, tracing incidents; sign-in
lookups by client

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("guard_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("event_id", sa.String(length=16), nullable=True))
        batch_op.create_index("uq_guard_events_trace_event", ["trace_id", "event_id"], unique=True)

    op.create_index("ix_audit_log_target_at", "audit_log", ["target", "at"], unique=False)

    op.create_table(
        "quarantine",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("trace_id", sa.String(length=32), nullable=True),
        sa.Column("record", sa.Text(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quarantine")),
    )
    op.create_index("ix_quarantine_at", "quarantine", ["at"], unique=False)

    op.create_table(
        "tracing_incidents",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("records", sa.Integer(), nullable=False),
        sa.Column("process", sa.String(length=200), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tracing_incidents")),
    )
    op.create_index("ix_tracing_incidents_at", "tracing_incidents", ["at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_tracing_incidents_at", table_name="tracing_incidents")
    op.drop_table("tracing_incidents")
    op.drop_index("ix_quarantine_at", table_name="quarantine")
    op.drop_table("quarantine")
    op.drop_index("ix_audit_log_target_at", table_name="audit_log")
    with op.batch_alter_table("guard_events", schema=None) as batch_op:
        batch_op.drop_index("uq_guard_events_trace_event")
        batch_op.drop_column("event_id")
