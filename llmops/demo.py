"""Synthetic traffic for demos and benchmarks, inserted straight into the store in bulk.

Several releases and models, a diurnal pattern, errors, feedback; each trace has the span
shape of a real chat turn (chat → validate:input, rag → retriever, llm). Deterministic for a
given seed.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert

from llmops.releases import ModelConfig, ReleaseConfig, RetrievalConfig, create_release
from llmops.store.db import Database
from llmops.store.models import Feedback, Span, Trace

QUESTIONS = [
    "What is LLMOps?",
    "How do canary releases work?",
    "What does monitoring track?",
    "How do I evaluate a new prompt?",
    "¿Qué es LLMOps?",
    "¿Cómo funciona un despliegue canary?",
    "What is the difference between observability and evaluation?",
    "How are guardrails applied to answers?",
    "¿Qué son las barandillas de seguridad?",
    "How do I roll back a release?",
]
COMMENTS = ["Too vague", "Wrong source", "Great answer", "Missing the canary part", None, None]

VARIANTS = [
    ("default", ModelConfig(), 0.55),
    (
        "gpt-4o-mini k6",
        ModelConfig(
            provider="openai",
            name="gpt-4o-mini",
            price_input_per_mtok=0.15,
            price_output_per_mtok=0.6,
        ),
        0.3,
    ),
    (
        "claude-haiku k4",
        ModelConfig(
            provider="anthropic",
            name="claude-3-5-haiku",
            price_input_per_mtok=0.8,
            price_output_per_mtok=4.0,
        ),
        0.15,
    ),
]


@dataclass
class SeedReport:
    traces: int
    spans: int
    feedback: int
    seconds: float


def _ids(rng: random.Random, start: datetime) -> str:
    ms = int(start.timestamp() * 1000)
    return f"{ms:012x}{rng.getrandbits(80):020x}"


def _span_id(rng: random.Random) -> str:
    return f"{rng.getrandbits(64) or 1:016x}"


def _diurnal_times(rng: random.Random, n: int, days: float, end: datetime) -> Iterator[datetime]:
    """``n`` ascending timestamps over ``days`` with more traffic in the (UTC) daytime."""
    span_s = days * 86400
    start = end - timedelta(seconds=span_s)
    accepted: list[float] = []
    while len(accepted) < n:
        batch = [rng.random() * span_s for _ in range(n)]
        for t in batch:
            hour = ((start.timestamp() + t) % 86400) / 3600
            weight = 0.35 + 0.65 * math.sin(math.pi * max(0.0, min(1.0, (hour - 6) / 16)))
            if rng.random() < weight:
                accepted.append(t)
                if len(accepted) == n:
                    break
    accepted.sort()
    for t in accepted:
        yield start + timedelta(seconds=t)


def _releases(db: Database) -> list[tuple[str, ModelConfig, float]]:
    out = []
    for i, (name, model, share) in enumerate(VARIANTS):
        cfg = ReleaseConfig(model=model, retrieval=RetrievalConfig(k=4 + (i % 3)))
        info = create_release(db, cfg, name=f"demo {name}", actor="demo")
        out.append((info.id, model, share))
    return out


def seed(
    db: Database,
    *,
    traces: int,
    days: float = 7.0,
    seed: int = 42,
    batch: int = 2000,
    end: datetime | None = None,
) -> SeedReport:
    """Insert ``traces`` synthetic chat turns (5 spans each) ending at ``end`` (now)."""
    started = time.perf_counter()
    rng = random.Random(seed)
    releases = _releases(db)
    weights = [r[2] for r in releases]
    end = end or datetime.now(UTC)
    trace_rows: list[dict[str, Any]] = []
    span_rows: list[dict[str, Any]] = []
    fb_rows: list[dict[str, Any]] = []
    n_spans = n_fb = 0

    def flush() -> None:
        nonlocal trace_rows, span_rows, fb_rows
        with db.engine.begin() as conn:
            if trace_rows:
                conn.execute(insert(Trace), trace_rows)
            if span_rows:
                conn.execute(insert(Span), span_rows)
            if fb_rows:
                conn.execute(insert(Feedback), fb_rows)
        trace_rows, span_rows, fb_rows = [], [], []

    for at in _diurnal_times(rng, traces, days, end):
        release_id, model, _ = rng.choices(releases, weights=weights)[0]
        tid = _ids(rng, at)
        question = rng.choice(QUESTIONS)
        error = rng.random() < 0.02
        retr_ms = rng.lognormvariate(math.log(18), 0.4)
        llm_ms = rng.lognormvariate(math.log(40 if model.provider == "local" else 900), 0.5)
        total_ms = 2 + retr_ms + llm_ms + 3
        tin = rng.randint(300, 1400)
        tout = 0 if error else rng.randint(20, 400)
        status = "error" if error else "ok"
        root = _span_id(rng)
        rag = _span_id(rng)
        t_end = at + timedelta(milliseconds=total_ms)
        trace_rows.append(
            {
                "id": tid,
                "name": "chat",
                "session_id": f"s{rng.randrange(traces // 3 + 1):07d}",
                "user_id": None,
                "release_id": release_id,
                "model": model.name,
                "status": status,
                "started_at": at,
                "ended_at": t_end,
                "latency_ms": round(total_ms, 3),
                "ttft_ms": round(2 + retr_ms + llm_ms * 0.2, 3),
                "input_tokens": tin,
                "output_tokens": tout,
                "cost": model.cost(tin, tout),
                "input": question,
                "output": None if error else f"Demo answer about: {question} [1]",
                "error": "RateLimitError: 429 Too Many Requests" if error else None,
                "tags": ["demo"],
                "attributes": None,
            }
        )
        steps = [
            (root, None, "chat", "chain", 0.0, total_ms, status),
            (_span_id(rng), root, "validate:input", "guard", 0.1, 0.2, "ok"),
            (rag, root, "rag", "chain", 1.0, 1 + retr_ms + llm_ms, status),
            (_span_id(rng), rag, "KnowledgeRetriever", "retriever", 1.5, 1.5 + retr_ms, "ok"),
            (_span_id(rng), rag, model.name, "llm", 2 + retr_ms, 2 + retr_ms + llm_ms, status),
        ]
        for sid, parent, name, kind, a, b, st in steps:
            attrs = None
            if kind == "llm":
                attrs = {
                    "gen_ai.request.model": model.name,
                    "gen_ai.usage.input_tokens": tin,
                    "gen_ai.usage.output_tokens": tout,
                }
            span_rows.append(
                {
                    "trace_id": tid,
                    "id": sid,
                    "parent_id": parent,
                    "name": name,
                    "kind": kind,
                    "started_at": at + timedelta(milliseconds=a),
                    "ended_at": at + timedelta(milliseconds=b),
                    "duration_ms": round(b - a, 3),
                    "status": st,
                    "error": None,
                    "input": None,
                    "output": None,
                    "attributes": attrs,
                }
            )
        n_spans += len(steps)
        if rng.random() < 0.12:
            up = rng.random() < (0.8 if model.provider != "local" else 0.65)
            fb_rows.append(
                {
                    "trace_id": tid,
                    "score": 1.0 if up else 0.0,
                    "comment": None if up else rng.choice(COMMENTS),
                    "user_id": None,
                    "source": "user",
                    "created_at": t_end + timedelta(seconds=rng.randint(2, 120)),
                }
            )
            n_fb += 1
        if len(trace_rows) >= batch:
            flush()
    flush()
    return SeedReport(traces, n_spans, n_fb, round(time.perf_counter() - started, 3))
