"""Human review queues: traces chosen by a filter, taken one at a time by reviewers.

A queue is filled once, from a filter over live traces (feedback, guard events, an
evaluator's score below a threshold, release, time range) and optionally a random sample
of N. A reviewer takes the next item: it is locked for them (``lock_minutes``) and released
when they record a verdict or the lock runs out; an item wants ``reviewers_per_item``
verdicts (several reviewers make agreement measurable, ``llmops.review.agreement``), and a
reviewer never gets the same item twice. Taking an item is a compare-and-set, so two
reviewers never hold the same one.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError
from sqlalchemy import case, exists, func, or_, select, update
from sqlalchemy.exc import IntegrityError

from llmops.errors import InvalidInputError, NotFoundError
from llmops.governance.roles import Actor, Capability, require
from llmops.redaction import redact
from llmops.store.db import Database
from llmops.store.models import (
    AuditLog,
    Feedback,
    GuardEvent,
    ReviewItem,
    ReviewQueue,
    ReviewVerdict,
    Trace,
    TraceScore,
    live_filter,
)
from llmops.types import JSONDict

VERDICTS = ("correct", "partly", "wrong")
MAX_ITEMS = 5000
MAX_TEXT = 8000


class QueueFilter(BaseModel):
    """Which traces a queue takes (all conditions must hold)."""

    feedback: Literal["any", "down", "up", "none"] = "any"
    guard_events: bool = False  # only traces with a guard violation
    score_name: str | None = None  # an evaluator's score (trace_scores) ...
    score_below: float | None = Field(None, ge=0.0, le=1.0)  # ... below this
    release_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    sample: int | None = Field(None, ge=1, le=MAX_ITEMS)  # a random sample of N
    seed: int = 0


def parse_filter(data: dict[str, Any]) -> QueueFilter:
    try:
        flt = QueueFilter.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise InvalidInputError(f"Invalid queue filter: {problems}.") from None
    if (flt.score_name is None) != (flt.score_below is None):
        raise InvalidInputError("A score filter needs both the score's name and a threshold.")
    if flt.since and flt.until and flt.until <= flt.since:
        raise InvalidInputError("The filter's time range is empty.")
    return flt


def _traces(db: Database, flt: QueueFilter) -> list[str]:
    t = Trace
    stmt = select(t.id).where(live_filter(t.session_id))
    if flt.release_id:
        stmt = stmt.where(t.release_id == flt.release_id)
    if flt.since:
        stmt = stmt.where(t.started_at >= flt.since)
    if flt.until:
        stmt = stmt.where(t.started_at < flt.until)
    rated = select(Feedback.id).where(Feedback.trace_id == t.id)
    if flt.feedback == "down":
        stmt = stmt.where(exists(rated.where(Feedback.score < 0.5)))
    elif flt.feedback == "up":
        stmt = stmt.where(exists(rated.where(Feedback.score >= 0.5)))
    elif flt.feedback == "none":
        stmt = stmt.where(~exists(rated))
    if flt.guard_events:
        stmt = stmt.where(exists(select(GuardEvent.id).where(GuardEvent.trace_id == t.id)))
    if flt.score_name is not None and flt.score_below is not None:
        stmt = stmt.where(
            exists(
                select(TraceScore.id).where(
                    TraceScore.trace_id == t.id,
                    TraceScore.name == flt.score_name,
                    TraceScore.value < flt.score_below,
                )
            )
        )
    with db.session() as s:
        ids = list(s.scalars(stmt.order_by(t.started_at.desc()).limit(MAX_ITEMS * 4)))
    if flt.sample is not None and len(ids) > flt.sample:
        ids = random.Random(flt.seed).sample(ids, flt.sample)
    return ids[:MAX_ITEMS]


@dataclass
class Queue:
    id: int
    name: str
    description: str
    filter: dict[str, Any]
    reviewers_per_item: int
    lock_minutes: int
    status: str
    created_at: datetime
    created_by: str
    items: int = 0
    done: int = 0

    def as_dict(self) -> JSONDict:
        return {**asdict(self), "created_at": self.created_at.isoformat(timespec="seconds")}


def _queue(row: ReviewQueue, items: int = 0, done: int = 0) -> Queue:
    return Queue(row.id, row.name, row.description or "", row.filter or {},
                 row.reviewers_per_item, row.lock_minutes, row.status, row.created_at,
                 row.created_by, items, done)  # fmt: skip


def create_queue(
    db: Database,
    name: str,
    flt: QueueFilter | dict[str, Any],
    *,
    description: str = "",
    reviewers_per_item: int = 1,
    lock_minutes: int = 15,
    actor: Actor | str = "system",
) -> Queue:
    """Create a queue and fill it with the traces its filter selects now."""
    actor = require(db, actor, Capability.REVIEW, action="review.create_queue")
    name = name.strip()
    if not name or len(name) > 200:
        raise InvalidInputError("A queue needs a name of 1 to 200 characters.")
    if not 1 <= reviewers_per_item <= 10:
        raise InvalidInputError("Reviewers per item must be between 1 and 10.")
    if not 1 <= lock_minutes <= 24 * 60:
        raise InvalidInputError("The lock must last between 1 minute and a day.")
    flt = flt if isinstance(flt, QueueFilter) else parse_filter(flt)
    ids = _traces(db, flt)
    if not ids:
        raise InvalidInputError("No trace matches this filter; nothing to review.")
    try:
        with db.session() as s:
            row = ReviewQueue(name=name, description=description,
                              filter=flt.model_dump(mode="json"),
                              reviewers_per_item=reviewers_per_item,
                              lock_minutes=lock_minutes, created_by=actor)  # fmt: skip
            s.add(row)
            s.flush()
            s.add_all(ReviewItem(queue_id=row.id, trace_id=tid) for tid in ids)
            s.add(AuditLog(actor=actor, action="review.queue.create", target=name,
                           details={"items": len(ids), "filter": row.filter}))  # fmt: skip
            s.flush()
            return _queue(row, len(ids), 0)
    except Exception as exc:
        if isinstance(getattr(exc, "__cause__", None), IntegrityError):
            raise InvalidInputError(f"A queue named {name!r} exists already.") from None
        raise


def get_queue(db: Database, queue: str | int) -> Queue:
    with db.session() as s:
        row = (
            s.get(ReviewQueue, queue)
            if isinstance(queue, int) or str(queue).isdigit()
            else s.scalar(select(ReviewQueue).where(ReviewQueue.name == queue))
        )
        if row is None:
            raise NotFoundError(f"Review queue {queue!r} does not exist.")
        items, done = s.execute(
            select(func.count(), func.coalesce(func.sum(case((ReviewItem.status == "done", 1), else_=0)), 0))
            .where(ReviewItem.queue_id == row.id)
        ).one()  # fmt: skip
        return _queue(row, int(items), int(done))


def list_queues(db: Database, *, limit: int = 50, offset: int = 0) -> list[Queue]:
    with db.session() as s:
        rows = s.scalars(
            select(ReviewQueue).order_by(ReviewQueue.created_at.desc()).limit(limit).offset(offset)
        ).all()
        ids = [r.id for r in rows]
        counts = {
            qid: (int(n), int(d or 0))
            for qid, n, d in s.execute(
                select(ReviewItem.queue_id, func.count(), func.sum(case((ReviewItem.status == "done", 1), else_=0)))
                .where(ReviewItem.queue_id.in_(ids)).group_by(ReviewItem.queue_id)
            )
        }  # fmt: skip
        return [_queue(r, *counts.get(r.id, (0, 0))) for r in rows]


@dataclass
class Task:
    """An item a reviewer holds: the conversation, its sources and its trace."""

    item_id: int
    queue: str
    trace_id: str
    question: str
    answer: str
    status: str
    release_id: str | None
    sources: list[dict[str, Any]] = field(default_factory=list)
    locked_until: datetime | None = None
    verdicts: int = 0

    def as_dict(self) -> JSONDict:
        d = asdict(self)
        d["locked_until"] = self.locked_until.isoformat() if self.locked_until else None
        return d


def next_item(
    db: Database, queue: str | int, reviewer: Actor | str, *, now: datetime | None = None
) -> Task | None:
    """Lock the next item this reviewer has not reviewed and nobody else holds (or their
    own held item, so a reload keeps it). None when the queue has nothing for them."""
    reviewer = require(db, reviewer, Capability.REVIEW, action="review.next")
    reviewer = reviewer.strip()
    if not reviewer:
        raise InvalidInputError("A reviewer needs a name.")
    q = get_queue(db, queue)
    now = now or datetime.now(UTC)
    until = now + timedelta(minutes=q.lock_minutes)
    mine = select(ReviewVerdict.id).where(
        ReviewVerdict.item_id == ReviewItem.id, ReviewVerdict.reviewer == reviewer
    )
    free = or_(ReviewItem.locked_until.is_(None), ReviewItem.locked_until < now,
               ReviewItem.locked_by == reviewer)  # fmt: skip
    for _ in range(20):  # another reviewer may take the candidate first: try the next
        with db.session() as s:
            held = s.scalar(
                select(ReviewItem.id).where(
                    ReviewItem.queue_id == q.id, ReviewItem.status == "pending",
                    ReviewItem.locked_by == reviewer, ReviewItem.locked_until >= now,
                ).limit(1)
            )  # fmt: skip
            candidate = held or s.scalar(
                select(ReviewItem.id)
                .where(ReviewItem.queue_id == q.id, ReviewItem.status == "pending", free,
                       ~exists(mine))
                .order_by(ReviewItem.id)
                .limit(1)
            )  # fmt: skip
            if candidate is None:
                return None
            done = s.execute(
                update(ReviewItem)
                .where(ReviewItem.id == candidate, ReviewItem.status == "pending", free)
                .values(locked_by=reviewer, locked_until=until)
            )
            if done.rowcount:  # type: ignore[attr-defined]
                break
    else:
        return None
    return task(db, candidate)


def task(db: Database, item_id: int) -> Task:
    from llmops.store.queries import get_trace

    with db.session() as s:
        item = s.get(ReviewItem, item_id)
        if item is None:
            raise NotFoundError(f"Review item {item_id} does not exist.")
        queue = s.get(ReviewQueue, item.queue_id)
        trace_id, status, verdicts, locked = (
            item.trace_id,
            item.status,
            item.verdicts,
            item.locked_until,
        )
        qname = queue.name if queue else ""
    detail = get_trace(db, trace_id)
    t = detail.trace
    sources: list[dict[str, Any]] = []
    for span in detail.spans:
        if span["kind"] == "retriever" and span.get("output"):
            sources = _documents(span["output"])
    return Task(item_id, qname, trace_id, t.get("input") or "", t.get("output") or "", status,
                t.get("release_id"), sources, locked, verdicts)  # fmt: skip


def _documents(output: str) -> list[dict[str, Any]]:
    """The retriever span's stored output as (source, snippet) pairs."""
    import json

    try:
        docs = json.loads(output)
    except ValueError:
        return [{"source": "", "snippet": output[:500]}]
    out = []
    for d in docs if isinstance(docs, list) else []:
        if isinstance(d, dict):
            meta = d.get("metadata") or {}
            out.append({"source": str(meta.get("source", "")),
                        "snippet": str(d.get("page_content", ""))[:500],
                        "score": meta.get("score")})  # fmt: skip
    return out


