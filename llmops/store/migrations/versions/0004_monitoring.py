"""monitoring: metric rollups, latency histograms, model prices, alert rules and events

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 20:00:00

Feedback rollups are kept by triggers on ``feedback`` (one per backend, below); trace
rollups by the span writer. Existing traces, guard events and feedback are rolled up here,
so a store upgraded with history has dashboards at once.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_KEY = ("grain", "bucket", "release_id", "model")
_FB = ("feedback_n", "feedback_up", "feedback_score")


def _counter(name: str, kind: Any = None) -> sa.Column[Any]:
    return sa.Column(name, kind if kind is not None else sa.Integer(), server_default="0",
                     nullable=False)  # fmt: skip


def _sqlite_feedback_sql(sign: str, row: str) -> str:
    """One upsert of a feedback row (``NEW`` or ``OLD``) into its trace's hour and day."""
    sets = ", ".join(f"{c} = metric_rollups.{c} + excluded.{c}" for c in _FB)
    return (
        f"INSERT INTO metric_rollups (grain, bucket, release_id, model, {', '.join(_FB)}) "
        "SELECT g.grain, CAST(strftime('%s', t.started_at) AS INTEGER) / g.width * g.width, "
        f"coalesce(t.release_id, ''), coalesce(t.model, ''), {sign}1, "
        f"CASE WHEN {row}.score >= 0.5 THEN {sign}1 ELSE 0 END, {sign}{row}.score "
        "FROM traces t CROSS JOIN (SELECT 'hour' AS grain, 3600 AS width "
        "UNION ALL SELECT 'day', 86400) g "
        f"WHERE t.id = {row}.trace_id "
        f"ON CONFLICT ({', '.join(_KEY)}) DO UPDATE SET {sets};"
    )


def _pg_feedback_sql(sign: str, row: str) -> str:
    sets = ", ".join(f"{c} = r.{c} + excluded.{c}" for c in _FB)
    return (
        f"INSERT INTO metric_rollups AS r (grain, bucket, release_id, model, {', '.join(_FB)}) "
        "SELECT g.grain, CAST(floor(extract(epoch FROM t.started_at)) AS BIGINT) "
        "/ g.width * g.width, "
        f"coalesce(t.release_id, ''), coalesce(t.model, ''), {sign}1, "
        f"CASE WHEN {row}.score >= 0.5 THEN {sign}1 ELSE 0 END, {sign}{row}.score "
        "FROM traces t CROSS JOIN (VALUES ('hour', 3600), ('day', 86400)) AS g(grain, width) "
        f"WHERE t.id = {row}.trace_id "
        f"ON CONFLICT ({', '.join(_KEY)}) DO UPDATE SET {sets};"
    )


def _create_triggers(dialect: str) -> None:
    if dialect == "sqlite":
        op.execute(
            "CREATE TRIGGER trg_feedback_rollup_insert AFTER INSERT ON feedback BEGIN "
            + _sqlite_feedback_sql("", "NEW")
            + " END"
        )
        op.execute(
            "CREATE TRIGGER trg_feedback_rollup_delete AFTER DELETE ON feedback BEGIN "
            + _sqlite_feedback_sql("-", "OLD")
            + " END"
        )
        op.execute(
            "CREATE TRIGGER trg_feedback_rollup_update AFTER UPDATE OF score, trace_id "
            "ON feedback BEGIN "
            + _sqlite_feedback_sql("-", "OLD")
            + " "
            + _sqlite_feedback_sql("", "NEW")
            + " END"
        )
        return
    op.execute(
        "CREATE FUNCTION llmops_feedback_rollup() RETURNS trigger LANGUAGE plpgsql AS $$ "
        "BEGIN "
        "IF TG_OP <> 'INSERT' THEN " + _pg_feedback_sql("-", "OLD") + " END IF; "
        "IF TG_OP <> 'DELETE' THEN " + _pg_feedback_sql("", "NEW") + " END IF; "
        "RETURN NULL; END $$"
    )
    op.execute(
        "CREATE TRIGGER trg_feedback_rollup AFTER INSERT OR DELETE OR UPDATE OF score, trace_id "
        "ON feedback FOR EACH ROW EXECUTE FUNCTION llmops_feedback_rollup()"
    )


