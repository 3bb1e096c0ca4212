"""knowledge gaps: candidates, clusters, refresh state

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 14:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "gap_candidates",
        sa.Column("trace_id", sa.String(length=32), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("reason", sa.String(length=20), nullable=False),
        sa.Column("thumbs_down", sa.Boolean(), nullable=False),
        sa.Column("release_id", sa.String(length=32), nullable=True),
        sa.Column("lang", sa.String(length=10), nullable=True),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("top_score", sa.Float(), nullable=True),
        sa.Column("cluster_id", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("trace_id", name=op.f("pk_gap_candidates")),
    )
    op.create_index("ix_gap_candidates_at", "gap_candidates", ["at"], unique=False)
    op.create_index(
        "ix_gap_candidates_cluster_at", "gap_candidates", ["cluster_id", "at"], unique=False
    )
    op.create_table(
        "gap_clusters",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("lang", sa.String(length=10), nullable=False),
        sa.Column("label", sa.Text(), nullable=False),
        sa.Column("centroid", sa.LargeBinary(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gap_clusters")),
    )
    op.create_table(
        "gap_state",
        sa.Column("key", sa.String(length=40), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_gap_state")),
    )


def downgrade() -> None:
    op.drop_table("gap_state")
    op.drop_table("gap_clusters")
    op.drop_index("ix_gap_candidates_cluster_at", table_name="gap_candidates")
    op.drop_index("ix_gap_candidates_at", table_name="gap_candidates")
    op.drop_table("gap_candidates")
