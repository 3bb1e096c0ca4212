"""Evaluation runs as stored: one run's info, listing, cancelling, its aggregate metrics and
its per-item results (the runner, ``llmops.evals.runner``, executes them)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, func, select

from llmops.errors import InvalidInputError, NotFoundError
from llmops.evals.evaluators import error_of
from llmops.evals.stats import mean_ci, percentile
from llmops.governance.roles import Actor, Capability, require
from llmops.store.db import Database
from llmops.store.models import (
    Dataset,
    DatasetItem,
    EvalResult,
    EvalRun,
    utcnow,
)
from llmops.types import JSONDict

TERMINAL = ("completed", "cancelled", "failed")
STALE_AFTER = timedelta(seconds=60)  # a "running" run without a heartbeat for this long died


@dataclass
class RunInfo:
    id: str
    name: str
    dataset_id: int
    dataset: str
    dataset_version: int
    release_id: str
    status: str
    evaluators: list[str]
    config: JSONDict
    total_items: int
    done_items: int
    metrics: JSONDict
    error: str | None
    created_at: str
    started_at: str | None
    ended_at: str | None
    updated_at: str | None
    created_by: str

    @property
    def stalled(self) -> bool:
        """Marked running but without a heartbeat for a minute: its process is gone."""
        if self.status != "running" or not self.updated_at:
            return False
        from datetime import datetime

        return utcnow() - datetime.fromisoformat(self.updated_at) > STALE_AFTER

    def scores(self) -> dict[str, float | None]:
        """Mean score per evaluator (the CLI's ``metrics`` shape)."""
        return {k: v.get("mean") for k, v in (self.metrics.get("scores") or {}).items()}

    def errors(self) -> dict[str, int]:
        """Items each evaluator failed on, for the evaluators that failed at least once."""
        scores = self.metrics.get("scores") or {}
        return {k: int(v["errors"]) for k, v in scores.items() if v.get("errors")}

    def first_error(self, evaluator: str) -> str | None:
        return ((self.metrics.get("scores") or {}).get(evaluator) or {}).get("first_error")

    def as_dict(self) -> JSONDict:
        return asdict(self)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _run_info(row: EvalRun, dataset: str) -> RunInfo:
    return RunInfo(
        id=row.id,
        name=row.name,
        dataset_id=row.dataset_id,
        dataset=dataset,
        dataset_version=row.dataset_version,
        release_id=row.release_id,
        status=row.status,
        evaluators=list(row.evaluators or []),
        config=dict(row.config or {}),
        total_items=row.total_items,
        done_items=row.done_items,
        metrics=dict(row.metrics or {}),
        error=row.error,
        created_at=row.created_at.isoformat(),
        started_at=_iso(row.started_at),
        ended_at=_iso(row.ended_at),
        updated_at=_iso(row.updated_at),
        created_by=row.created_by,
    )


def get_run(db: Database, run_id: str) -> RunInfo:
    with db.session() as s:
        row = s.get(EvalRun, run_id.strip())
        if row is None:
            raise NotFoundError(f"Evaluation run {run_id!r} does not exist.")
        name = s.scalar(select(Dataset.name).where(Dataset.id == row.dataset_id)) or "?"
        return _run_info(row, name)


def list_runs(
    db: Database,
    *,
    dataset_id: int | None = None,
    release_id: str | None = None,
    status: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[RunInfo], int]:
    """Newest first, filtered and paged in SQL (indexes on created_at, dataset, release)."""
    conds = []
    if dataset_id is not None:
        conds.append(EvalRun.dataset_id == dataset_id)
    if release_id:
        conds.append(EvalRun.release_id == release_id)
    if status:
        conds.append(EvalRun.status == status)
    stmt = (
        select(EvalRun, Dataset.name)
        .join(Dataset, Dataset.id == EvalRun.dataset_id)
        .where(*conds)
        .order_by(EvalRun.created_at.desc(), EvalRun.id.desc())
        .limit(max(1, min(limit, 500)))
        .offset(max(0, offset))
    )
    with db.session() as s:
        rows = [_run_info(r, n) for r, n in s.execute(stmt)]
        total = s.scalar(select(func.count()).select_from(EvalRun).where(*conds))
        return rows, int(total or 0)


def cancel_run(db: Database, run_id: str, *, actor: Actor | str = "system") -> None:
    """Ask a running run to stop (the runner checks twice a second); a pending one stops now."""
    require(db, actor, Capability.EVALUATIONS, action="eval.cancel")
    with db.session() as s:
        row = s.get(EvalRun, run_id)
        if row is None:
            raise NotFoundError(f"Evaluation run {run_id!r} does not exist.")
        if row.status in TERMINAL:
            raise InvalidInputError(f"Run {run_id} is already {row.status}.")
        row.status = "cancelling" if row.status == "running" else "cancelled"
        if row.status == "cancelled":
            row.ended_at = utcnow()


def aggregate(db: Database, run_id: str) -> JSONDict:
    """Per-evaluator means with 95% bootstrap intervals, per language, latency and cost.

    Per evaluator: ``n`` scored items, ``not_applicable`` ones, and ``errors`` (items it
    failed on, left out of the mean like the not applicable ones but counted apart) with
    the ``first_error``. Reads one run's results (indexed by run id), bounded by the
    dataset's size.
    """
    with db.session() as s:
        rows = s.execute(
            select(
                EvalResult.item_id,
                EvalResult.scores,
                EvalResult.explanations,
                EvalResult.status,
                EvalResult.latency_ms,
                EvalResult.cost,
                DatasetItem.lang,
            )
            .join(DatasetItem, DatasetItem.id == EvalResult.item_id)
            .where(EvalResult.run_id == run_id)
            .order_by(EvalResult.item_id)
        ).all()
    values: dict[str, list[float]] = {}
    skipped: dict[str, int] = {}
    errors: dict[str, list[str]] = {}
    by_lang: dict[str, dict[str, list[float]]] = {}
    statuses: dict[str, int] = {}
    latencies = [r.latency_ms for r in rows if r.latency_ms is not None]
    for r in rows:
        statuses[r.status] = statuses.get(r.status, 0) + 1
        lang = r.lang or "?"
        explanations = r.explanations or {}
        for name, value in (r.scores or {}).items():
            error = error_of(value, explanations.get(name))
            if error is not None:
                errors.setdefault(name, []).append(error)
                continue
            if value is None:
                skipped[name] = skipped.get(name, 0) + 1
                continue
            values.setdefault(name, []).append(float(value))
            by_lang.setdefault(lang, {}).setdefault(name, []).append(float(value))
    scores = {}
    for name in sorted(set(values) | set(skipped) | set(errors)):
        ci = mean_ci(values.get(name, []))
        failed = errors.get(name, [])
        scores[name] = {
            **ci.as_dict(),
            "not_applicable": skipped.get(name, 0),
            "errors": len(failed),
            "first_error": failed[0] if failed else None,
        }
    return {
        "scores": scores,
        "by_lang": {
            lang: {n: round(sum(v) / len(v), 6) for n, v in sorted(per.items())}
            for lang, per in sorted(by_lang.items())
        },
        "items": {"done": len(rows), **statuses},
        "latency_ms": {
            "p50": percentile(latencies, 0.5),
            "p95": percentile(latencies, 0.95),
            "mean": round(sum(latencies) / len(latencies), 3) if latencies else None,
        },
        "cost": {
            "total": round(sum(r.cost for r in rows), 8),
            "mean": round(sum(r.cost for r in rows) / len(rows), 8) if rows else None,
        },
    }


# -- reads for the console and the CLI ---------------------------------------------------------
@dataclass
class ResultRow:
    item_id: int
    input: str
    expected: str | None
    lang: str | None
    output: str | None
    scores: dict[str, float | None]
    explanations: dict[str, str]
    status: str
    latency_ms: float | None
    trace_id: str | None
    errors: dict[str, str] = field(default_factory=dict)  # evaluator → why it failed

    def as_dict(self) -> JSONDict:
        return asdict(self)


def list_results(
    db: Database,
    run_id: str,
    *,
    sort_by: str | None = None,
    worst_first: bool = True,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[ResultRow], int]:
    """One page of a run's results; ``sort_by`` an evaluator's score (unscored items last)."""
    base = select(
        EvalResult.item_id,
        DatasetItem.input,
        DatasetItem.expected,
        DatasetItem.lang,
        EvalResult.output,
        EvalResult.scores,
        EvalResult.explanations,
        EvalResult.status,
        EvalResult.latency_ms,
        EvalResult.trace_id,
    ).join(DatasetItem, DatasetItem.id == EvalResult.item_id)
    stmt = base.where(EvalResult.run_id == run_id)
    if sort_by:
        key = EvalResult.scores[sort_by].as_float()
        stmt = stmt.order_by(
            key.is_(None), key.asc() if worst_first else key.desc(), EvalResult.item_id
        )
    else:
        stmt = stmt.order_by(EvalResult.item_id)
    stmt = stmt.limit(max(1, min(limit, 500))).offset(max(0, offset))
    with db.session() as s:
        rows = [_result_row(r) for r in s.execute(stmt)]
        total = s.scalar(
            select(func.count()).select_from(EvalResult).where(EvalResult.run_id == run_id)
        )
        return rows, int(total or 0)


def _result_row(r: Row[*tuple[Any, ...]]) -> ResultRow:
    scores = dict(r.scores or {})
    explanations = dict(r.explanations or {})
    errors = {n: e for n, v in scores.items() if (e := error_of(v, explanations.get(n)))}
    return ResultRow(
        item_id=r.item_id,
        input=r.input,
        expected=r.expected,
        lang=r.lang,
        output=r.output,
        scores=scores,
        explanations=explanations,
        status=r.status,
        latency_ms=r.latency_ms,
        trace_id=r.trace_id,
        errors=errors,
    )
