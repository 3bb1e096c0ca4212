"""OpenTelemetry export against a real OTLP/HTTP receiver on 127.0.0.1.

A real ChatService turn (guards, retrieval, LocalModel, span writer with redaction and
user-id hashing) goes to the store and, from the writer's thread, to the receiver, which
decodes the protobuf. Checked: the span tree and ids are the store's, the GenAI attributes,
the timestamps, the auth header, and that no personal data is in any byte sent. Faults: a
collector that hangs, answers 503 or is not there.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from llmops.chat import ChatService
from llmops.config import Settings
from llmops.guards.runner import GuardRunner
from llmops.privacy import user_id_mapper
from llmops.redaction import redact
from llmops.store.db import Database
from llmops.store.models import Span, Trace, TracingIncident
from llmops.tracing import SpanWriter, Tracer
from llmops.tracing.otlp import OTLPExport, masked_url, traces_url
from llmops.tracing.writer import COLUMNS
from tests.otlp_receiver import Receiver

EMAIL = "ana.garcia@example.com"
PHONE = "+34 612 345 678"
MESSAGE = f"Hi, I am {EMAIL}, call me at {PHONE}. What is LLMOps?"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver().start()
    yield r
    r.stop()


def _exporter(url: str, db: Database, **kwargs: Any) -> OTLPExport:
    kwargs.setdefault("timeout_s", 10.0)
    kwargs.setdefault("retry_interval_s", 0.05)
    return OTLPExport(url, columns=COLUMNS, db=db, **kwargs)


@pytest.fixture
def pipeline(db: Database, kb: Any, settings: Settings, tmp_path: Path) -> Iterator[Any]:
    """Returns a function that builds the real chat pipeline with an exporter to ``url``."""
    made: list[SpanWriter] = []

    def build(exporter: OTLPExport) -> tuple[ChatService, SpanWriter]:
        writer = SpanWriter(db, tmp_path / "spool", flush_interval_s=0.01, redact=redact,
                            user_ids=user_id_mapper(settings), exporter=exporter)  # fmt: skip
        made.append(writer)
        return ChatService(settings, db, kb, Tracer(writer), guards=GuardRunner()), writer

    yield build
    for w in made:
        w.close(timeout=5)


def _stored_spans(db: Database, trace_id: str) -> dict[str, Any]:
    with db.session() as s:
        return {sp.id: sp for sp in s.scalars(select(Span).where(Span.trace_id == trace_id))}


def _ns(dt: datetime) -> int:
    epoch = datetime(1970, 1, 1, tzinfo=UTC if dt.tzinfo else None)
    return (dt - epoch) // timedelta(microseconds=1) * 1000


def _pii_forms() -> list[bytes]:
    return [f.encode() for f in (EMAIL, EMAIL.upper(), PHONE, re.sub(r"\D", "", PHONE),
                                 "612 345 678", "612345678")]  # fmt: skip


def test_a_chat_turn_reaches_the_collector_as_stored_redacted_and_linked(
    pipeline: Any, db: Database, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "Authorization=Bearer%20s3cret,x-tenant=t1")
    chat, writer = pipeline(_exporter(receiver.url, db))
    turn = chat.ask(MESSAGE, session_id="s1", user_id=EMAIL)
    other = chat.ask("What is a canary release?", session_id="eval:run1:case2")
    assert turn.answer and other.answer
    assert writer.flush() and writer.exporter is not None and writer.exporter.flush()
    assert writer.stats().last_write_at is not None  # the doctor's "last batch stored"

    stored = _stored_spans(db, turn.trace_id)
    got = {s.span_id: s for s in receiver.spans if s.trace_id == turn.trace_id}
    # the same W3C ids as the console, the same tree
    assert set(got) == set(stored) and len(got) >= 5
    for sid, span in got.items():
        assert span.parent_id == stored[sid].parent_id, stored[sid].name
        assert span.name == stored[sid].name
        assert span.start_ns == _ns(stored[sid].started_at)
        assert span.end_ns == _ns(stored[sid].ended_at)
    root = next(s for s in got.values() if s.parent_id is None)
    assert root.attributes["llmops.traffic.kind"] == "live"
    assert root.attributes["session.id"] == root.attributes["gen_ai.conversation.id"] == "s1"
    with db.session() as s:
        trace = s.get(Trace, turn.trace_id)
        assert trace is not None
        assert root.attributes["user.id"] == trace.user_id != EMAIL  # hashed as stored
        assert root.attributes["gen_ai.request.model"] == trace.model
        assert root.attributes["gen_ai.usage.input_tokens"] == trace.input_tokens > 0
        assert root.attributes["input.value"] == trace.input  # the redacted text
    llm = next(s for s in got.values() if s.attributes.get("llmops.span.kind") == "llm")
    assert llm.attributes["gen_ai.operation.name"] == "chat"
    assert llm.attributes["gen_ai.request.model"]
    assert llm.attributes["gen_ai.usage.output_tokens"] > 0
    assert llm.attributes["openinference.span.kind"] == "LLM"
    assert llm.kind == 3  # SPAN_KIND_CLIENT
    guard = next(s for s in got.values() if s.attributes.get("llmops.span.kind") == "guard")
    assert guard.attributes["openinference.span.kind"] == "GUARDRAIL"
    assert root.resource["service.name"] == "llmops"
    # the evaluation turn is exported too, marked as such
    eval_root = next(s for s in receiver.spans
                     if s.trace_id == other.trace_id and s.parent_id is None)  # fmt: skip
    assert eval_root.attributes["llmops.traffic.kind"] == "eval"
    # auth headers from OTEL_EXPORTER_OTLP_HEADERS, to the standard path
    assert receiver.headers[0]["path"] == "/v1/traces"
    assert receiver.headers[0]["authorization"] == "Bearer s3cret"
    assert receiver.headers[0]["x-tenant"] == "t1"
    # guardrails-ai's own telemetry stayed off, without switching off the OpenTelemetry SDK
    from guardrails.classes.rc import RC

    assert RC.load().enable_metrics is False and "OTEL_SDK_DISABLED" not in os.environ
    # nothing personal left the process
    sent = b"".join(receiver.bodies)
    assert sent
    for form in _pii_forms():
        assert form not in sent, form


def test_a_hung_then_failing_collector_blocks_nothing_and_its_drops_are_counted(
    pipeline: Any, db: Database, receiver: Receiver
) -> None:
    receiver.gate.clear()  # the collector accepts the connection and does not answer
    receiver.status, receiver.retry_after = 503, "0"
    chat, writer = pipeline(_exporter(receiver.url, db, timeout_s=60))
    exporter = writer.exporter
    assert exporter is not None
    first = chat.ask(MESSAGE, session_id="s1")
    assert writer.flush()
    deadline = time.monotonic() + 20
    while receiver.arrived == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert receiver.arrived >= 1 and receiver.requests == 0  # the export is stuck
    # the chat still answers and the store still gets everything while it is stuck
    second = chat.ask("What is a canary release?", session_id="s1")
    assert first.answer and second.answer
    assert writer.flush()
    spans = len(_stored_spans(db, first.trace_id)) + len(_stored_spans(db, second.trace_id))
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Trace)) == 2
    assert receiver.requests == 0
    # the collector answers 503 now: the exporter retries, then gives the batches up
    receiver.gate.set()
    assert exporter.flush(timeout=30)
    assert receiver.requests >= 6  # the SDK's retries of the first batch, at least
    stats = exporter.stats()
    assert stats.exported == 0 and stats.dropped == spans and not stats.healthy
    assert stats.failed_batches >= 1 and stats.last_error
    with db.session() as s:
        reported = s.scalar(
            select(func.sum(TracingIncident.records)).where(TracingIncident.kind == "otlp_dropped")
        )
    assert reported == spans


def test_no_collector_at_all_loses_nothing_in_the_store(
    pipeline: Any, db: Database, receiver: Receiver
) -> None:
    url = receiver.url
    receiver.stop()  # nothing listens on that port any more
    chat, writer = pipeline(_exporter(url, db, timeout_s=1.5))
    turn = chat.ask(MESSAGE, session_id="s1")
    assert turn.answer
    assert writer.flush()
    n = len(_stored_spans(db, turn.trace_id))
    assert n >= 5
    assert writer.exporter is not None and writer.exporter.flush(timeout=20)
    assert writer.exporter.stats().dropped == n


def test_a_full_export_queue_drops_and_counts_without_waiting(db: Database) -> None:
    exporter = _exporter("http://127.0.0.1:9", db, queue_max=3, start=False)
    rows: dict[str, list[Any]] = {"span": [("t", "s", None)] * 2, "trace": [], "event": []}
    exporter.enqueue(rows)
    exporter.enqueue(rows)  # 4 > 3: refused, counted
    exporter.enqueue({"span": [], "trace": [("t",)], "event": []})  # no spans: nothing queued
    stats = exporter.stats()
    assert stats.queued == 2 and stats.dropped == 2


def test_endpoint_forms_and_masking() -> None:
    assert traces_url("http://c:4318") == "http://c:4318/v1/traces"
    assert traces_url("http://c:4318/") == "http://c:4318/v1/traces"
    assert traces_url("http://p:6006/v1/traces") == "http://p:6006/v1/traces"
    assert traces_url("https://l.example/api/public/otel") == (
        "https://l.example/api/public/otel/v1/traces"
    )
    assert masked_url("http://u:pw@c:4318/v1/traces") == "http://u:***@c:4318/v1/traces"
    assert masked_url("http://c:4318") == "http://c:4318"


def test_runtime_exports_only_when_an_endpoint_is_set(
    llmops_home: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    from llmops.config import get_settings, reset_settings
    from llmops.runtime import Runtime

    rt = Runtime(get_settings())
    try:
        assert rt.writer.exporter is None
    finally:
        rt.close()
    monkeypatch.setenv("LLMOPS_OTLP_ENDPOINT", receiver.url)
    reset_settings()
    rt = Runtime(get_settings())
    try:
        assert rt.writer.exporter is not None
        assert rt.writer.exporter.endpoint == receiver.url + "/v1/traces"
    finally:
        rt.close()


def test_traces_spooled_while_the_store_was_down_are_exported_once_stored(
    sqlite_db: Database, receiver: Receiver, tmp_path: Path
) -> None:
    """The collector gets what the store gets, when the store gets it: a spool replay."""
    import sqlite3

    from llmops.tracing.ids import new_span_id, new_trace_id
    from llmops.tracing.records import SpanRecord, TraceRecord

    writer = SpanWriter(sqlite_db, tmp_path / "spool", flush_interval_s=0.01,
                        retry_interval_s=0.05, exporter=_exporter(receiver.url, sqlite_db))  # fmt: skip
    path = sqlite_db.url.removeprefix("sqlite:///")
    blocker = sqlite3.connect(path, timeout=0)
    blocker.execute("BEGIN EXCLUSIVE")
    tid, root, now = new_trace_id(), new_span_id(), time.time_ns()
    try:
        writer.submit(SpanRecord(tid, root, None, "chat", "chain", now, now + 9_000))
        writer.submit(SpanRecord(tid, new_span_id(), root, "retriever", "retriever", now, now + 5))
        writer.submit(TraceRecord(id=tid, name="chat", start_ns=now, end_ns=now + 9_000,
                                  session_id="playground:abc"))  # fmt: skip
        assert writer.flush(timeout=15)
        assert writer.spool_files() and not receiver.spans  # spooled, so not exported yet
    finally:
        blocker.rollback()
        blocker.close()
    try:
        assert writer.flush(timeout=15) and not writer.spool_files()
        assert writer.exporter is not None and writer.exporter.flush()
        got = {s.span_id: s for s in receiver.spans}
        assert set(got) == set(_stored_spans(sqlite_db, tid)) and len(got) == 2
        root_span = got[root]
        assert root_span.attributes["llmops.traffic.kind"] == "playground"
    finally:
        writer.close(timeout=5)


def test_a_row_that_cannot_be_converted_is_counted_and_the_rest_exported(
    sqlite_db: Database, receiver: Receiver
) -> None:
    def row(**values: Any) -> tuple[Any, ...]:
        base = {"trace_id": "0" * 31 + "1", "id": "00000000000000a1", "parent_id": None,
                "name": "chat", "kind": "chain", "started_at": "2026-12-06 10:00:00.000001",
                "ended_at": "2026-12-06 10:00:00.500000", "duration_ms": 500.0,
                "status": "ok", "error": None, "input": "hi", "output": "hello",
                "attributes": '{"gen_ai.operation.name": "chat", "n": [1, 2]}'}  # fmt: skip
        return tuple({**base, **values}.get(c) for c in COLUMNS["span"])

    exporter = _exporter(receiver.url, sqlite_db)
    exporter.enqueue({"span": [row(), row(trace_id="not hex")], "trace": [], "event": []})
    assert exporter.flush()
    exporter.close()
    assert exporter.stats().exported == 1 and exporter.stats().dropped == 1
    (span,) = receiver.spans
    assert span.start_ns == 1_796_551_200_000_001_000
    assert span.end_ns - span.start_ns == 499_999_000
    assert span.attributes["n"] == [1, 2] and span.attributes["input.value"] == "hi"
