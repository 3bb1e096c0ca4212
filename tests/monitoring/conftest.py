"""Monitoring fixtures: seeded history on each backend, and a brute-force reference.

The reference reads the raw rows with plain ORM queries and computes every metric in
Python, so the SQL (raw-window and rollup) paths are checked against something that shares
none of their code.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from llmops import demo
from llmops.monitoring.histogram import nearest_rank
from llmops.store.db import Database
from llmops.store.models import Feedback, GuardEvent, Trace

END = datetime(2026, 11, 30, 12, 0, 0, tzinfo=UTC)


@pytest.fixture
def seeded(db: Database) -> Database:
    """4,000 demo traces over 10 days ending at ``END``, written through the span writer."""
    demo.seed(db, traces=4000, days=10, seed=7, end=END)
    return db


@dataclass
class Ref:
    traces: int = 0
    errors: int = 0
    blocked: int = 0
    violating: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost: float = 0.0
    feedback: int = 0
    thumbs_up: int = 0
    latency: list[float] = field(default_factory=list)
    ttft: list[float] = field(default_factory=list)

    def pct(self, metric: str, permille: int) -> float | None:
        return nearest_rank(getattr(self, metric), permille)


def _epoch(dt: datetime) -> int:
    return (
        math.floor(dt.replace(tzinfo=UTC).timestamp())
        if dt.tzinfo is None
        else math.floor(dt.timestamp())
    )


def reference(
    db: Database,
    start: int,
    end: int,
    *,
    width: int | None,
    group: str = "none",
    release_id: str | None = None,
    model: str | None = None,
) -> dict[tuple[int, str], Ref]:
    """Metrics per (bucket start, group) over traces started in [start, end) epoch seconds;
    ``width=None`` means one bucket (0) for the whole range."""
    since = datetime.fromtimestamp(start, UTC)
    until = datetime.fromtimestamp(end, UTC)
    with db.session() as s:
        traces = s.execute(
            select(
                Trace.id, Trace.started_at, Trace.release_id, Trace.model, Trace.status,
                Trace.latency_ms, Trace.ttft_ms, Trace.input_tokens, Trace.output_tokens,
                Trace.cost,
            ).where(Trace.started_at >= since, Trace.started_at < until)
        ).all()  # fmt: skip
        flagged = set(s.scalars(select(GuardEvent.trace_id)))
        ratings: dict[str, list[float]] = defaultdict(list)
        for tid, score in s.execute(select(Feedback.trace_id, Feedback.score)):
            ratings[tid].append(score)
    out: dict[tuple[int, str], Ref] = defaultdict(Ref)
    for t in traces:
        if release_id and t.release_id != release_id:
            continue
        if model and t.model != model:
            continue
        epoch = _epoch(t.started_at)
        b = epoch - epoch % width if width else 0
        g = {"none": "", "release": t.release_id or "", "model": t.model or ""}[group]
        r = out[(b, g)]
        r.traces += 1
        r.errors += t.status == "error"
        r.blocked += t.status == "blocked"
        r.violating += t.id in flagged
        r.input_tokens += t.input_tokens
        r.output_tokens += t.output_tokens
        r.cost += t.cost
        if t.latency_ms is not None:
            r.latency.append(t.latency_ms)
        if t.ttft_ms is not None:
            r.ttft.append(t.ttft_ms)
        for score in ratings.get(t.id, []):
            r.feedback += 1
            r.thumbs_up += score >= 0.5
    return dict(out)


def assert_close(a: float, b: float, rel: float = 1e-9) -> None:
    assert math.isclose(a, b, rel_tol=rel, abs_tol=1e-9), (a, b)


def cells(rows: list[Any], bucketed: bool = True) -> dict[tuple[int, str], Any]:
    return {((int(r.bucket.timestamp()) if bucketed and r.bucket else 0), r.group): r for r in rows}
