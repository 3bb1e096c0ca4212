"""Evaluation runs: the real chat pipeline of a release over one version of a dataset.

Each item goes through ``ChatService`` exactly as a user's message would (guards, retrieval,
model, tracing), as a trace in session ``eval:<run id>`` tagged with the run; an
``evaluate`` span with the scores is added to that trace. Evaluators see what the trace saw:
a ``CaptureSink`` in front of the span writer keeps each item's retrieved documents and its
trace record (latency, tokens, cost) on their way to the store, so nothing is read back.

Items run on a bounded thread pool. Results are written in small batches with the run's
heartbeat; a run can be cancelled (an event, or ``cancel_run`` from another process) and
resumed later without redoing the items it already recorded.

An evaluator that fails on an item is an error of that item's result (``ResultRow.errors``:
which evaluator, and why), counted per evaluator in the run's metrics (``errors`` next to
``n`` and ``not_applicable``, with the first error), never a "not applicable".
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, TypedDict

from sqlalchemy import func, select, update

from llmops.errors import InvalidInputError, NotFoundError, UserFacingError
from llmops.evals import datasets
from llmops.evals.evaluators import (
    EvalContext,
    EvalInput,
    Evaluator,
    resolve,
    score_all,
)
from llmops.evals.judge import rubric_for
from llmops.evals.runs import RunInfo, aggregate, get_run
from llmops.governance.roles import Actor, Capability, require
from llmops.releases import resolve_ref_or_file
from llmops.store.models import (
    EVAL_SESSION_PREFIX,
    EvalResult,
    EvalRun,
    utcnow,
)
from llmops.store.sql import insert as dialect_insert
from llmops.tracing.ids import new_span_id
from llmops.tracing.records import Record, SpanRecord, TraceRecord
from llmops.tracing.tracer import RecordSink, Tracer
from llmops.types import JSONDict

if TYPE_CHECKING:
    from langchain_core.callbacks import BaseCallbackHandler
    from langchain_core.documents import Document
    from langchain_core.embeddings import Embeddings

    from llmops.chat import ChatService, Guards, Turn
    from llmops.evals.registry import Judge
    from llmops.runtime import Runtime

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]


class ResultValues(TypedDict):
    """One item's ``eval_results`` row, as the runner inserts it."""

    run_id: str
    item_id: int
    trace_id: str
    output: str
    scores: dict[str, float | None]
    explanations: dict[str, str | None]
    status: str
    error: str | None
    latency_ms: float
    cost: float
    created_at: datetime


# -- capture -----------------------------------------------------------------------------------
@dataclass
class Captured:
    docs: list[Document] = field(default_factory=list)
    trace: TraceRecord | None = None
    root_span_id: str | None = None


class CaptureSink:
    """Forwards every record to the real sink and keeps what evaluators need, per trace."""

    def __init__(self, inner: RecordSink) -> None:
        self.inner = inner
        self._seen: dict[str, Captured] = {}
        self._lock = threading.Lock()

    def _entry(self, trace_id: str) -> Captured:
        with self._lock:
            return self._seen.setdefault(trace_id, Captured())

    def submit(self, record: Record) -> None:
        self.inner.submit(record)
        if isinstance(record, SpanRecord):
            if record.kind == "retriever" and isinstance(record.output, list):
                self._entry(record.trace_id).docs.extend(record.output)
            elif record.parent_id is None:
                self._entry(record.trace_id).root_span_id = record.span_id
        elif isinstance(record, TraceRecord):
            self._entry(record.id).trace = record

    def flush(self, timeout: float = 10.0) -> bool:
        return self.inner.flush(timeout)

    def pop(self, trace_id: str) -> Captured:
        with self._lock:
            return self._seen.pop(trace_id, None) or Captured()


