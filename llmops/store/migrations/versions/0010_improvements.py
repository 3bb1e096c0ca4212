"""the tuning loop's improvement records

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 16:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "improvements",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("dataset", sa.String(length=200), nullable=True),
        sa.Column("regression_dataset", sa.String(length=200), nullable=True),
        sa.Column("candidate_release_id", sa.String(length=32), nullable=True),
        sa.Column("baseline_release_id", sa.String(length=32), nullable=True),
        sa.Column("gate", sa.JSON(), nullable=True),
        sa.Column("gate_passed", sa.Boolean(), nullable=True),
        sa.Column("decision", sa.String(length=20), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("overridden", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_improvements")),
    )
    op.create_index("ix_improvements_updated_at", "improvements", ["updated_at"], unique=False)
    op.create_table(
        "improvement_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("improvement_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("step", sa.String(length=30), nullable=False),
        sa.Column("details", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(["improvement_id"], ["improvements.id"],
                                name=op.f("fk_improvement_events_improvement_id_improvements"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_improvement_events")),
    )  # fmt: skip
    op.create_index(
        "ix_improvement_events_improvement_at", "improvement_events", ["improvement_id", "at"],
        unique=False,
    )  # fmt: skip


def downgrade() -> None:
    op.drop_index("ix_improvement_events_improvement_at", table_name="improvement_events")
    op.drop_table("improvement_events")
    op.drop_index("ix_improvements_updated_at", table_name="improvements")
    op.drop_table("improvements")
