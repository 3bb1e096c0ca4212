"""``bench/ingest.py --concurrent``: the span writer while a chat loop runs at full speed.

One thread invokes a LangChain chain (a lambda, ``steps - 1`` more lambdas, a prompt-free
fixed chat model) with our unbound handler as fast as it can; the production writer stores
what it produces into SQLite. See ``bench/ingest.py`` for what is reported.

``flood=True`` finds the writer's ceiling: a second thread submits synthetic turns of the
same shape and mix (a trace row and five spans; the question as the input of the root and
of three steps, the prompt as a list of messages, the model's answer; each question
different, one in five with an e-mail address and a phone number) as fast as back-pressure
lets it, alongside the chat loop. Building those records costs the flood thread a few
microseconds, so the writer, not LangChain, is what limits what is stored.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import Runnable, RunnableLambda

from llmops.redaction import redact
from llmops.store.db import Database
from llmops.store.migrate import upgrade
from llmops.tracing import SpanWriter, TracingCallbackHandler
from llmops.tracing.ids import new_span_id, new_trace_id
from llmops.tracing.records import Record, SpanRecord, TraceRecord
from llmops.tracing.writer import COLUMNS, Rows

_ENDED = COLUMNS["trace"].index("ended_at")
_PAGE = os.sysconf("SC_PAGE_SIZE")

TOPICS = (
    "how do I rotate the API keys of the staging project without downtime",
    "what does the p95 latency panel on the overview count, turns or spans",
    "can I export last week's traces to a CSV file for the quarterly review",
    "why was my answer flagged by the toxicity guard when it only quoted the manual",
    "¿cómo cambio el modelo por defecto de una versión sin perder las evaluaciones?",
)


def question(i: int, ticket: str = "Ticket") -> str:
    """A different question each turn (the redactor's cache never answers); one in five
    carries an e-mail address and a phone number."""
    text = f"{ticket} {i}: {TOPICS[i % len(TOPICS)]}? Thanks, team {i % 97}."
    if i % 5 == 0:
        text += f" Reach me at user{i}@example.com or +1 415 555 {i % 10000:04d}."
    return text


def synthetic_turn(i: int, ticket: str = "Case") -> list[Record]:
    """A turn's records as the handler would hand them over, built without LangChain (its
    questions say "Case" where the chat's say "Ticket": different texts, same shape)."""
    q = question(i, ticket)
    answer = f"Here is what the manual says about {q[:60]}"
    tid, root = new_trace_id(), new_span_id()
    t0 = time.time_ns()
    spans: list[Record] = [
        SpanRecord(tid, root, None, "RunnableSequence", "chain", t0, t0 + 900_000, input=q,
                   output=f"ai: {answer}"),
        *(
            SpanRecord(tid, new_span_id(), root, "RunnableLambda", "chain", t0, t0 + 100_000,
                       input=q, output=q)
            for _ in range(3)
        ),
        SpanRecord(tid, new_span_id(), root, "FixedModel", "llm", t0, t0 + 500_000,
                   input=[f"human: {q}"], output=f"ai: {answer}",
                   attributes={"gen_ai.request.model": "fixedmodel",
                               "gen_ai.usage.input_tokens": 40,
                               "gen_ai.usage.output_tokens": 12}),
    ]  # fmt: skip
    end = time.time_ns()
    spans.append(
        TraceRecord(tid, "RunnableSequence", t0, end, model="fixed", input=q,
                    output=f"ai: {answer}", input_tokens=40, output_tokens=12)
    )  # fmt: skip
    return spans


class FixedModel(BaseChatModel):
    @property
    def _llm_type(self) -> str:
        return "fixed"

    def _generate(
        self, messages: Any, stop: Any = None, run_manager: Any = None, **kwargs: Any
    ) -> ChatResult:
        text = f"Here is what the manual says about {str(messages[-1].content)[:60]}"
        msg = AIMessage(
            content=text,
            usage_metadata={"input_tokens": 40, "output_tokens": 12, "total_tokens": 52},
        )
        return ChatResult(generations=[ChatGeneration(message=msg)])


def chain(steps: int) -> Runnable[Any, Any]:
    c: Runnable[Any, Any] = RunnableLambda(lambda q: q)
    for _ in range(max(0, steps - 2)):
        c = c | RunnableLambda(lambda q: q)
    return c | FixedModel()


class TimedWriter(SpanWriter):
    """The production writer, noting when each batch's trace rows were committed."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.commits: list[tuple[int, list[str]]] = []
        super().__init__(*args, **kwargs)

    def write_rows(self, rows: Rows) -> None:
        super().write_rows(rows)
        traces = rows.get("trace")
        if traces:
            self.commits.append((time.time_ns(), [r[_ENDED] for r in traces]))


def _rss(pid: int | str = "self") -> int:
    try:
        with open(f"/proc/{pid}/statm") as fh:
            return int(fh.read().split()[1]) * _PAGE
    except OSError:  # a redaction process that just went
        return 0


def _process_cpu(writer: SpanWriter) -> float:
    """CPU seconds the writer's redaction processes have used (as they reported them)."""
    proc = writer._process
    return writer.process_cpu_s + (proc.cpu_s if proc is not None else 0.0)


def _lags_ms(commits: list[tuple[int, list[str]]]) -> list[float]:
    """From each turn's end (its trace row's ``ended_at``, naive UTC) to its commit."""
    epoch = datetime(1970, 1, 1)
    return sorted(
        at_ns / 1e6 - (datetime.fromisoformat(text) - epoch).total_seconds() * 1000
        for at_ns, ended in commits
        for text in ended
    )


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    return round(values[min(len(values) - 1, int(q * len(values)))], 1)


def run_concurrent(
    seconds: float,
    steps: int,
    redacting: bool,
    batch: int,
    rate: float = 0.0,
    flood: bool = False,
    redact_process: str = "auto",
) -> dict[str, object]:
    home = Path(tempfile.mkdtemp(prefix="llmops-bench-ingest-conc-"))
    db = Database(f"sqlite:///{home / 'bench.db'}")
    upgrade(db)
    writer = TimedWriter(
        db,
        home / "spool",
        batch_size=batch,
        redact=redact if redacting else None,
        redact_process=redact_process,
    )
    ch = chain(steps)
    handler = TracingCallbackHandler(writer.submit)
    for i in range(200):  # warm-up (imports, caches), not counted
        ch.invoke(question(-i - 1), config={"callbacks": [handler]})
    writer.flush(60)
    writer.commits.clear()
    written0 = writer.written
    with db.engine.connect() as c:
        spans0 = c.exec_driver_sql("SELECT count(*) FROM spans").scalar() or 0

    peak = {"queue": 0, "rss": _rss(), "process_rss": 0}
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.05):
            peak["queue"] = max(peak["queue"], writer.pending())
            peak["rss"] = max(peak["rss"], _rss())
            proc = writer._process
            if proc is not None:
                peak["process_rss"] = max(peak["process_rss"], _rss(proc.pid))

    flooded = [0]

    def flood_loop() -> None:
        while not stop_flood.is_set():
            for rec in synthetic_turn(flooded[0]):
                writer.submit(rec)
            flooded[0] += 1

    stop_flood = threading.Event()
    flooder = threading.Thread(target=flood_loop, daemon=True)
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    clock = time.pthread_getcpuclockid(writer._thread.ident or 0)
    cpu0 = time.clock_gettime(clock)
    process_cpu0 = _process_cpu(writer)
    process_batches0 = writer.process_batches
    rss0 = _rss()
    turns = 0
    t0 = time.perf_counter()
    if flood:
        flooder.start()
    deadline = t0 + seconds
    while (now := time.perf_counter()) < deadline:
        if rate and now < t0 + turns / rate:
            time.sleep(t0 + turns / rate - now)  # paced: the next turn's slot
        ch.invoke(question(turns), config={"callbacks": [handler]})
        turns += 1
    stop_flood.set()
    if flood:
        flooder.join()
    loop_s = time.perf_counter() - t0
    written_in_loop = writer.written - written0
    backlog = writer.pending()
    t1 = time.perf_counter()
    flushed = writer.flush(600)
    drain_s = time.perf_counter() - t1
    cpu_s = time.clock_gettime(clock) - cpu0
    process_cpu_s = _process_cpu(writer) - process_cpu0
    stop.set()
    sampler.join()
    stats = writer.stats()
    writer.close()
    with db.engine.connect() as c:
        spans = (c.exec_driver_sql("SELECT count(*) FROM spans").scalar() or 0) - spans0
    spans_per_turn = steps + 1
    expected = turns * spans_per_turn + flooded[0] * 5
    lags = _lags_ms(writer.commits)
    return {
        "load_avg_1m": round(os.getloadavg()[0], 1),
        "redaction": redacting,
        "rate": rate or "full speed",
        "flood": flood,
        "seconds": round(loop_s, 1),
        "turns": turns,
        "turns_per_s": round(turns / loop_s),
        "flood_turns_per_s": round(flooded[0] / loop_s),
        "spans_produced_per_s": round(expected / loop_s),
        "records_stored_per_s_in_loop": round(written_in_loop / loop_s),
        # sustained: the spans (not trace rows) of what was stored while the loop ran
        "spans_stored_per_s_in_loop": round(
            written_in_loop * expected / max(1, expected + turns + flooded[0]) / loop_s
        ),
        "backlog_at_loop_end": backlog,
        "drain_s": round(drain_s, 2),
        "lag_ms_p50": _pct(lags, 0.5),
        "lag_ms_p95": _pct(lags, 0.95),
        "lag_ms_max": round(lags[-1], 1) if lags else None,
        "lag_mean_ms": round(statistics.fmean(lags), 1) if lags else None,
        "writer_cpu_s": round(cpu_s, 2),
        "writer_cpu_us_per_record": round(cpu_s * 1e6 / max(1, stats.written - written0), 1),
        "redact_process": redact_process,
        "process_batches": writer.process_batches - process_batches0,
        "process_cpu_s": round(process_cpu_s, 2),
        "process_cpu_us_per_record": round(
            process_cpu_s * 1e6 / max(1, stats.written - written0), 1
        ),
        "process_rss_mb_peak": round(peak["process_rss"] / 2**20),
        "peak_pending": peak["queue"],
        "rss_mb_start": round(rss0 / 2**20),
        "rss_mb_peak": round(peak["rss"] / 2**20),
        "refused": stats.refused,
        "throttled": getattr(stats, "throttled", 0),
        "spans_expected": expected,
        "spans_stored": spans,
        "lost": expected - spans,
        "flushed": flushed,
    }