def label(
    db: Database,
    item_id: int,
    reviewer: Actor | str,
    verdict: str,
    *,
    categories: list[str] | None = None,
    corrected: str | None = None,
    note: str | None = None,
) -> Task:
    """Record a reviewer's verdict (once per reviewer and item) and release the lock."""
    reviewer = require(db, reviewer, Capability.REVIEW, action="review.label")
    if verdict not in VERDICTS:
        raise InvalidInputError(f"A verdict is one of {', '.join(VERDICTS)}, not {verdict!r}.")
    reviewer = reviewer.strip()
    cats = sorted({c.strip().lower() for c in categories or [] if c.strip()})
    texts = []
    for text in (corrected, note):
        if text is not None and len(text) > MAX_TEXT:
            raise InvalidInputError(
                f"A corrected answer or note is at most {MAX_TEXT:,} characters."
            )
        texts.append(redact(text.strip()) if text and text.strip() else None)
    with db.session() as s:
        item = s.get(ReviewItem, item_id)
        if item is None:
            raise NotFoundError(f"Review item {item_id} does not exist.")
        queue = s.get(ReviewQueue, item.queue_id)
        if s.scalar(select(ReviewVerdict.id).where(ReviewVerdict.item_id == item_id,
                                                   ReviewVerdict.reviewer == reviewer)):  # fmt: skip
            raise InvalidInputError(f"{reviewer} already reviewed item {item_id}.")
        if (
            item.locked_by not in (None, reviewer)
            and item.locked_until
            and item.locked_until.replace(tzinfo=UTC) >= datetime.now(UTC)
        ):
            raise InvalidInputError(f"Item {item_id} is being reviewed by {item.locked_by}.")
        s.add(ReviewVerdict(item_id=item_id, reviewer=reviewer, verdict=verdict, categories=cats,
                            corrected=texts[0], note=texts[1]))  # fmt: skip
        item.verdicts += 1
        item.locked_by, item.locked_until = None, None
        if queue is not None and item.verdicts >= queue.reviewers_per_item:
            item.status = "done"
    return task(db, item_id)


