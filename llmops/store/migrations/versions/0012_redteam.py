"""red-team scans and their findings

Revision ID: 0012
Revises: 0010
Create Date: 2026-12-06 14:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "redteam_scans",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("release_id", sa.String(length=32), nullable=False),
        sa.Column("release_name", sa.String(length=200), nullable=False),
        sa.Column("release_label", sa.String(length=20), nullable=True),
        sa.Column("guard_profile", sa.String(length=50), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("categories", sa.JSON(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("done", sa.Integer(), nullable=False),
        sa.Column("attacks", sa.Integer(), nullable=False),
        sa.Column("successes", sa.Integer(), nullable=False),
        sa.Column("attack_success_rate", sa.Float(), nullable=True),
        sa.Column("summary", sa.JSON(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_redteam_scans")),
    )
    op.create_index(
        "ix_redteam_scans_release_started", "redteam_scans", ["release_id", "started_at"]
    )
    op.create_table(
        "redteam_findings",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("scan_id", sa.Integer(), nullable=False),
        sa.Column("attack_id", sa.String(length=100), nullable=False),
        sa.Column("category", sa.String(length=50), nullable=False),
        sa.Column("lang", sa.String(length=8), nullable=False),
        sa.Column("owasp", sa.String(length=100), nullable=False),
        sa.Column("success", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.String(length=50), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("prompt", sa.Text(), nullable=False),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("trace_id", sa.String(length=32), nullable=True),
        sa.Column("trace_ids", sa.JSON(), nullable=False),
        sa.Column("latency_ms", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(["scan_id"], ["redteam_scans.id"],
                                name=op.f("fk_redteam_findings_scan_id_redteam_scans"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_redteam_findings")),
    )  # fmt: skip
    op.create_index(op.f("ix_redteam_findings_scan_id"), "redteam_findings", ["scan_id"])
    op.create_index("ix_redteam_findings_scan_success", "redteam_findings", ["scan_id", "success"])


def downgrade() -> None:
    op.drop_index("ix_redteam_findings_scan_success", table_name="redteam_findings")
    op.drop_index(op.f("ix_redteam_findings_scan_id"), table_name="redteam_findings")
    op.drop_table("redteam_findings")
    op.drop_index("ix_redteam_scans_release_started", table_name="redteam_scans")
    op.drop_table("redteam_scans")
