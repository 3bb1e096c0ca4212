"""Online evaluation: score a sample of live chat turns in the background.

The worker never touches the chat turn: it reads finished traces from the store (the span
writer put them there), so a turn never waits for it and a slow evaluator never slows a user.
Every ``interval_s`` it takes the chat traces newer than its watermark that have settled
(started at least ``settle_s`` ago, so a long turn is not read half-written), keeps a
deterministic sample (by trace id, so every replica picks the same traces), scores them with
evaluators that need no reference answer (groundedness against the retrieved context, answer
relevance, guard pass, latency, cost) and upserts the scores into ``trace_scores``
(source ``online``). Unique per (source, trace, name): several replicas, or a restart that
re-reads a few traces, never double-count.

Run it inside the app (``start_online``) or as its own process: ``llmops eval online``.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from llmops.evals.evaluators import EvalContext, EvalInput, resolve, score_all
from llmops.store.db import Database
from llmops.store.models import GuardEvent, Span, Trace, TraceScore, is_live, utcnow
from llmops.store.sql import insert as dialect_insert

if TYPE_CHECKING:
    from langchain_core.embeddings import Embeddings

    from llmops.config import Settings

log = logging.getLogger(__name__)

SOURCE = "online"
ID_TAIL = 8  # hex digits of the trace id's random tail used for sampling


def sampled(trace_id: str, rate: float) -> bool:
    """Deterministic sampling on the random tail of the id (the head is a timestamp)."""
    if rate >= 1.0:
        return True
    if rate <= 0.0:
        return False
    try:
        return int(trace_id[-ID_TAIL:], 16) / 16**ID_TAIL < rate
    except ValueError:
        return False


def _id_at(epoch_ms: int) -> str:
    """The smallest trace id started at ``epoch_ms`` (ids begin with 12 hex digits of ms)."""
    return f"{max(0, epoch_ms):012x}" + "0" * 20


def _contexts(raw: str | None) -> list[str]:
    """Retrieved passages from a retriever span's stored output (JSON documents)."""
    if not raw:
        return []
    try:
        docs = json.loads(raw)
    except ValueError:
        return [raw]  # truncated or plain text: still usable as one passage
    if not isinstance(docs, list):
        return [raw]
    out = []
    for d in docs:
        if isinstance(d, dict) and isinstance(d.get("page_content"), str):
            out.append(d["page_content"])
        elif isinstance(d, str):
            out.append(d)
    return out