@dataclass
class Progress:
    total: int
    done: int
    pending: int
    locked: int
    by_reviewer: dict[str, int]
    verdicts: dict[str, int]

    def as_dict(self) -> JSONDict:
        return asdict(self)


def progress(db: Database, queue: str | int, *, now: datetime | None = None) -> Progress:
    q = get_queue(db, queue)
    now = now or datetime.now(UTC)
    with db.session() as s:
        locked = s.scalar(
            select(func.count()).where(ReviewItem.queue_id == q.id, ReviewItem.status == "pending",
                                       ReviewItem.locked_until >= now)
        )  # fmt: skip
        per = dict(
            s.execute(
                select(ReviewVerdict.reviewer, func.count())
                .join(ReviewItem, ReviewItem.id == ReviewVerdict.item_id)
                .where(ReviewItem.queue_id == q.id).group_by(ReviewVerdict.reviewer)
            ).all()
        )  # fmt: skip
        kinds = dict(
            s.execute(
                select(ReviewVerdict.verdict, func.count())
                .join(ReviewItem, ReviewItem.id == ReviewVerdict.item_id)
                .where(ReviewItem.queue_id == q.id).group_by(ReviewVerdict.verdict)
            ).all()
        )  # fmt: skip
    return Progress(q.items, q.done, q.items - q.done, int(locked or 0),
                    {k: int(v) for k, v in per.items()}, {k: int(v) for k, v in kinds.items()})  # fmt: skip


