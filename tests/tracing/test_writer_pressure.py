"""The writer under load (issue 17): bounded memory with back-pressure counted, records stored
complete by the multi-row SQLite insert, and a trace's texts redacted once without ever
storing what the redactor would have found. Real SQLite, the real redactor."""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path
from typing import Any

from sqlalchemy import event

from llmops.redaction import redact
from llmops.store.db import Database
from llmops.tracing.ids import new_span_id, new_trace_id
from llmops.tracing.records import GapRecord, Record, RunRecord, SpanRecord, TraceRecord
from llmops.tracing.redaction_jobs import substitute as _substitute
from llmops.tracing.writer import COLUMNS, TABLES, SpanWriter


def _rows(db: Database, kind: str) -> list[tuple[Any, ...]]:
    with db.engine.connect() as conn:
        sql = f"SELECT {', '.join(COLUMNS[kind])} FROM {TABLES[kind]}"
        return [tuple(r) for r in conn.exec_driver_sql(sql).all()]


def _raw(db: Database) -> str:
    """Every text of every stored trace and span, as one string."""
    return repr(_rows(db, "trace")) + repr(_rows(db, "span"))


# -- back-pressure: bounded memory, every wait counted ------------------------------------------
def test_a_writer_that_falls_behind_slows_the_caller_and_counts_it(
    sqlite_db: Database, tmp_path: Path
) -> None:
    """While the writer thread is stuck, submits beyond ``queue_high`` wait and are counted;
    none is refused below ``queue_max``, and all are stored once the writer goes on."""
    release = threading.Event()

    def stuck(text: str) -> str:
        release.wait(30)
        return text

    writer = SpanWriter(
        sqlite_db, tmp_path / "spool", flush_interval_s=0.01, redact=stuck,
        queue_high=20, queue_max=1_000, throttle_s=0.0,
    )  # fmt: skip
    try:
        writer.submit(TraceRecord(id=new_trace_id(), name="first", start_ns=1, end_ns=2, input="x"))
        deadline = time.monotonic() + 15
        while (writer._queue or not writer._busy) and time.monotonic() < deadline:
            time.sleep(0.005)  # the writer thread has taken the first record and is stuck
        for i in range(200):
            writer.submit(TraceRecord(id=new_trace_id(), name="chat", start_ns=i, end_ns=i + 1))
        stats = writer.stats()
        assert stats.queued == 200  # the writer is stuck on the first record
        assert stats.throttled == 200 - 20  # every submit beyond queue_high waited
        assert stats.refused == 0 and stats.dropped == 0
    finally:
        release.set()
    assert writer.flush(30)
    writer.close()
    assert len(_rows(sqlite_db, "trace")) == 201


def test_the_queue_stays_bounded_and_what_it_refuses_is_counted(
    sqlite_db: Database, tmp_path: Path
) -> None:
    """Back-pressure never grows the queue past ``queue_max``: beyond it records are refused
    (counted and reported), whatever the high-water mark."""
    writer = SpanWriter(
        sqlite_db, tmp_path / "spool", queue_high=10, queue_max=50, throttle_s=0.0, start=False
    )
    for i in range(80):
        writer.submit(TraceRecord(id=new_trace_id(), name="chat", start_ns=i, end_ns=i + 1))
    stats = writer.stats()
    assert (stats.queued, stats.refused) == (50, 30)
    assert stats.throttled == 0  # no writer thread to wait for: no one is slowed for nothing
    assert writer.flush()
    assert len(_rows(sqlite_db, "trace")) == 50


# -- the multi-row insert stores every value as executemany does -----------------------------
def _awkward_turn() -> list[Record]:
    tid, root, now = new_trace_id(), new_span_id(), time.time_ns()
    text = 'quote " backslash \\ newline \n tab \t emoji 🚀 ñ {"json": [1, 2]} null'
    return [
        SpanRecord(tid, root, None, "chat ☕", "chain", now, now + 1_234_567, input=text,
                   output="", attributes={"n": 3, "f": 0.1 + 0.2, "b": True, "s": text,
                                          "none": None, "big": 2**62}),
        SpanRecord(tid, new_span_id(), root, "x" * 300, "llm", now, None, status="error",
                   error="boom"),
        TraceRecord(id=tid, name="chat", start_ns=now, end_ns=now + 7, input=text, output=None,
                    input_tokens=2**40, output_tokens=0, cost=1e-9, ttft_ms=None,
                    tags=["a", "ü"], session_id="s" * 300),
        GapRecord(tid, now, "low_score", text, top_score=0.123456789, lang="es"),
        RunRecord(tid, 12345, None, root, {"name": "RunnableSequence"}, None, now, now + 3,
                  {"q": text}, {"out": [1.5, None]}, None),
    ]  # fmt: skip