class OnlineEvaluator:
    """Scores sampled live traces; ``run_once`` for one pass, ``start`` for a thread."""

    def __init__(
        self,
        db: Database,
        *,
        rate: float,
        evaluators: Sequence[str],
        embeddings: Embeddings | None = None,
        interval_s: float = 5.0,
        settle_s: float = 120.0,
        lookback_s: float = 3600.0,
        batch: int = 500,
    ) -> None:
        self.db = db
        self.rate = rate
        self.interval_s = interval_s
        self.settle_s = settle_s
        self.batch = batch
        self.ctx = EvalContext(embeddings=embeddings)
        self.evaluators = resolve(list(evaluators), self.ctx)
        self.scored = 0
        self._watermark: str | None = None
        self._lookback_s = lookback_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @classmethod
    def from_settings(
        cls, s: Settings, db: Database, embeddings: Embeddings | None = None, **kwargs: Any
    ) -> OnlineEvaluator:
        """The worker the settings describe (``LLMOPS_ONLINE_EVAL_*``); ``kwargs`` override."""
        names = [n.strip() for n in s.online_eval_evaluators.split(",") if n.strip()]
        kwargs.setdefault("rate", s.online_eval_rate)
        kwargs.setdefault("interval_s", s.online_eval_interval_s)
        return cls(db, evaluators=names, embeddings=embeddings, **kwargs)

    # -- one pass ---------------------------------------------------------------------------
    def _start_watermark(self) -> str:
        with self.db.session() as s:
            last = s.scalar(
                select(func.max(TraceScore.trace_id)).where(TraceScore.source == SOURCE)
            )
        since = _id_at(int((time.time() - self._lookback_s) * 1000))
        return max(last or since, since)

    def run_once(self) -> int:
        """Score the settled traces after the watermark; returns how many were scored."""
        if self._watermark is None:
            self._watermark = self._start_watermark()
        horizon = _id_at(int((time.time() - self.settle_s) * 1000) + 1)
        total = 0
        while True:
            with self.db.session() as s:
                rows = s.execute(
                    select(
                        Trace.id,
                        Trace.session_id,
                        Trace.status,
                        Trace.input,
                        Trace.output,
                        Trace.latency_ms,
                        Trace.cost,
                    )
                    .where(Trace.id > self._watermark, Trace.id < horizon, Trace.name == "chat")
                    .order_by(Trace.id)
                    .limit(self.batch)
                ).all()
            if not rows:
                return total
            chosen = [r for r in rows if sampled(r.id, self.rate) and is_live(r.session_id)]
            if chosen:
                total += self._score(chosen)
            self._watermark = rows[-1].id
            if len(rows) < self.batch:
                return total

    def _score(self, rows: list[Any]) -> int:
        ids = [r.id for r in rows]
        with self.db.session() as s:
            spans = s.execute(
                select(Span.trace_id, Span.output).where(
                    Span.trace_id.in_(ids), Span.kind == "retriever"
                )
            ).all()
            events = s.execute(
                select(GuardEvent.trace_id, GuardEvent.validator, GuardEvent.direction,
                       GuardEvent.action).where(GuardEvent.trace_id.in_(ids))
            ).all()  # fmt: skip
        contexts: dict[str, list[str]] = {}
        for sp in spans:
            contexts.setdefault(sp.trace_id, []).extend(_contexts(sp.output))
        violations: dict[str, list[dict[str, str]]] = {}
        for ev in events:
            violations.setdefault(ev.trace_id, []).append(
                {"validator": ev.validator, "direction": ev.direction, "action": ev.action}
            )
        values: list[dict[str, Any]] = []
        for r in rows:
            case = EvalInput(
                question=r.input or "",
                answer=r.output or "",
                contexts=contexts.get(r.id, []),
                status=r.status,
                blocked=r.status == "blocked",
                violations=violations.get(r.id, []),
                latency_ms=r.latency_ms,
                cost=r.cost or 0.0,
            )
            now = utcnow()
            for name, score in score_all(self.evaluators, case, self.ctx).items():
                if score.value is None:
                    continue
                values.append(
                    {"trace_id": r.id, "name": name, "value": score.value,
                     "explanation": score.explanation[:2000], "source": SOURCE,
                     "created_at": now}
                )  # fmt: skip
        if values:
            upsert_scores(self.db, values)
        self.scored += len(rows)
        return len(rows)

    # -- background thread ------------------------------------------------------------------
    def start(self) -> OnlineEvaluator:
        if self._thread is None and self.rate > 0:
            self._thread = threading.Thread(
                target=self._loop, name="llmops-online-eval", daemon=True
            )
            self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.run_once()
            except Exception:  # the worker must survive a store outage
                log.exception("online evaluation pass failed; retrying in %.0fs", self.interval_s)

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)


def upsert_scores(db: Database, values: list[dict[str, Any]]) -> None:
    """Insert or replace scores, unique per (source, trace, name)."""
    stmt = dialect_insert(db.dialect)(TraceScore)
    stmt = stmt.on_conflict_do_update(
        index_elements=["source", "trace_id", "name"],
        set_={
            "value": stmt.excluded.value,
            "explanation": stmt.excluded.explanation,
            "created_at": stmt.excluded.created_at,
        },
    )
    with db.session() as s:
        s.execute(stmt, values)
