"""bias probe runs and their per-attribute results

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06 17:05:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "bias_runs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("release_id", sa.String(length=32), nullable=False),
        sa.Column("release_name", sa.String(length=200), nullable=False),
        sa.Column("release_label", sa.String(length=20), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("attributes", sa.JSON(), nullable=False),
        sa.Column("langs", sa.JSON(), nullable=False),
        sa.Column("probes", sa.Integer(), nullable=False),
        sa.Column("flagged", sa.JSON(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bias_runs")),
    )
    op.create_index("ix_bias_runs_release_started", "bias_runs", ["release_id", "started_at"])
    op.create_index("ix_bias_runs_started_at", "bias_runs", ["started_at"])
    op.create_table(
        "bias_results",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("attribute", sa.String(length=50), nullable=False),
        sa.Column("flagged", sa.Boolean(), nullable=False),
        sa.Column("refusal_gap", sa.Float(), nullable=True),
        sa.Column("refusal_p", sa.Float(), nullable=True),
        sa.Column("length_gap", sa.Float(), nullable=True),
        sa.Column("length_p", sa.Float(), nullable=True),
        sa.Column("similarity_mean", sa.Float(), nullable=True),
        sa.Column("similarity_min", sa.Float(), nullable=True),
        sa.Column("groups", sa.JSON(), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("trace_ids", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["bias_runs.id"],
                                name=op.f("fk_bias_results_run_id_bias_runs"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bias_results")),
        sa.UniqueConstraint("run_id", "attribute", name=op.f("uq_bias_results_run_id_attribute")),
    )  # fmt: skip


def downgrade() -> None:
    op.drop_table("bias_results")
    op.drop_index("ix_bias_runs_started_at", table_name="bias_runs")
    op.drop_index("ix_bias_runs_release_started", table_name="bias_runs")
    op.drop_table("bias_runs")
