"""guard events and guard evaluations

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 10:20:09.971509
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "guard_eval_runs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("dataset", sa.String(length=500), nullable=False),
        sa.Column("cases", sa.Integer(), nullable=False),
        sa.Column("results", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_guard_eval_runs")),
    )
    with op.batch_alter_table("guard_eval_runs", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_guard_eval_runs_created_at"), ["created_at"], unique=False
        )

    op.create_table(
        "guard_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("trace_id", sa.String(length=32), nullable=False),
        sa.Column("span_id", sa.String(length=16), nullable=True),
        sa.Column("validator", sa.String(length=100), nullable=False),
        sa.Column("direction", sa.String(length=10), nullable=False),
        sa.Column("action", sa.String(length=10), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("excerpt", sa.Text(), nullable=True),
        sa.Column("release_id", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_guard_events")),
    )
    with op.batch_alter_table("guard_events", schema=None) as batch_op:
        batch_op.create_index("ix_guard_events_created_at", ["created_at"], unique=False)
        batch_op.create_index(
            "ix_guard_events_release_created", ["release_id", "created_at"], unique=False
        )
        batch_op.create_index("ix_guard_events_trace_id", ["trace_id"], unique=False)
        batch_op.create_index(
            "ix_guard_events_validator_created", ["validator", "created_at"], unique=False
        )


def downgrade() -> None:

    with op.batch_alter_table("guard_events", schema=None) as batch_op:
        batch_op.drop_index("ix_guard_events_validator_created")
        batch_op.drop_index("ix_guard_events_trace_id")
        batch_op.drop_index("ix_guard_events_release_created")
        batch_op.drop_index("ix_guard_events_created_at")

    op.drop_table("guard_events")
    with op.batch_alter_table("guard_eval_runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_guard_eval_runs_created_at"))

    op.drop_table("guard_eval_runs")
