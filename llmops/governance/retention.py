"""Retention: rows older than their kind's retention go, in bounded batches.

Kinds and their settings (days; 0 keeps forever), see ``llmops.config``:

=================  =====================================  ==================================
kind               rows                                   setting
=================  =====================================  ==================================
``traces``         chat, playground and red-team traces   ``LLMOPS_RETENTION_TRACES_DAYS``
                   with their spans, scores and gap
                   candidates (gap clusters resized,
                   relabelled, deleted when empty)
``eval_traces``    evaluation traces (``eval:`` sessions) ``LLMOPS_RETENTION_EVAL_DAYS``
                   with their spans and scores
``feedback``       feedback rows                          ``LLMOPS_RETENTION_FEEDBACK_DAYS``
``guard_events``   guardrail events                       ``LLMOPS_RETENTION_GUARD_EVENTS_DAYS``
``audit_log``      audit rows                             ``LLMOPS_RETENTION_AUDIT_DAYS``
=================  =====================================  ==================================

Each batch (``LLMOPS_RETENTION_BATCH`` rows) is its own short transaction: on SQLite it
takes the write lock at once (``BEGIN IMMEDIATE``) and another writer waits at most one
batch; on PostgreSQL the batch's rows are claimed with ``FOR UPDATE SKIP LOCKED``, so two
processes applying retention at once take different rows and each row is deleted once.

The monitoring rollups keep their numbers: trace rows carry no trigger (the span writer
adds to the rollups at insert time), and the ``feedback`` delete trigger's subtraction is
added back in the same transaction, so dashboards over past weeks stay as they were after
the raw rows are gone. Minute rollups are the exception: they live as long as the traces they
add up, so the ``traces`` kind also deletes the minute rows before its cutoff (hour and day
rows stay). Dataset items, review verdicts and evaluation results keep their
(now dangling) trace ids: they are curated records, not raw traffic.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from llmops.config import Settings, get_settings
from llmops.governance.roles import Actor, Capability, require
from llmops.monitoring.rollups import feedback_rollup_sql, prune_minutes
from llmops.store.db import Database
from llmops.store.models import EVAL_SESSION_PREFIX
from llmops.store.sql import mark, run_in, write_tx
from llmops.types import JSONDict

KINDS = ("traces", "eval_traces", "feedback", "guard_events", "audit_log")
ACTION = "retention.apply"
# the smallest string after every "eval:..." session id, for an index range on session_id
_EVAL_END = EVAL_SESSION_PREFIX[:-1] + chr(ord(EVAL_SESSION_PREFIX[-1]) + 1)


def days_for(settings: Settings) -> dict[str, int]:
    return {
        "traces": settings.retention_traces_days,
        "eval_traces": settings.retention_eval_days,
        "feedback": settings.retention_feedback_days,
        "guard_events": settings.retention_guard_events_days,
        "audit_log": settings.retention_audit_days,
    }


@dataclass
class KindReport:
    days: int
    cutoff: str | None
    rows: int = 0  # deleted, or (dry run) that would be
    batches: int = 0
    dependents: dict[str, int] = field(default_factory=dict)


@dataclass
class RetentionReport:
    dry_run: bool
    kinds: dict[str, KindReport]
    seconds: float = 0.0
    audit_id: int | None = None

    @property
    def total(self) -> int:
        return sum(k.rows for k in self.kinds.values())

    def as_dict(self) -> JSONDict:
        return {
            "dry_run": self.dry_run,
            "total": self.total,
            "seconds": round(self.seconds, 3),
            "audit_id": self.audit_id,
            "kinds": {name: k.__dict__ for name, k in self.kinds.items()},
        }


def _select(kind: str, d: str, limit: int, *, lock: bool) -> str:
    """The next batch of expired ids of ``kind`` (oldest first, on the kind's time index)."""
    m = mark(d)
    eval_range = f"session_id >= {m} AND session_id < {m}"
    where = {
        "traces": f"started_at < {m} AND (session_id IS NULL OR NOT ({eval_range}))",
        "eval_traces": f"{eval_range} AND started_at < {m}",
        "feedback": f"created_at < {m}",
        "guard_events": f"created_at < {m}",
        "audit_log": f"at < {m}",
    }[kind]
    table = {"traces": "traces", "eval_traces": "traces"}.get(kind, kind)
    order = {"traces": "started_at", "eval_traces": "started_at", "audit_log": "at"}.get(
        kind, "created_at"
    )
    sql = f"SELECT id FROM {table} WHERE {where} ORDER BY {order} LIMIT {int(limit)}"
    return sql + (" FOR UPDATE SKIP LOCKED" if lock else "")


def _params(kind: str, cutoff: datetime, dialect: str) -> tuple[Any, ...]:
    naive: Any = cutoff.astimezone(UTC).replace(tzinfo=None)
    if dialect == "sqlite":
        # the text SQLAlchemy stores; a datetime would go through whatever adapter another
        # library registered with the sqlite3 module (one turns it into a number)
        naive = naive.strftime("%Y-%m-%d %H:%M:%S.%f")
    if kind == "traces":
        return (naive, EVAL_SESSION_PREFIX, _EVAL_END)
    if kind == "eval_traces":
        return (EVAL_SESSION_PREFIX, _EVAL_END, naive)
    return (naive,)


def _delete_batch(conn: Connection, d: str, kind: str, ids: list[Any], rep: KindReport) -> int:
    if kind in ("traces", "eval_traces"):
        from llmops.governance.erasure import _fix_clusters

        gone, _ = run_in(conn, d, "SELECT cluster_id, question FROM gap_candidates WHERE "
                         "trace_id {in_}", ids)  # fmt: skip
        for table in ("spans", "trace_scores", "gap_candidates"):
            _, n = run_in(conn, d, f"DELETE FROM {table} WHERE trace_id {{in_}}", ids)
            rep.dependents[table] = rep.dependents.get(table, 0) + n
        # gap clusters: resized, relabelled when named after a question that went, deleted
        # when empty (the label and centroid are copies of the questions)
        clusters = {r[0] for r in gone if r[0] is not None}
        if clusters:
            n = _fix_clusters(conn, d, clusters, {r[1] for r in gone if r[1]})
            rep.dependents["gap_clusters"] = rep.dependents.get("gap_clusters", 0) + n
        _, n = run_in(conn, d, "DELETE FROM traces WHERE id {in_}", ids)
        return n
    if kind == "feedback":
        # the delete trigger subtracts each row from its trace's rollups: add the same back
        # first, so the aggregates outlive the raw rows (same rows: they are locked by us)
        marks = ", ".join([mark(d)] * len(ids))
        conn.exec_driver_sql(feedback_rollup_sql(d, where=f"f.id IN ({marks})"), tuple(ids))
    _, n = run_in(conn, d, f"DELETE FROM {kind} WHERE id {{in_}}", ids)
    return n


def _count(db: Database, kind: str, cutoff: datetime) -> int:
    sql = _select(kind, db.dialect, 1, lock=False).replace("SELECT id", "SELECT count(*)", 1)
    sql = sql.split(" ORDER BY ")[0]
    with db.engine.connect() as conn:
        return int(conn.exec_driver_sql(sql, _params(kind, cutoff, db.dialect)).scalar() or 0)


def apply(
    db: Database,
    *,
    settings: Settings | None = None,
    dry_run: bool = False,
    now: datetime | None = None,
    actor: Actor | str = "system",
    max_batches: int | None = None,
) -> RetentionReport:
    """Delete what is past its retention (or, ``dry_run``, count it). ``max_batches`` bounds
    the work per kind (the background worker finishes the rest on its next round)."""
    actor = require(db, actor, Capability.RETENTION, action="retention.apply")
    import time

    settings = settings or get_settings()
    started = time.perf_counter()
    now = now or datetime.now(UTC)
    batch = settings.retention_batch
    d = db.dialect
    report = RetentionReport(dry_run, {})
    for kind, days in days_for(settings).items():
        if days <= 0:
            report.kinds[kind] = KindReport(0, None)
            continue
        cutoff = now - timedelta(days=days)
        rep = report.kinds[kind] = KindReport(days, cutoff.isoformat())
        if dry_run:
            rep.rows = _count(db, kind, cutoff)
            continue
        sql = _select(kind, d, batch, lock=d == "postgresql")
        finished = False
        while max_batches is None or rep.batches < max_batches:
            with write_tx(db) as conn:
                ids = [r[0] for r in conn.exec_driver_sql(sql, _params(kind, cutoff, d))]
                if not ids:
                    finished = True
                    break
                rep.rows += _delete_batch(conn, d, kind, ids, rep)
            rep.batches += 1
            if len(ids) < batch and d == "sqlite":
                finished = True
                break  # the last one (on PostgreSQL a short batch may be a rival's leftovers)
        if kind == "traces" and finished:
            # only once every expired trace is gone: a bounded round leaves some for later
            with write_tx(db) as conn:
                rep.dependents["minute_rollups"] = prune_minutes(conn, cutoff)
    report.seconds = time.perf_counter() - started
    if not dry_run and report.total:
        from llmops.governance.audit import record

        report.audit_id = record(
            db,
            actor,
            ACTION,
            None,
            deleted={k: r.rows for k, r in report.kinds.items() if r.rows},
            days={k: r.days for k, r in report.kinds.items() if r.days},
        )
    return report
