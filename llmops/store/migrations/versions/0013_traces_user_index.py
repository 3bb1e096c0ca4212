"""an index on traces (user_id, started_at) for the Sessions page's users and the user filter

Revision ID: 0013
Revises: 0010
Create Date: 2026-12-06 15:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0013"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_traces_user_started", "traces", ["user_id", "started_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_traces_user_started", table_name="traces")