def upgrade() -> None:
    op.create_table(
        "metric_rollups",
        sa.Column("grain", sa.String(length=8), nullable=False),
        sa.Column("bucket", sa.BigInteger(), nullable=False),
        sa.Column("release_id", sa.String(length=32), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        _counter("traces"),
        _counter("errors"),
        _counter("blocked"),
        _counter("latency_n"),
        _counter("latency_sum", sa.Float()),
        _counter("ttft_n"),
        _counter("ttft_sum", sa.Float()),
        _counter("input_tokens", sa.BigInteger()),
        _counter("output_tokens", sa.BigInteger()),
        _counter("cost", sa.Float()),
        _counter("violating"),
        _counter("feedback_n"),
        _counter("feedback_up"),
        _counter("feedback_score", sa.Float()),
        sa.PrimaryKeyConstraint(*_KEY, name=op.f("pk_metric_rollups")),
    )
    op.create_table(
        "latency_histograms",
        sa.Column("grain", sa.String(length=8), nullable=False),
        sa.Column("metric", sa.String(length=8), nullable=False),
        sa.Column("bucket", sa.BigInteger(), nullable=False),
        sa.Column("release_id", sa.String(length=32), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("bin", sa.Integer(), nullable=False),
        _counter("n"),
        sa.PrimaryKeyConstraint(
            "grain",
            "metric",
            "bucket",
            "release_id",
            "model",
            "bin",
            name=op.f("pk_latency_histograms"),
        ),
    )
    op.create_table(
        "model_prices",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("input_per_mtok", sa.Float(), nullable=False),
        sa.Column("output_per_mtok", sa.Float(), nullable=False),
        sa.Column("effective_from", sa.DateTime(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_model_prices")),
    )
    op.create_index("ix_model_prices_model_effective", "model_prices", ["model", "effective_from"])
    op.create_table(
        "alert_rules",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("metric", sa.String(length=40), nullable=False),
        sa.Column("comparison", sa.String(length=2), nullable=False),
        sa.Column("threshold", sa.Float(), nullable=False),
        sa.Column("window_minutes", sa.Integer(), nullable=False),
        sa.Column("release_id", sa.String(length=32), nullable=True),
        sa.Column("model", sa.String(length=200), nullable=True),
        sa.Column("min_samples", sa.Integer(), nullable=False),
        sa.Column("webhook_url", sa.String(length=2000), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("state_since", sa.DateTime(), nullable=True),
        sa.Column("last_value", sa.Float(), nullable=True),
        sa.Column("last_checked_at", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_rules")),
    )
    op.create_table(
        "alert_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("rule_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("threshold", sa.Float(), nullable=False),
        sa.Column("samples", sa.Integer(), nullable=False),
        sa.Column("window_start", sa.DateTime(), nullable=False),
        sa.Column("window_end", sa.DateTime(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("delivery", sa.String(length=10), nullable=False),
        sa.Column("delivery_error", sa.Text(), nullable=True),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["rule_id"],
            ["alert_rules.id"],
            name=op.f("fk_alert_events_rule_id_alert_rules"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_events")),
    )
    op.create_index("ix_alert_events_at", "alert_events", ["at"])
    op.create_index("ix_alert_events_rule_at", "alert_events", ["rule_id", "at"])

    bind = op.get_bind()
    _create_triggers(bind.dialect.name)

    from llmops.monitoring.rollups import rebuild

    rebuild(bind, bind.dialect.name)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for name in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER IF EXISTS trg_feedback_rollup_{name}")
    else:
        op.execute("DROP TRIGGER IF EXISTS trg_feedback_rollup ON feedback")
        op.execute("DROP FUNCTION IF EXISTS llmops_feedback_rollup()")
    op.drop_index("ix_alert_events_rule_at", table_name="alert_events")
    op.drop_index("ix_alert_events_at", table_name="alert_events")
    op.drop_table("alert_events")
    op.drop_table("alert_rules")
    op.drop_index("ix_model_prices_model_effective", table_name="model_prices")
    op.drop_table("model_prices")
    op.drop_table("latency_histograms")
    op.drop_table("metric_rollups")
