"""Guardrail analytics for the console: every number is a SQL aggregate over indexed columns."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select

from llmops.store.db import Database
from llmops.store.models import GuardEvalRun, GuardEvent, Trace, live_filter
from llmops.types import JSONDict


def time_bucket(column: Any, unit: str, dialect: str) -> Any:
    """The start of the hour/day containing ``column``, as text, on SQLite and PostgreSQL."""
    if dialect == "postgresql":
        return func.to_char(func.date_trunc(unit, column), "YYYY-MM-DD HH24:00")
    fmt = "%Y-%m-%d %H:00" if unit == "hour" else "%Y-%m-%d 00:00"
    return func.strftime(fmt, column)


@dataclass
class EventFilter:
    since: datetime | None = None
    validator: str | None = None
    direction: str | None = None
    action: str | None = None
    release_id: str | None = None
    live_only: bool = True  # evaluation, playground and red-team turns are not monitoring


def _where(stmt: Select[Any], f: EventFilter) -> Select[Any]:
    if f.live_only:
        stmt = stmt.join(Trace, Trace.id == GuardEvent.trace_id).where(
            live_filter(Trace.session_id)
        )
    if f.since is not None:
        stmt = stmt.where(GuardEvent.created_at >= f.since)
    if f.validator:
        stmt = stmt.where(GuardEvent.validator == f.validator)
    if f.direction:
        stmt = stmt.where(GuardEvent.direction == f.direction)
    if f.action:
        stmt = stmt.where(GuardEvent.action == f.action)
    if f.release_id:
        stmt = stmt.where(GuardEvent.release_id == f.release_id)
    return stmt


def violation_series(db: Database, f: EventFilter, unit: str = "hour") -> list[dict[str, Any]]:
    """Violations per time bucket, validator and direction, with the traces in that bucket
    (so the page can show a rate)."""
    bucket = time_bucket(GuardEvent.created_at, unit, db.dialect).label("bucket")
    stmt: Any = select(
        bucket,
        GuardEvent.validator,
        GuardEvent.direction,
        func.count().label("events"),
    ).group_by(bucket, GuardEvent.validator, GuardEvent.direction)
    stmt = _where(stmt, f).order_by(bucket)
    tb = time_bucket(Trace.started_at, unit, db.dialect).label("bucket")
    traces_stmt: Any = select(tb, func.count().label("traces")).group_by(tb)
    if f.since is not None:
        traces_stmt = traces_stmt.where(Trace.started_at >= f.since)
    if f.release_id:
        traces_stmt = traces_stmt.where(Trace.release_id == f.release_id)
    if f.live_only:
        traces_stmt = traces_stmt.where(live_filter(Trace.session_id))
    with db.session() as s:
        totals = {r.bucket: r.traces for r in s.execute(traces_stmt)}
        rows = s.execute(stmt).all()
    return [
        {
            "bucket": r.bucket,
            "validator": r.validator,
            "direction": r.direction,
            "events": r.events,
            "traces": totals.get(r.bucket, 0),
            "rate": r.events / totals[r.bucket] if totals.get(r.bucket) else None,
        }
        for r in rows
    ]


def breakdown(db: Database, f: EventFilter) -> list[dict[str, Any]]:
    """Events per validator, direction and action, most frequent first."""
    n = func.count().label("events")
    stmt: Any = select(GuardEvent.validator, GuardEvent.direction, GuardEvent.action, n)
    stmt = (
        _where(stmt, f)
        .group_by(GuardEvent.validator, GuardEvent.direction, GuardEvent.action)
        .order_by(n.desc())
    )
    with db.session() as s:
        return [dict(r._mapping) for r in s.execute(stmt)]


def per_release(db: Database, f: EventFilter) -> list[dict[str, Any]]:
    """Traces, violating traces and blocked turns per release, for comparison (the
    filter's time range and traffic; its validator, direction and action narrow the
    events counted)."""
    traces: Any = select(Trace.release_id, func.count().label("traces")).group_by(Trace.release_id)
    if f.since is not None:
        traces = traces.where(Trace.started_at >= f.since)
    if f.live_only:
        traces = traces.where(live_filter(Trace.session_id))
    events: Any = select(
        GuardEvent.release_id,
        func.count(func.distinct(GuardEvent.trace_id)).label("violating"),
        func.count().filter(GuardEvent.action == "blocked").label("blocked"),
    ).group_by(GuardEvent.release_id)
    events = _where(events, EventFilter(**{**asdict(f), "release_id": None}))
    with db.session() as s:
        counts = {r.release_id: r.traces for r in s.execute(traces)}
        found = {r.release_id: r for r in s.execute(events)}
    out = []
    for rid in counts.keys() | found.keys():
        total, r = counts.get(rid, 0), found.get(rid)
        violating = r.violating if r else 0
        out.append({"release_id": rid, "traces": total, "violating_traces": violating,
                    "blocked": r.blocked if r else 0,
                    "violation_rate": violating / total if total else None})  # fmt: skip
    return sorted(out, key=lambda o: -(o["traces"] or 0))


@dataclass
class EventRow:
    id: int
    created_at: datetime
    trace_id: str
    validator: str
    direction: str
    action: str
    message: str
    excerpt: str | None
    release_id: str | None

    def as_dict(self) -> JSONDict:
        d = asdict(self)
        d["created_at"] = self.created_at.isoformat()
        return d


def list_events(
    db: Database, f: EventFilter, *, limit: int = 50, offset: int = 0
) -> tuple[list[EventRow], int]:
    cols: Any = select(
        GuardEvent.id,
        GuardEvent.created_at,
        GuardEvent.trace_id,
        GuardEvent.validator,
        GuardEvent.direction,
        GuardEvent.action,
        GuardEvent.message,
        GuardEvent.excerpt,
        GuardEvent.release_id,
    )
    stmt = _where(cols, f).order_by(GuardEvent.created_at.desc(), GuardEvent.id.desc())
    count = _where(select(func.count()).select_from(GuardEvent), f)
    with db.session() as s:
        rows = [EventRow(**r._mapping) for r in s.execute(stmt.limit(limit).offset(offset))]
        return rows, int(s.scalar(count) or 0)


def save_eval(db: Database, dataset: str, cases: int, results: dict[str, Any]) -> int:
    with db.session() as s:
        run = GuardEvalRun(dataset=dataset, cases=cases, results=results)
        s.add(run)
        s.flush()
        return run.id


def latest_evals(db: Database, limit: int = 10) -> list[dict[str, Any]]:
    with db.session() as s:
        stmt = select(GuardEvalRun).order_by(GuardEvalRun.created_at.desc()).limit(limit)
        return [
            {"id": r.id, "dataset": r.dataset, "cases": r.cases, "results": r.results,
             "created_at": r.created_at.isoformat()}
            for r in s.scalars(stmt)
        ]  # fmt: skip