# -- runs in the store -------------------------------------------------------------------------
# -- the runner --------------------------------------------------------------------------------
class EvalRunner:
    """Creates and executes evaluation runs; thread-safe, one per process is enough."""

    def __init__(
        self,
        chat: ChatService,
        sink: CaptureSink,
        *,
        embeddings: Embeddings | None = None,
        judge: Judge | None = None,
        default_concurrency: int = 4,
    ) -> None:
        self.chat = chat
        self.db = chat.db
        self.sink = sink
        self.embeddings = embeddings
        self.judge = judge
        self.default_concurrency = default_concurrency

    @classmethod
    def from_runtime(
        cls, rt: Runtime, *, judge: Judge | None = None, guards: Guards | None = None
    ) -> EvalRunner:
        """A runner over the runtime's store, knowledge base, guards and span writer."""
        from llmops.chat import ChatService
        from llmops.evals.judge import Judge

        sink = CaptureSink(rt.writer)
        chat = ChatService(
            rt.settings,
            rt.db,
            rt.kb,
            Tracer(sink),
            guards=guards if guards is not None else rt.chat.guards,
        )
        if judge is None:
            try:
                judge = Judge.from_settings(rt.settings)
            except UserFacingError as exc:  # e.g. the judge's API key is missing
                log.warning("LLM judge disabled: %s", exc)
        return cls(
            chat,
            sink,
            embeddings=rt.embeddings,
            judge=judge,
            default_concurrency=rt.settings.eval_concurrency,
        )

    def context(
        self, params: dict[str, JSONDict] | None = None, run: RunInfo | None = None
    ) -> EvalContext:
        return EvalContext(embeddings=self.embeddings, judge=self.judge, params=params,
                           ask=lambda question: self._ask(run, question))  # fmt: skip

    def _ask(self, run: RunInfo | None, question: str) -> Turn:
        """Another question to the run's release, as evaluation traffic of the run."""
        if run is None:
            raise InvalidInputError("Evaluators ask the release questions only during a run.")
        turn = self.chat.ask(question, session_id=f"{EVAL_SESSION_PREFIX}{run.id}",
                             release_id=run.release_id, tags=["eval", f"eval_run:{run.id}",
                                                              "counterfactual"])  # fmt: skip
        self.sink.pop(turn.trace_id)  # not an item: nothing for the evaluators to keep
        return turn

    # -- create -----------------------------------------------------------------------------
    def create(
        self,
        dataset: str | int,
        release: str,
        *,
        evaluators: list[str] | None = None,
        concurrency: int | None = None,
        params: dict[str, JSONDict] | None = None,
        name: str = "",
        actor: Actor | str = "system",
    ) -> RunInfo:
        """A pending run of ``release`` over the dataset's current version."""
        actor = require(self.db, actor, Capability.EVALUATIONS, action="eval.run")
        info = datasets.get_dataset(self.db, dataset)
        if info.items == 0:
            raise InvalidInputError(f"Dataset {info.name!r} has no items to evaluate.")
        rel = resolve_ref_or_file(self.db, release, actor=actor)
        chosen = resolve(evaluators, self.context(params))
        workers = concurrency or self.default_concurrency
        if not 1 <= workers <= 64:
            raise InvalidInputError(f"Concurrency must be between 1 and 64, not {workers}.")
        rubrics = {e.name: r for e in chosen if (r := rubric_for(e.name))}
        config: JSONDict = {
            "concurrency": workers,
            "params": params or {},
            "release_name": rel.name,
            "release_label": rel.label,
            "model": rel.config.model.name,
        }
        if rubrics:
            config["rubrics"] = rubrics
            config["judge"] = getattr(self.judge, "name", None)
        run_id = f"run_{secrets.token_hex(8)}"
        with self.db.session() as s:
            s.add(
                EvalRun(
                    id=run_id,
                    name=name.strip()[:200] or f"{info.name} v{info.version} · {rel.name}",
                    dataset_id=info.id,
                    dataset_version=info.version,
                    release_id=rel.id,
                    status="pending",
                    evaluators=[e.name for e in chosen],
                    config=config,
                    total_items=info.items,
                    done_items=0,
                    created_by=actor,
                )
            )
        return get_run(self.db, run_id)

    # -- execute ----------------------------------------------------------------------------
    def run(
        self,
        run_id: str,
        *,
        progress: Progress | None = None,
        cancel: threading.Event | None = None,
    ) -> RunInfo:
        """Execute (or resume) a run until it completes or is cancelled; returns its state."""
        run = get_run(self.db, run_id)
        if run.status == "completed":
            return run
        if run.status in ("running", "cancelling") and not run.stalled:
            raise InvalidInputError(
                f"Run {run_id} is already running (its runner reported in the last minute)."
            )
        cancel = cancel or threading.Event()
        ctx = self.context(run.config.get("params") or {}, run)
        evaluators = resolve(run.evaluators, ctx)
        items = datasets.all_items(self.db, run.dataset_id, run.dataset_version)
        with self.db.session() as s:
            done = set(s.scalars(select(EvalResult.item_id).where(EvalResult.run_id == run_id)))
            row = s.get(EvalRun, run_id)
            if row is None:
                raise NotFoundError(f"Evaluation run {run_id!r} does not exist.")
            row.status, row.error, row.updated_at = "running", None, utcnow()
            row.started_at = row.started_at or utcnow()
            row.total_items, row.done_items = len(items), len(done)
        todo = [i for i in items if i.id not in done]
        tags = ["eval", f"eval_run:{run_id}", f"dataset:{run.dataset}"]
        state = _Progress(len(done), len(items), progress)
        state.report()
        status, error = "completed", None
        try:
            failures = self._execute(run, todo, evaluators, ctx, tags, cancel, state)
            if failures:
                status = "failed"
                error = f"{len(failures)} item(s) failed (resuming retries them): {failures[0]}"
            elif cancel.is_set():
                status = "cancelled"
        except BaseException as exc:  # interrupted (Ctrl-C, a Streamlit rerun) or a bug
            cancel.set()
            status = "cancelled" if not isinstance(exc, Exception) else "failed"
            error = f"{type(exc).__name__}: {exc}" if isinstance(exc, Exception) else "interrupted"
            self._finish(run_id, status, error)
            raise
        return self._finish(run_id, status, error)

    def _execute(
        self,
        run: RunInfo,
        todo: list[datasets.Item],
        evaluators: list[Evaluator],
        ctx: EvalContext,
        tags: list[str],
        cancel: threading.Event,
        state: _Progress,
    ) -> list[str]:
        """Answer and score ``todo``; returns the errors of items that failed outside the
        chat pipeline (a bug or the store going away): they are not recorded, so a resume
        retries them."""
        workers = int(run.config.get("concurrency") or self.default_concurrency)
        pending: list[ResultValues] = []
        failures: list[str] = []
        last_write = last_poll = time.monotonic()
        queue = iter(todo)

        def collect(fut: Future[ResultValues]) -> None:
            exc = fut.exception()
            if exc is not None:
                log.error("evaluation item failed: %s: %s", type(exc).__name__, exc)
                failures.append(f"{type(exc).__name__}: {exc}")
            else:
                pending.append(fut.result())
                state.done += 1

        with ThreadPoolExecutor(workers, thread_name_prefix=f"eval-{run.id[-6:]}") as pool:
            running: set[Future[ResultValues]] = set()
            try:
                while True:
                    while not cancel.is_set() and len(running) < 2 * workers:
                        item = next(queue, None)
                        if item is None:
                            break
                        running.add(pool.submit(self._one, run, item, evaluators, ctx, tags))
                    if not running:
                        break
                    finished, running = wait(running, timeout=0.5, return_when=FIRST_COMPLETED)
                    for fut in finished:
                        collect(fut)
                    now = time.monotonic()
                    if pending and (len(pending) >= 32 or now - last_write > 0.25 or not running):
                        self._write(run.id, pending)
                        pending, last_write = [], now
                    if now - last_poll > 0.5:
                        last_poll = now
                        if self._cancel_requested(run.id):
                            cancel.set()
                    if finished:
                        state.report()
            finally:
                # interrupted or done: let started items finish and keep their results
                for fut in running:
                    if not fut.cancel():
                        collect(fut)
                if pending:
                    self._write(run.id, pending)
        return failures

    def _one(
        self,
        run: RunInfo,
        item: datasets.Item,
        evaluators: list[Evaluator],
        ctx: EvalContext,
        tags: list[str],
    ) -> ResultValues:
        """Answer one item through the chat pipeline and score it."""
        t0 = time.perf_counter()
        turn = self.chat.ask(
            item.input,
            session_id=f"{EVAL_SESSION_PREFIX}{run.id}",
            release_id=run.release_id,
            tags=tags,
        )
        seen = self.sink.pop(turn.trace_id)
        trace = seen.trace
        if trace is not None and trace.end_ns is not None:
            latency_ms = (trace.end_ns - trace.start_ns) / 1e6
        else:
            latency_ms = (time.perf_counter() - t0) * 1000
        span = SpanRecord(
            trace_id=turn.trace_id,
            span_id=new_span_id(),
            parent_id=seen.root_span_id,
            name="evaluate",
            kind="evaluator",
            start_ns=time.time_ns(),
            attributes={"llmops.eval.run_id": run.id, "llmops.eval.item_id": item.id},
        )
        callbacks: list[BaseCallbackHandler] = []
        if any("judge" in e.needs for e in evaluators):
            from llmops.tracing.handler import TracingCallbackHandler

            callbacks = [
                TracingCallbackHandler(
                    self.sink.inner.submit, trace_id=turn.trace_id, root_span_id=span.span_id
                )
            ]
        case = EvalInput(
            question=item.input,
            answer=turn.answer,
            expected=item.expected,
            must_include=item.must_include,
            contexts=[getattr(d, "page_content", str(d)) for d in seen.docs],
            lang=item.lang or "en",
            status=turn.status,
            blocked=turn.blocked,
            violations=[asdict(v) for v in turn.violations],
            latency_ms=latency_ms,
            cost=trace.cost if trace is not None else 0.0,
            metadata=item.metadata,
            callbacks=callbacks,
        )
        scores = score_all(evaluators, case, ctx)
        span.end_ns = time.time_ns()
        for name, sc in scores.items():
            if sc.value is not None:
                span.attributes[f"llmops.eval.score.{name}"] = sc.value
            if sc.error is not None:
                span.attributes[f"llmops.eval.error.{name}"] = sc.error
        failed = sorted(name for name, sc in scores.items() if sc.error is not None)
        if failed:
            span.status, span.error = "error", f"evaluator(s) failed: {', '.join(failed)}"
        span.output = {name: sc.explanation for name, sc in scores.items()}
        self.sink.inner.submit(span)
        return {
            "run_id": run.id,
            "item_id": item.id,
            "trace_id": turn.trace_id,
            "output": turn.answer,
            "scores": {n: sc.value for n, sc in scores.items()},
            "explanations": {n: sc.explanation for n, sc in scores.items()},
            "status": turn.status,
            "error": turn.error,
            "latency_ms": round(latency_ms, 3),
            "cost": case.cost,
            "created_at": utcnow(),
        }

    # -- store ------------------------------------------------------------------------------
    def _write(self, run_id: str, rows: list[ResultValues]) -> None:
        """Insert results (a result already recorded — a concurrent resume — is kept) and
        beat the heart, in one transaction."""
        stmt = dialect_insert(self.db.dialect)(EvalResult).on_conflict_do_nothing(
            index_elements=["run_id", "item_id"]
        )
        with self.db.session() as s:
            s.execute(stmt, rows)
            done = select(func.count()).where(EvalResult.run_id == run_id).scalar_subquery()
            s.execute(
                update(EvalRun)
                .where(EvalRun.id == run_id)
                .values(done_items=done, updated_at=utcnow())
            )

    def _cancel_requested(self, run_id: str) -> bool:
        with self.db.session() as s:
            return s.scalar(select(EvalRun.status).where(EvalRun.id == run_id)) == "cancelling"

    def _finish(self, run_id: str, status: str, error: str | None) -> RunInfo:
        metrics = aggregate(self.db, run_id)
        with self.db.session() as s:
            row = s.get(EvalRun, run_id)
            if row is None:  # deleted while it ran
                raise NotFoundError(f"Evaluation run {run_id!r} does not exist.")
            row.status, row.error, row.metrics = status, error, metrics
            row.ended_at = row.updated_at = utcnow()
            row.done_items = metrics["items"]["done"]
        return get_run(self.db, run_id)


class _Progress:
    def __init__(self, done: int, total: int, callback: Progress | None) -> None:
        self.done, self.total, self.callback = done, total, callback

    def report(self) -> None:
        if self.callback is not None:
            self.callback(self.done, self.total)


# -- aggregates --------------------------------------------------------------------------------
