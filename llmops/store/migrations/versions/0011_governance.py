"""governance: indexes for erasure by user and for the audit page's filters

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 14:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

INDEXES = (
    # erasure finds a user's traces and feedback without scanning the tables
    ("ix_traces_user_started", "traces", ["user_id", "started_at"]),
    ("ix_feedback_user_id", "feedback", ["user_id"]),
    # the audit page filters by actor or action, newest first
    ("ix_audit_log_actor_at", "audit_log", ["actor", "at"]),
    ("ix_audit_log_action_at", "audit_log", ["action", "at"]),
)


def upgrade() -> None:
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns, unique=False)


def downgrade() -> None:
    for name, table, _ in reversed(INDEXES):
        op.drop_index(name, table_name=table)
