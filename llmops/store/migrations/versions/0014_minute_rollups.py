"""minute rollups (feedback triggers + backfill); an index for latency-range counts

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 17:30:00

The minute grain lives in the same tables as hour and day (``metric_rollups``,
``latency_histograms``; ``grain = 'minute'``), so the only schema change is the feedback
triggers of migration 0004, recreated to add each rating to its trace's minute as well. The
minute rows of the traces already stored are computed here; hour and day rows are left as
they are (they may hold traces retention has deleted).

``ix_traces_started_latency`` (started_at, latency_ms) lets the Traces list count a latency
range over a time range from the index alone.
"""

from __future__ import annotations

from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

_KEY = ("grain", "bucket", "release_id", "model")
_FB = ("feedback_n", "feedback_up", "feedback_score")
_WITH_MINUTE = (("minute", 60), ("hour", 3600), ("day", 86400))
_WITHOUT_MINUTE = (("hour", 3600), ("day", 86400))


def _sqlite_feedback_sql(sign: str, row: str, grains: tuple[tuple[str, int], ...]) -> str:
    """One upsert of a feedback row (``NEW`` or ``OLD``) into its trace's buckets."""
    sets = ", ".join(f"{c} = metric_rollups.{c} + excluded.{c}" for c in _FB)
    g = " UNION ALL ".join(f"SELECT '{name}' AS grain, {w} AS width" for name, w in grains)
    return (
        f"INSERT INTO metric_rollups (grain, bucket, release_id, model, {', '.join(_FB)}) "
        "SELECT g.grain, CAST(strftime('%s', t.started_at) AS INTEGER) / g.width * g.width, "
        f"coalesce(t.release_id, ''), coalesce(t.model, ''), {sign}1, "
        f"CASE WHEN {row}.score >= 0.5 THEN {sign}1 ELSE 0 END, {sign}{row}.score "
        f"FROM traces t CROSS JOIN ({g}) g "
        f"WHERE t.id = {row}.trace_id "
        f"ON CONFLICT ({', '.join(_KEY)}) DO UPDATE SET {sets};"
    )


def _pg_feedback_sql(sign: str, row: str, grains: tuple[tuple[str, int], ...]) -> str:
    sets = ", ".join(f"{c} = r.{c} + excluded.{c}" for c in _FB)
    values = ", ".join(f"('{name}', {w})" for name, w in grains)
    return (
        f"INSERT INTO metric_rollups AS r (grain, bucket, release_id, model, {', '.join(_FB)}) "
        "SELECT g.grain, CAST(floor(extract(epoch FROM t.started_at)) AS BIGINT) "
        "/ g.width * g.width, "
        f"coalesce(t.release_id, ''), coalesce(t.model, ''), {sign}1, "
        f"CASE WHEN {row}.score >= 0.5 THEN {sign}1 ELSE 0 END, {sign}{row}.score "
        f"FROM traces t CROSS JOIN (VALUES {values}) AS g(grain, width) "
        f"WHERE t.id = {row}.trace_id "
        f"ON CONFLICT ({', '.join(_KEY)}) DO UPDATE SET {sets};"
    )


def _drop_triggers(dialect: str) -> None:
    if dialect == "sqlite":
        for name in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER IF EXISTS trg_feedback_rollup_{name}")
    else:
        op.execute("DROP TRIGGER IF EXISTS trg_feedback_rollup ON feedback")
        op.execute("DROP FUNCTION IF EXISTS llmops_feedback_rollup()")


def _create_triggers(dialect: str, grains: tuple[tuple[str, int], ...]) -> None:
    if dialect == "sqlite":
        op.execute(
            "CREATE TRIGGER trg_feedback_rollup_insert AFTER INSERT ON feedback BEGIN "
            + _sqlite_feedback_sql("", "NEW", grains)
            + " END"
        )
        op.execute(
            "CREATE TRIGGER trg_feedback_rollup_delete AFTER DELETE ON feedback BEGIN "
            + _sqlite_feedback_sql("-", "OLD", grains)
            + " END"
        )
        op.execute(
            "CREATE TRIGGER trg_feedback_rollup_update AFTER UPDATE OF score, trace_id "
            "ON feedback BEGIN "
            + _sqlite_feedback_sql("-", "OLD", grains)
            + " "
            + _sqlite_feedback_sql("", "NEW", grains)
            + " END"
        )
        return
    op.execute(
        "CREATE FUNCTION llmops_feedback_rollup() RETURNS trigger LANGUAGE plpgsql AS $$ "
        "BEGIN "
        "IF TG_OP <> 'INSERT' THEN " + _pg_feedback_sql("-", "OLD", grains) + " END IF; "
        "IF TG_OP <> 'DELETE' THEN " + _pg_feedback_sql("", "NEW", grains) + " END IF; "
        "RETURN NULL; END $$"
    )
    op.execute(
        "CREATE TRIGGER trg_feedback_rollup AFTER INSERT OR DELETE OR UPDATE OF score, trace_id "
        "ON feedback FOR EACH ROW EXECUTE FUNCTION llmops_feedback_rollup()"
    )


def upgrade() -> None:
    op.create_index("ix_traces_started_latency", "traces", ["started_at", "latency_ms"])
    bind = op.get_bind()
    _drop_triggers(bind.dialect.name)
    _create_triggers(bind.dialect.name, _WITH_MINUTE)

    from llmops.monitoring.rollups import rebuild

    rebuild(bind, bind.dialect.name, grains=(("minute", 60),))


def downgrade() -> None:
    bind = op.get_bind()
    _drop_triggers(bind.dialect.name)
    _create_triggers(bind.dialect.name, _WITHOUT_MINUTE)
    op.execute("DELETE FROM latency_histograms WHERE grain = 'minute'")
    op.execute("DELETE FROM metric_rollups WHERE grain = 'minute'")
    op.drop_index("ix_traces_started_latency", table_name="traces")
