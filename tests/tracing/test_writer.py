"""The writer loses nothing: batches, spooling while the store is down, replay after."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from llmops.store.db import Database
from llmops.store.models import Span, Trace
from llmops.tracing.ids import new_span_id, new_trace_id
from llmops.tracing.records import SpanRecord, TraceRecord
from llmops.tracing.writer import SpanWriter


def _count(db: Database, model: Any) -> int:
    with db.session() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def _records(n_traces: int, spans_per_trace: int) -> list[SpanRecord | TraceRecord]:
    out: list[SpanRecord | TraceRecord] = []
    now = time.time_ns()
    for _ in range(n_traces):
        tid = new_trace_id()
        root = new_span_id()
        out.append(TraceRecord(id=tid, name="chat", start_ns=now, end_ns=now + 10))
        for j in range(spans_per_trace):
            out.append(
                SpanRecord(
                    trace_id=tid,
                    span_id=root if j == 0 else new_span_id(),
                    parent_id=None if j == 0 else root,
                    name=f"step{j}",
                    kind="chain",
                    start_ns=now,
                    end_ns=now + 5,
                    input={"q": "x"},
                    attributes={"n": j},
                )
            )
    return out


def test_batches_are_written_and_counted(db: Database, writer: SpanWriter) -> None:
    for rec in _records(50, 5):
        writer.submit(rec)
    assert writer.flush()
    assert _count(db, Trace) == 50
    assert _count(db, Span) == 250


def test_replaying_the_same_records_twice_is_harmless(db: Database, tmp_path: Path) -> None:
    records = _records(3, 3)
    for _ in range(2):
        w = SpanWriter(db, tmp_path / "spool", flush_interval_s=0.01)
        for rec in records:
            w.submit(rec)
        w.close()
    assert _count(db, Span) == 9


def test_store_locked_mid_run_spools_then_replays_everything(
    sqlite_db: Database, tmp_path: Path
) -> None:
    writer = SpanWriter(sqlite_db, tmp_path / "spool", flush_interval_s=0.01, retry_interval_s=0.05)
    first, second = _records(10, 4), _records(10, 4)
    for rec in first:
        writer.submit(rec)
    assert writer.flush()

    path = sqlite_db.url.split("///", 1)[1]
    blocker = sqlite3.connect(path, timeout=0)
    blocker.execute("BEGIN EXCLUSIVE")  # every other writer now gets 'database is locked'
    try:
        started = time.perf_counter()
        for rec in second:
            writer.submit(rec)
        submit_time = time.perf_counter() - started
        assert writer.flush(timeout=15)
        assert not writer.healthy
        assert writer.spool_files(), "records must be spooled while the store is locked"
        assert _count(sqlite_db, Span) == 40
    finally:
        blocker.rollback()
        blocker.close()
    assert submit_time < 0.5  # submitting never waits for the store

    assert writer.flush(timeout=15)
    assert writer.healthy
    assert writer.spool_files() == []
    assert _count(sqlite_db, Span) == 80
    assert _count(sqlite_db, Trace) == 20
    writer.close()


def test_spool_left_by_a_previous_process_is_replayed_at_start(
    sqlite_db: Database, tmp_path: Path
) -> None:
    spool = tmp_path / "spool"
    down = Database(f"sqlite:///{tmp_path / 'missing-dir' / 'x.db'}")
    # a writer whose store has no tables: every insert fails, so everything is spooled
    w1 = SpanWriter(down, spool, flush_interval_s=0.01, retry_interval_s=60)
    for rec in _records(5, 2):
        w1.submit(rec)
    assert w1.flush()
    w1._stop.set()
    assert len(w1.spool_files()) >= 1

    w2 = SpanWriter(sqlite_db, spool, flush_interval_s=0.01)
    assert w2.flush()
    assert _count(sqlite_db, Span) == 10
    assert w2.spool_files() == []
    w2.close()


def test_redactor_runs_before_anything_is_stored(db: Database, tmp_path: Path) -> None:
    w = SpanWriter(
        db,
        tmp_path / "spool",
        flush_interval_s=0.01,
        redact=lambda s: s.replace("secret", "<REDACTED>"),
    )
    tid = new_trace_id()
    w.submit(TraceRecord(id=tid, name="chat", start_ns=1, end_ns=2, input="my secret"))
    w.submit(
        SpanRecord(
            trace_id=tid,
            span_id=new_span_id(),
            parent_id=None,
            name="x",
            kind="chain",
            start_ns=1,
            end_ns=2,
            output="secret!",
            attributes={"k": "a secret value"},
        )
    )
    w.close()
    with db.session() as s:
        trace = s.get(Trace, tid)
        span = s.scalars(select(Span)).one()
    assert trace is not None and trace.input == "my <REDACTED>"
    assert span.output == "<REDACTED>!"
    assert span.attributes == {"k": "a <REDACTED> value"}
