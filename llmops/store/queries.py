"""Read queries for the console and the CLI: paginated lists and small aggregates, all in SQL."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, TypedDict, TypeVar

from sqlalchemy import Select, SQLColumnExpression, String, and_, cast, exists, func, or_, select
from sqlalchemy.orm import Session

from llmops.errors import NotFoundError
from llmops.store.db import Database
from llmops.store.models import Base, Feedback, Span, Trace
from llmops.types import JSONDict

FEEDBACK_CHOICES = ("up", "down", "none")


def escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


@dataclass
class TraceFilter:
    since: datetime | None = None
    until: datetime | None = None
    status: str | None = None
    release_id: str | None = None
    session_id: str | None = None
    model: str | None = None
    feedback: str | None = None  # up | down | none
    text: str | None = None
    user_id: str | None = None
    validator: str | None = None  # a guard event of this validator on the trace
    guard_action: str | None = None  # ... with this action (blocked / fixed / flagged)
    min_latency_ms: float | None = None
    max_latency_ms: float | None = None
    tag: str | None = None
    comment: str | None = None  # text in a feedback comment on the trace
    sort: str = "time"  # one of SORTS
    descending: bool = True


# the Traces list's sortable columns (each with the id as a tie-breaker)
SORTS: dict[str, SQLColumnExpression[Any]] = {
    "time": Trace.started_at,
    "latency": Trace.latency_ms,
    "cost": Trace.cost,
    "tokens": Trace.input_tokens + Trace.output_tokens,
    "status": Trace.status,
    "model": Trace.model,
}


@dataclass
class TraceSummary:
    id: str
    started_at: datetime
    session_id: str | None
    user_id: str | None
    release_id: str | None
    model: str | None
    status: str
    latency_ms: float | None
    input_tokens: int
    output_tokens: int
    cost: float
    input: str | None
    thumbs_up: int
    thumbs_down: int

    def as_dict(self) -> JSONDict:
        d = asdict(self)
        d["started_at"] = self.started_at.isoformat()
        return d


class Score(TypedDict):
    """One evaluator score of a trace, from online evaluation or an evaluation run."""

    name: str
    value: float
    explanation: str | None
    source: str
    run_id: str | None
    created_at: str


@dataclass
class TraceDetail:
    # rows as dicts of column name → value (timestamps as ISO text)
    trace: JSONDict
    spans: list[JSONDict] = field(default_factory=list)
    feedback: list[JSONDict] = field(default_factory=list)
    # evaluator scores: online evaluation (trace_scores) and evaluation runs (eval_results)
    scores: list[Score] = field(default_factory=list)

    def as_dict(self) -> JSONDict:
        return {
            "trace": self.trace,
            "spans": self.spans,
            "feedback": self.feedback,
            "scores": self.scores,
        }


_Stmt = TypeVar("_Stmt", bound=Select)


def _apply(stmt: _Stmt, f: TraceFilter) -> _Stmt:
    conds = []
    if f.since is not None:
        conds.append(Trace.started_at >= f.since)
    if f.until is not None:
        conds.append(Trace.started_at < f.until)
    if f.status:
        conds.append(Trace.status == f.status)
    if f.release_id:
        conds.append(Trace.release_id == f.release_id)
    if f.session_id:
        conds.append(Trace.session_id == f.session_id)
    if f.model:
        conds.append(Trace.model == f.model)
    if f.feedback in ("up", "down"):
        good = Feedback.score >= 0.5 if f.feedback == "up" else Feedback.score < 0.5
        conds.append(exists().where(and_(Feedback.trace_id == Trace.id, good)))
    elif f.feedback == "none":
        conds.append(~exists().where(Feedback.trace_id == Trace.id))
    if f.user_id:
        conds.append(Trace.user_id == f.user_id)
    if f.validator or f.guard_action:
        # the (few) flagged traces first, through ix_guard_events_validator_created
        from llmops.store.models import GuardEvent

        event = select(GuardEvent.trace_id)
        if f.validator:
            event = event.where(GuardEvent.validator == f.validator)
        if f.guard_action:
            event = event.where(GuardEvent.action == f.guard_action)
        conds.append(Trace.id.in_(event))
    if f.min_latency_ms is not None:
        conds.append(Trace.latency_ms >= f.min_latency_ms)
    if f.max_latency_ms is not None:
        conds.append(Trace.latency_ms <= f.max_latency_ms)
    if f.tag:
        # tags are a JSON list: match the tag as a JSON string inside its text
        quoted = escape_like(json.dumps(f.tag.strip(), ensure_ascii=False))
        conds.append(cast(Trace.tags, String).like(f"%{quoted}%", escape="\\"))
    if f.comment:
        # the commented ratings first: far fewer rows than the traces in the range
        said = Feedback.comment.ilike(f"%{escape_like(f.comment)}%", escape="\\")
        conds.append(Trace.id.in_(select(Feedback.trace_id).where(said)))
    if f.text:
        pattern = f"%{escape_like(f.text)}%"
        conds.append(
            or_(
                Trace.input.ilike(pattern, escape="\\"),
                Trace.output.ilike(pattern, escape="\\"),
                Trace.id == f.text.strip().lower(),
            )
        )
    return stmt.where(*conds) if conds else stmt


def list_traces(
    db: Database, f: TraceFilter | None = None, *, limit: int = 50, offset: int = 0
) -> list[TraceSummary]:
    """Newest first, filtered and paged in SQL."""
    f = f or TraceFilter()
    up = (
        select(func.count())
        .where(Feedback.trace_id == Trace.id, Feedback.score >= 0.5)
        .scalar_subquery()
    )
    down = (
        select(func.count())
        .where(Feedback.trace_id == Trace.id, Feedback.score < 0.5)
        .scalar_subquery()
    )
    stmt = select(
        Trace.id,
        Trace.started_at,
        Trace.session_id,
        Trace.user_id,
        Trace.release_id,
        Trace.model,
        Trace.status,
        Trace.latency_ms,
        Trace.input_tokens,
        Trace.output_tokens,
        Trace.cost,
        func.substr(Trace.input, 1, 200).label("input"),
        up.label("thumbs_up"),
        down.label("thumbs_down"),
    )
    column = SORTS.get(f.sort, Trace.started_at)
    key = column.desc() if f.descending else column.asc()
    if f.sort in ("latency", "model"):  # nullable: missing values last either way
        key = key.nulls_last()
    order = [key, Trace.id.desc() if f.descending else Trace.id.asc()]
    stmt = _apply(stmt, f).order_by(*order)
    stmt = stmt.limit(max(1, min(limit, 500))).offset(max(0, offset))
    with db.session() as s:
        return [TraceSummary(**row._mapping) for row in s.execute(stmt)]


def count_traces(db: Database, f: TraceFilter | None = None) -> int:
    stmt = _apply(select(func.count()).select_from(Trace), f or TraceFilter())
    with db.session() as s:
        return int(s.scalar(stmt) or 0)


def _row(obj: Base) -> JSONDict:
    out = {}
    for col in obj.__table__.columns:
        value = getattr(obj, col.key)
        out[col.key] = value.isoformat() if isinstance(value, datetime) else value
    return out


def get_trace(db: Database, trace_id: str) -> TraceDetail:
    """A trace with its spans (in start order) and its feedback."""
    with db.session() as s:
        trace = s.get(Trace, trace_id.strip().lower())
        if trace is None:
            raise NotFoundError(f"Trace {trace_id!r} does not exist.")
        spans = s.scalars(
            select(Span).where(Span.trace_id == trace.id).order_by(Span.started_at, Span.id)
        ).all()
        fb = s.scalars(
            select(Feedback).where(Feedback.trace_id == trace.id).order_by(Feedback.created_at)
        ).all()
        return TraceDetail(
            _row(trace), [_row(x) for x in spans], [_row(x) for x in fb], _scores(s, trace.id)
        )


def _scores(s: Session, trace_id: str) -> list[Score]:
    """A trace's evaluator scores (both lookups use an index on trace_id)."""
    from llmops.store.models import EvalResult, TraceScore

    out: list[Score] = [
        {"name": r.name, "value": r.value, "explanation": r.explanation, "source": r.source,
         "run_id": None, "created_at": r.created_at.isoformat()}
        for r in s.scalars(
            select(TraceScore).where(TraceScore.trace_id == trace_id).order_by(TraceScore.name)
        )
    ]  # fmt: skip
    for res in s.scalars(select(EvalResult).where(EvalResult.trace_id == trace_id)):
        for name, value in sorted((res.scores or {}).items()):
            if value is not None:
                out.append(
                    {"name": name, "value": value,
                     "explanation": (res.explanations or {}).get(name), "source": "eval",
                     "run_id": res.run_id, "created_at": res.created_at.isoformat()}
                )  # fmt: skip
    return out


def trace_violations(db: Database, trace_id: str) -> list[JSONDict]:
    """The guard events of one trace, in order (``ix_guard_events_trace_id``)."""
    from llmops.store.models import GuardEvent

    with db.session() as s:
        rows = s.scalars(
            select(GuardEvent).where(GuardEvent.trace_id == trace_id).order_by(GuardEvent.id)
        ).all()
        return [_row(r) for r in rows]


def validators_seen(db: Database) -> list[str]:
    """Validators that have recorded an event (``ix_guard_events_validator_created``)."""
    from llmops.store.models import GuardEvent

    with db.session() as s:
        stmt = select(GuardEvent.validator).distinct().order_by(GuardEvent.validator).limit(200)
        return list(s.scalars(stmt))


def release_ids(db: Database, limit: int = 200) -> list[str]:
    """Release ids, newest first (for filters)."""
    from llmops.store.models import Release

    with db.session() as s:
        stmt = select(Release.id).order_by(Release.created_at.desc()).limit(limit)
        return list(s.scalars(stmt))
