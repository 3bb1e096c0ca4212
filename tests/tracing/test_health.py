"""What tracing did not store is visible: counted, alertable, shown on the Overview,
and quarantined records can be tried again."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select

from llmops.monitoring import alerts
from llmops.store.db import Database
from llmops.store.models import Quarantine, Trace, TracingIncident
from llmops.tracing import health
from llmops.tracing.ids import new_span_id, new_trace_id
from llmops.tracing.records import SpanRecord, TraceRecord
from llmops.tracing.writer import COLUMNS, SpanWriter


def _poison(db: Database, tmp_path: Path, n: int = 1) -> None:
    writer = SpanWriter(db, tmp_path / "spool", start=False)
    for _ in range(n):
        writer.submit(SpanRecord(new_trace_id(), new_span_id(), None, None, "chain", 1, 2))  # type: ignore[arg-type]
    writer.submit(TraceRecord(id=new_trace_id(), name="chat", start_ns=1, end_ns=2))
    assert writer.flush()


def test_losses_count_quarantine_and_incidents(db: Database, tmp_path: Path) -> None:
    _poison(db, tmp_path, 2)
    with db.session() as s:
        s.add(TracingIncident(kind="refused", records=7, process="h:1", reason="queue full"))
    lost = health.losses(db, datetime.now(UTC) - timedelta(hours=1))
    assert (lost.quarantined, lost.refused, lost.dropped, lost.total) == (2, 7, 0, 9)
    assert health.losses(db, datetime.now(UTC) + timedelta(hours=1)).total == 0


def test_a_trace_loss_alert_fires(db: Database, tmp_path: Path) -> None:
    spec = alerts.make_spec(name="tracing lost data", metric="trace_loss", comparison=">",
                            threshold=0, window_minutes=60, min_samples=0)  # fmt: skip
    alerts.create_rule(db, spec)
    assert [e.firing for e in alerts.evaluate(db, notify=False)] == [False]
    _poison(db, tmp_path)
    (ev,) = alerts.evaluate(db, notify=False)
    assert ev.firing and ev.value == 1


def test_retry_stores_what_the_store_now_accepts(db: Database, tmp_path: Path) -> None:
    _poison(db, tmp_path)  # still bad: stays
    tid = new_trace_id()
    row = dict.fromkeys(COLUMNS["trace"])
    row.update(id=tid, name="chat", status="ok", started_at="2026-12-01 10:00:00.000000",
               input_tokens=0, output_tokens=0, cost=0.0)  # fmt: skip
    with db.session() as s:
        s.add(Quarantine(kind="trace", trace_id=tid, record=json.dumps(row), error="x"))
    report = health.retry_quarantine(db, tmp_path / "spool")
    assert (report.stored, report.still_rejected) == (1, 1)
    with db.session() as s:
        assert s.get(Trace, tid) is not None
        assert s.scalar(select(func.count()).select_from(Quarantine)) == 1


def test_doctor_reports_schema_losses_and_spool(db: Database, tmp_path: Path) -> None:
    _poison(db, tmp_path)
    spool = tmp_path / "spool"
    spool.mkdir(exist_ok=True)
    (spool / "00000001764000000000000-1-000000.jsonl").write_text("{}\n")
    report = health.doctor(db, spool)
    assert report.revision == report.head
    assert report.losses_total["quarantined"] == 1 and report.spool_files == 1
    assert report.recent_quarantine[0]["kind"] == "span"
    assert any("quarantined" in p for p in report.problems)
    assert any("spool file" in p for p in report.problems)
