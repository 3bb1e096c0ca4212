"""deployment: label history, canary rollback rules and events

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "label_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("label", sa.String(length=50), nullable=False),
        sa.Column("action", sa.String(length=30), nullable=False),
        sa.Column("release_id", sa.String(length=32), nullable=True),
        sa.Column("previous_release_id", sa.String(length=32), nullable=True),
        sa.Column("weight", sa.Float(), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_label_events")),
    )
    op.create_index("ix_label_events_at", "label_events", ["at"], unique=False)
    op.create_index("ix_label_events_label_at", "label_events", ["label", "at"], unique=False)
    # the labels as they are become the first entries of their history
    op.execute(
        "INSERT INTO label_events (at, label, action, release_id, previous_release_id, weight, "
        "actor, note) SELECT updated_at, label, CASE WHEN label = 'production' THEN 'promote' "
        "WHEN label = 'canary' THEN 'canary' ELSE 'label' END, release_id, NULL, weight, "
        "updated_by, 'before label history' FROM release_labels"
    )

    op.create_table(
        "rollback_rules",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("metric", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("threshold", sa.Float(), nullable=False),
        sa.Column("p_value", sa.Float(), nullable=False),
        sa.Column("min_samples", sa.Integer(), nullable=False),
        sa.Column("window_minutes", sa.Integer(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("webhook_url", sa.String(length=2000), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rollback_rules")),
    )
    op.create_table(
        "rollback_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("rule_id", sa.Integer(), nullable=True),
        sa.Column("release_id", sa.String(length=32), nullable=False),
        sa.Column("production_id", sa.String(length=32), nullable=True),
        sa.Column("metric", sa.String(length=40), nullable=False),
        sa.Column("canary_value", sa.Float(), nullable=True),
        sa.Column("production_value", sa.Float(), nullable=True),
        sa.Column("p_value", sa.Float(), nullable=True),
        sa.Column("samples", sa.Integer(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("delivery", sa.String(length=10), nullable=False),
        sa.Column("delivery_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rollback_events")),
    )
    op.create_index("ix_rollback_events_at", "rollback_events", ["at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_rollback_events_at", table_name="rollback_events")
    op.drop_table("rollback_events")
    op.drop_table("rollback_rules")
    op.drop_index("ix_label_events_label_at", table_name="label_events")
    op.drop_index("ix_label_events_at", table_name="label_events")
    op.drop_table("label_events")