def test_the_batch_insert_stores_every_value_as_executemany_does(
    tmp_path: Path, sqlite_template: Path
) -> None:
    dbs = []
    for name in ("json", "many"):
        shutil.copy(sqlite_template, tmp_path / f"{name}.db")
        dbs.append(Database(f"sqlite:///{tmp_path / name}.db"))
    by_json, by_many = dbs
    turn = _awkward_turn()
    writer = SpanWriter(by_json, tmp_path / "spool-a", start=False)
    rows = writer._render(turn)
    writer.write_rows(rows)
    plain = SpanWriter(by_many, tmp_path / "spool-b", start=False)
    plain._insert = lambda conn, kind, r: conn.exec_driver_sql(  # type: ignore[method-assign]
        plain._sql(kind), [tuple(x) for x in r]
    )
    plain.write_rows(rows)
    for kind in ("trace", "span", "gap"):
        stored = _rows(by_json, kind)
        assert stored == _rows(by_many, kind), kind
        assert len(stored) == len(rows[kind]) > 0
    for db in dbs:
        db.dispose()


def test_a_value_the_driver_refuses_is_quarantined_alone(
    sqlite_db: Database, tmp_path: Path
) -> None:
    """An integer beyond 64 bits inside a multi-row statement: the driver refuses the
    statement, and the batch is split until that record alone is quarantined."""
    writer = SpanWriter(sqlite_db, tmp_path / "spool", flush_interval_s=0.01)
    good = TraceRecord(id=new_trace_id(), name="ok", start_ns=1, end_ns=2)
    bad = TraceRecord(id=new_trace_id(), name="huge", start_ns=1, end_ns=2, input_tokens=2**70)
    writer.submit(good)
    writer.submit(bad)
    assert writer.flush()
    writer.close()
    assert [r[COLUMNS["trace"].index("name")] for r in _rows(sqlite_db, "trace")] == ["ok"]
    assert writer.quarantined == 1


# -- redact once: never a leak ------------------------------------------------------------------
def test_substitution_replaces_only_an_occurrence_that_stands_on_its_own() -> None:
    assert _substitute('["human: a b c"]', "a b c", "<X>") == '["human: <X>"]'
    assert _substitute("a b c\nctx: a b c", "a b c", "<X>") == "<X>\nctx: <X>"
    # glued to what follows or precedes: an entity may run across the edge
    for glued in ("a b c9", "a b c López", "xa b c", "a b c.", "call a b c"):
        assert _substitute(glued, "a b c", "<X>") == glued


def test_texts_redacted_once_per_trace_store_no_personal_data(
    sqlite_db: Database, tmp_path: Path
) -> None:
    """A turn's question in many spans, inside the prompt, glued to a continuation that makes
    a longer number, and next to personal data of its own: nothing the redactor finds in each
    text on its own is stored."""
    question = "Ticket 12: my e-mail is ana.lopez@example.com, call me on 612 345 678"
    extra = "and my card is 4111 1111 1111 1111"
    texts = [
        question,
        f'["human: {question}"]',
        f"{question} {extra}",
        f"{question}9 or +44 7911 123456",
        "My name is Ana",
        "My name is Ana López, and yours?",
        f"System: answer briefly.\nhuman: {question}\nai: sure",
    ]
    writer = SpanWriter(sqlite_db, tmp_path / "spool", flush_interval_s=0.01, redact=redact)
    tid, root = new_trace_id(), new_span_id()
    for i, text in enumerate(texts):
        writer.submit(SpanRecord(tid, new_span_id() if i else root, None if i == 0 else root,
                                 f"step {i}", "chain", i, i + 1, input=text, output=text,
                                 attributes={"prompt": text}))  # fmt: skip
    writer.submit(TraceRecord(id=tid, name="chat", start_ns=0, end_ns=9, input=question))
    assert writer.flush()
    writer.close()
    raw = _raw(sqlite_db)
    secrets = (
        "ana.lopez@example.com",
        "612 345 678",
        "4111 1111 1111 1111",
        "7911 123456",
        "López",
    )
    for secret in secrets:
        assert secret not in raw
    # each text is what the redactor makes of it alone
    stored = {r[COLUMNS["span"].index("name")]: r for r in _rows(sqlite_db, "span")}
    for i, text in enumerate(texts):
        assert stored[f"step {i}"][COLUMNS["span"].index("input")] == redact(text)
    assert len(stored) == len(texts)


def test_a_sqlite_batch_is_a_few_multi_row_statements(sqlite_db: Database, tmp_path: Path) -> None:
    """What keeps a busy chat from starving the writer: a batch of a table is a handful of
    multi-row statements, never one step (one GIL hand-off) a row."""
    statements: list[tuple[str, bool]] = []
    writer = SpanWriter(sqlite_db, tmp_path / "spool", start=False)

    def count(_c: Any, _cur: Any, statement: str, _p: Any, _ctx: Any, many: bool) -> None:
        statements.append((statement, many))

    event.listen(sqlite_db.engine, "before_cursor_execute", count)
    try:
        rows = writer._render(
            [TraceRecord(id=new_trace_id(), name="t", start_ns=i, end_ns=i + 1) for i in range(341)]
        )
        writer.write_rows(rows)
    finally:
        event.remove(sqlite_db.engine, "before_cursor_execute", count)
    inserts = [many for sql, many in statements if sql.startswith("INSERT INTO traces")]
    assert inserts == [False] * 5  # 341 rows = 256 + 64 + 16 + 4 + 1
    assert len(_rows(sqlite_db, "trace")) == 341
