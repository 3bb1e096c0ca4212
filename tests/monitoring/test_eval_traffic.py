"""Evaluation runs answer through the real pipeline, but they are not users: their traces
(session ``eval:<run>``) stay out of the dashboards, on the raw and the rollup paths."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from llmops.monitoring import metrics, rollups
from llmops.monitoring.metrics import Scope
from llmops.store.db import Database
from llmops.store.models import EVAL_SESSION_PREFIX
from llmops.tracing.ids import new_trace_id
from llmops.tracing.records import TraceRecord
from llmops.tracing.writer import SpanWriter

from .conftest import END


def _totals(db: Database) -> dict[str, int]:
    out = {}
    for length in (timedelta(hours=3), timedelta(days=2), timedelta(days=10)):
        (stats,) = metrics.summary(db, Scope(END - length, END))
        out[str(length)] = stats.traces
    return out


def test_evaluation_traces_are_not_counted(seeded: Database, tmp_path: Path) -> None:
    before = _totals(seeded)
    writer = SpanWriter(seeded, tmp_path / "spool", start=False)
    for minutes in range(1, 121):  # two hours of evaluation cases, inside every range
        start = int((END - timedelta(minutes=minutes)).timestamp() * 1e9)
        writer.submit(
            TraceRecord(
                id=new_trace_id(),
                name="chat",
                start_ns=start,
                end_ns=start + 20_000_000,
                session_id=f"{EVAL_SESSION_PREFIX}run1",
                status="error" if minutes % 2 else "ok",
                input="case",
                tags=["eval"],
            )
        )
    assert writer.flush()
    assert _totals(seeded) == before
    with seeded.engine.begin() as conn:
        rollups.rebuild(conn, seeded.dialect)
    assert _totals(seeded) == before
    live = Scope(END - timedelta(hours=3), END)
    assert metrics.summary(seeded, live)[0].traces == before[str(timedelta(hours=3))]
