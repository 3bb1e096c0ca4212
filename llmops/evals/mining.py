"""Dataset cases mined from production traces: the candidates an operator picks from
(thumbs-down, guard events, comments) and the copy of chosen traces into a dataset."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, exists, func, select

from llmops.errors import InvalidInputError, NotFoundError
from llmops.evals.cases import Case
from llmops.evals.datasets import audit, bump_version, current_items, get_or_create, item_row
from llmops.governance.roles import Actor, Capability, require
from llmops.store.db import Database
from llmops.store.models import (
    DatasetItem,
    Feedback,
    GuardEvent,
    Trace,
    live_filter,
)
from llmops.text import detect_lang
from llmops.types import JSONDict


def _normal_ids(trace_ids: Iterable[str]) -> list[str]:
    ids: list[str] = []
    for raw in trace_ids:
        tid = str(raw).strip().lower()
        if tid and tid not in ids:
            ids.append(tid)
    return ids


def add_from_traces(
    db: Database,
    dataset_name: str,
    trace_ids: list[str],
    *,
    actor: Actor | str,
    expected: dict[str, str] | None = None,
) -> int:
    """Add the (already redacted) inputs of traces as cases of ``dataset_name``.

    Creates the dataset if it is missing, keeps each trace as the item's origin, takes a
    corrected answer per trace from ``expected``, skips traces already in the dataset, and
    bumps the version once. Unknown trace ids raise ``NotFoundError`` and add nothing.
    Returns the number of items added.
    """
    actor = require(db, actor, Capability.DATASETS, action="dataset.add_from_traces")
    ids = _normal_ids(trace_ids)
    if not ids:
        raise InvalidInputError("No trace ids given.")
    fixes = {k.strip().lower(): v for k, v in (expected or {}).items()}
    with db.session() as s:
        traces = {t.id: t for t in s.scalars(select(Trace).where(Trace.id.in_(ids)))}
        missing = [t for t in ids if t not in traces]
        if missing:
            shown = ", ".join(missing[:5]) + (" …" if len(missing) > 5 else "")
            raise NotFoundError(f"{len(missing)} trace(s) do not exist: {shown}")
        empty = [t for t in ids if not (traces[t].input or "").strip()]
        if empty:
            raise InvalidInputError(f"Trace {empty[0]} has no input to use as a case.")
        row = get_or_create(
            s,
            dataset_name,
            description="Built from traces",
            actor=actor,
            source=None,
            create=True,
        )
        present = set(
            s.scalars(
                select(DatasetItem.origin_trace_id).where(
                    current_items(row.id, row.version), DatasetItem.origin_trace_id.in_(ids)
                )
            )
        )
        todo = [t for t in ids if t not in present]
        if not todo:
            return 0
        feedback: dict[str, list[Feedback]] = {}
        for fb in s.scalars(
            select(Feedback).where(Feedback.trace_id.in_(todo)).order_by(Feedback.created_at)
        ):
            feedback.setdefault(fb.trace_id, []).append(fb)
        version = bump_version(s, row.id)
        for tid in todo:
            t = traces[tid]
            fbs = feedback.get(tid, [])
            comments = [f.comment for f in fbs if f.comment]
            meta: JSONDict = {"trace_output": (t.output or "")[:4000]}
            if t.release_id:
                meta["release_id"] = t.release_id
            if comments:
                meta["feedback_comment"] = comments[-1]
            tags = ["from-trace"]
            if any(f.score < 0.5 for f in fbs):
                tags.append("thumbs-down")
            fix = (fixes.get(tid) or "").strip() or None
            text = (t.input or "").strip()
            s.add(
                item_row(
                    Case(
                        input=text,
                        expected=fix,
                        lang=detect_lang(text),
                        tags=tags,
                        metadata=meta,
                        origin_trace_id=tid,
                    ),
                    row.id,
                    version,
                )
            )
        audit(s, actor, "dataset.from_traces", row.name, version=version, traces=todo)
        return len(todo)


@dataclass
class TraceCandidate:
    """A trace that could become a case: what was asked, answered, and said about it."""

    id: str
    started_at: datetime
    input: str | None
    output: str | None
    release_id: str | None
    status: str
    comment: str | None
    thumbs_down: int
    guard_events: int

    def as_dict(self) -> JSONDict:
        d = asdict(self)
        d["started_at"] = self.started_at.isoformat()
        return d


@dataclass
class TraceQuery:
    feedback: str | None = "down"  # down | up | None (any)
    guard_events: bool = False  # only traces with a guardrail event
    since: datetime | None = None
    until: datetime | None = None
    exclude_in_datasets: bool = True  # leave out traces some dataset already holds


def candidate_traces(
    db: Database, q: TraceQuery | None = None, *, limit: int = 50, offset: int = 0
) -> tuple[list[TraceCandidate], int]:
    """Chat traces (never evaluation traces) matching ``q``, newest first, paged in SQL."""
    q = q or TraceQuery()
    down = Feedback.score < 0.5
    conds: list[ColumnElement[bool]] = [live_filter(Trace.session_id)]
    if q.feedback in ("up", "down"):
        good = down if q.feedback == "down" else Feedback.score >= 0.5
        conds.append(exists().where(Feedback.trace_id == Trace.id, good))
    if q.guard_events:
        conds.append(exists().where(GuardEvent.trace_id == Trace.id))
    if q.since is not None:
        conds.append(Trace.started_at >= q.since)
    if q.until is not None:
        conds.append(Trace.started_at < q.until)
    if q.exclude_in_datasets:
        conds.append(
            ~exists().where(
                DatasetItem.origin_trace_id == Trace.id, DatasetItem.removed_in.is_(None)
            )
        )
    comment = (
        select(Feedback.comment)
        .where(Feedback.trace_id == Trace.id, Feedback.comment.is_not(None))
        .order_by(Feedback.created_at.desc())
        .limit(1)
        .scalar_subquery()
    )
    n_down = select(func.count()).where(Feedback.trace_id == Trace.id, down).scalar_subquery()
    n_events = select(func.count()).where(GuardEvent.trace_id == Trace.id).scalar_subquery()
    stmt = (
        select(
            Trace.id,
            Trace.started_at,
            func.substr(Trace.input, 1, 500).label("input"),
            func.substr(Trace.output, 1, 500).label("output"),
            Trace.release_id,
            Trace.status,
            comment.label("comment"),
            n_down.label("thumbs_down"),
            n_events.label("guard_events"),
        )
        .where(*conds)
        .order_by(Trace.started_at.desc(), Trace.id.desc())
        .limit(max(1, min(limit, 500)))
        .offset(max(0, offset))
    )
    total = select(func.count()).select_from(Trace).where(*conds)
    with db.session() as s:
        rows = [TraceCandidate(**r._mapping) for r in s.execute(stmt)]
        return rows, int(s.scalar(total) or 0)