@dataclass
class Reviewed:
    item_id: int
    trace_id: str
    question: str
    answer: str
    release_id: str | None
    verdicts: list[dict[str, Any]]

    @property
    def consensus(self) -> str:
        """The most common verdict (ties go to the more severe one)."""
        order = {v: i for i, v in enumerate(reversed(VERDICTS))}  # wrong < partly < correct
        counts: dict[str, int] = {}
        for v in self.verdicts:
            counts[v["verdict"]] = counts.get(v["verdict"], 0) + 1
        return min(counts, key=lambda k: (-counts[k], order[k])) if counts else ""

    @property
    def corrected(self) -> str | None:
        return next((v["corrected"] for v in self.verdicts if v.get("corrected")), None)


def reviewed(
    db: Database, queue: str | int, *, limit: int = 1000, offset: int = 0
) -> list[Reviewed]:
    """Items with at least one verdict, with their conversation and verdicts (paged)."""
    q = get_queue(db, queue)
    with db.session() as s:
        rows = s.execute(
            select(ReviewItem.id, ReviewItem.trace_id, Trace.input, Trace.output, Trace.release_id)
            .join(Trace, Trace.id == ReviewItem.trace_id)
            .where(ReviewItem.queue_id == q.id, ReviewItem.verdicts > 0)
            .order_by(ReviewItem.id).limit(limit).offset(offset)
        ).all()  # fmt: skip
        ids = [r[0] for r in rows]
        verdicts: dict[int, list[dict[str, Any]]] = {i: [] for i in ids}
        for v in s.scalars(select(ReviewVerdict).where(ReviewVerdict.item_id.in_(ids))
                           .order_by(ReviewVerdict.id)):  # fmt: skip
            verdicts[v.item_id].append(
                {"reviewer": v.reviewer, "verdict": v.verdict, "categories": v.categories or [],
                 "corrected": v.corrected, "note": v.note, "at": v.at.isoformat()}
            )  # fmt: skip
    return [
        Reviewed(i, tid, qn or "", ans or "", rel, verdicts[i]) for i, tid, qn, ans, rel in rows
    ]


def to_dataset(
    db: Database, queue: str | int, dataset: str, *, actor: Actor | str = "system"
) -> int:
    """Reviewed items as evaluation cases: the corrected answer (or, for a correct one, the
    answer given) is the expectation. Returns how many cases were added."""
    actor = require(db, actor, Capability.DATASETS, action="review.to_dataset")
    from llmops.evals.mining import add_from_traces

    items = reviewed(db, queue)
    if not items:
        raise InvalidInputError("No item of this queue has been reviewed yet.")
    expected = {}
    for it in items:
        fix = it.corrected or (it.answer if it.consensus == "correct" else None)
        if fix:
            expected[it.trace_id] = fix
    return add_from_traces(db, dataset, [i.trace_id for i in items], actor=actor, expected=expected)


def finetune_examples(
    db: Database, queue: str | int, *, actor: Actor | str = "system"
) -> list[dict[str, Any]]:
    """Curated chat fine-tuning examples (OpenAI JSONL format): every reviewed item with a
    corrected answer, or judged correct, with the system prompt of the release that answered.
    Conversations leaving the store: ``Capability.EXPORTS``."""
    require(db, actor, Capability.EXPORTS, action="review.export")
    from llmops.llm.prompts import DEFAULT_SYSTEM_PROMPT
    from llmops.store.models import Release

    items = reviewed(db, queue)
    prompts: dict[str | None, str] = {}
    with db.session() as s:
        for rid, config in s.execute(select(Release.id, Release.config).where(
                Release.id.in_({i.release_id for i in items if i.release_id}))):  # fmt: skip
            prompts[rid] = str((config or {}).get("system_prompt") or "")
    out = []
    for it in items:
        answer = it.corrected or (it.answer if it.consensus == "correct" else None)
        if not answer or not it.question:
            continue
        out.append({"messages": [
            {"role": "system", "content": prompts.get(it.release_id) or DEFAULT_SYSTEM_PROMPT},
            {"role": "user", "content": it.question},
            {"role": "assistant", "content": answer},
        ]})  # fmt: skip
    return out
