"""Fault tests of the span writer: each promise of docs/reliability.md, broken on purpose.

Poison records, a store that rejects a row, two processes on one spool, a replay after a
crash, a full queue, a spool that cannot be written, a full disk (a real tmpfs), and text
that only one backend refuses. Each test fails against the writer that treated every error
as "store down".
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text

from llmops.store.db import Database
from llmops.store.models import GuardEvent, Quarantine, Span, Trace, TracingIncident
from llmops.tracing.ids import new_span_id, new_trace_id
from llmops.tracing.records import GuardEventRecord, Record, SpanRecord, TraceRecord
from llmops.tracing.writer import SpanWriter

ROOT = Path(__file__).resolve().parents[2]


def _count(db: Database, model: Any) -> int:
    with db.session() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def _turn(session: str = "s", *, input: Any = "what is llmops?", **trace: Any) -> list[Record]:
    """One chat turn's records: a root span, a child span, a guard event and the trace."""
    tid, root, now = new_trace_id(), new_span_id(), time.time_ns()
    return [
        SpanRecord(tid, root, None, "chat", "chain", now, now + 9, input=input),
        SpanRecord(tid, new_span_id(), root, "retriever", "retriever", now, now + 5),
        GuardEventRecord(tid, root, "pii", "input", "fixed", "Personal data found"),
        TraceRecord(id=tid, name="chat", start_ns=now, end_ns=now + 9, session_id=session,
                    input=input, **trace),
    ]  # fmt: skip


def _writer(db: Database, spool: Path, **kwargs: Any) -> SpanWriter:
    kwargs.setdefault("flush_interval_s", 0.01)
    kwargs.setdefault("retry_interval_s", 0.05)
    return SpanWriter(db, spool, **kwargs)


def _rollup_traces(db: Database) -> int:
    with db.engine.connect() as conn:
        value = conn.execute(
            text("SELECT coalesce(sum(traces), 0) FROM metric_rollups WHERE grain = 'hour'")
        ).scalar()
    return int(value or 0)


# -- one bad record ------------------------------------------------------------------------------
def test_a_rejected_record_is_quarantined_and_tracing_goes_on(db: Database, tmp_path: Path) -> None:
    writer = _writer(db, tmp_path / "spool", start=False)
    poison = SpanRecord(new_trace_id(), new_span_id(), None, None, "chain", 1, 2)  # type: ignore[arg-type]
    writer.submit(poison)  # spans.name is NOT NULL: every backend refuses this row
    good = [_turn(f"other-session-{i}") for i in range(5)]
    for records in good:  # same batch: other sessions' records must not go down with it
        for rec in records:
            writer.submit(rec)
    assert writer.flush()
    assert writer.healthy and writer.spool_files() == []
    assert _count(db, Trace) == 5 and _count(db, Span) == 10 and _count(db, GuardEvent) == 5
    with db.session() as s:
        (q,) = s.scalars(select(Quarantine)).all()
    assert q.kind == "span" and q.trace_id == poison.trace_id and q.source == "writer"
    assert "name" in q.error.lower() or "null" in q.error.lower()
    assert json.loads(q.record)["id"] == poison.span_id
    assert writer.quarantined == 1

    for rec in _turn("later"):  # and the writer keeps storing
        writer.submit(rec)
    assert writer.flush()
    assert _count(db, Trace) == 6
    assert _rollup_traces(db) == 6


@pytest.mark.parametrize(
    "field",
    [
        {"input": "caf\udce9 con le\udcf1a"},  # lone surrogates: invalid UTF-8 from argv
        {"input": "nul\x00byte"},  # PostgreSQL refuses NUL in text
        {"session_id": "s" * 1_000_000},  # over-long for traces.session_id (100)
        {"user_id": "u\udcff" + "x" * 500},
        {"input": {"q": "nested \x00 and \ud800"}},
    ],
    ids=["surrogates", "nul", "long-session", "bad-user", "json"],
)
def test_text_one_backend_refuses_is_made_storable(
    db: Database, tmp_path: Path, field: dict[str, Any]
) -> None:
    writer = _writer(db, tmp_path / "spool")
    records = _turn(**{"session": field.pop("session_id", "s"), **field})
    for rec in records:
        writer.submit(rec)
    assert writer.flush()
    writer.close()
    assert writer.quarantined == 0 and writer.spool_files() == []
    with db.session() as s:
        trace = s.scalars(select(Trace)).one()
    assert trace.session_id is not None and len(trace.session_id) <= 100
    assert "\x00" not in (trace.input or "") and "\ud800" not in (trace.input or "")
    assert trace.user_id is None or len(trace.user_id) <= 200


def test_long_ids_stay_distinct_after_fitting(db: Database, tmp_path: Path) -> None:
    writer = _writer(db, tmp_path / "spool")
    for suffix in "ab":
        for rec in _turn("x" * 300 + suffix):
            writer.submit(rec)
    writer.close()
    with db.session() as s:
        sessions = set(s.scalars(select(Trace.session_id)).all())
    assert len(sessions) == 2


def test_a_bad_record_in_the_spool_does_not_block_the_replay(
    sqlite_db: Database, tmp_path: Path
) -> None:
    spool = tmp_path / "spool"
    path = sqlite_db.url.split("///", 1)[1]
    blocker = sqlite3.connect(path, timeout=0)
    blocker.execute("BEGIN EXCLUSIVE")
    writer = _writer(sqlite_db, spool)
    try:
        writer.submit(SpanRecord(new_trace_id(), new_span_id(), None, None, "chain", 1, 2))  # type: ignore[arg-type]
        for rec in _turn("a") + _turn("b"):
            writer.submit(rec)
        assert writer.flush(timeout=15)
        assert writer.spool_files()
    finally:
        blocker.rollback()
        blocker.close()
    assert writer.flush(timeout=15)
    writer.close()
    assert writer.spool_files() == [] and not list(spool.glob("*.bad"))
    assert _count(sqlite_db, Trace) == 2 and _count(sqlite_db, Quarantine) == 1
    with sqlite_db.session() as s:
        assert s.scalars(select(Quarantine.source)).one() == "replay"


# -- replay: idempotent, one replayer ------------------------------------------------------------
def _spooled(db_url: str, spool: Path, turns: int) -> None:
    """Spool ``turns`` turns as a writer whose store is down would."""
    down = Database(db_url)
    writer = _writer(down, spool, retry_interval_s=60)
    for i in range(turns):
        for rec in _turn(f"s{i}"):
            writer.submit(rec)
    assert writer.flush()
    writer._stop.set()
    down.dispose()


def test_a_spool_replayed_twice_counts_once(db: Database, tmp_path: Path) -> None:
    spool, copy = tmp_path / "spool", tmp_path / "copy"
    _spooled(f"sqlite:///{tmp_path / 'absent' / 'none.db'}", spool, 4)
    shutil.copytree(spool, copy)
    _writer(db, spool).close()  # replays and removes the files
    assert _count(db, Trace) == 4 and _rollup_traces(db) == 4
    # a crash between storing and removing a file: the same file is replayed again
    for f in copy.glob("*.jsonl"):
        shutil.copy(f, spool / f.name)
    _writer(db, spool).close()
    assert _count(db, Trace) == 4 and _count(db, Span) == 8
    assert _count(db, GuardEvent) == 4, "a replayed guard event must be stored once"
    assert _rollup_traces(db) == 4, "monitoring must count a replayed trace once"
    with db.engine.connect() as conn:
        violating = conn.execute(
            text("SELECT sum(violating) FROM metric_rollups WHERE grain = 'hour'")
        ).scalar()
    assert violating == 4


def test_only_one_process_replays_a_spool_directory(sqlite_db: Database, tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    _spooled(f"sqlite:///{tmp_path / 'absent' / 'none.db'}", spool, 3)
    spool.mkdir(exist_ok=True)
    fd = os.open(spool / ".replay.lock", os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)  # another process is replaying
    try:
        writer = _writer(sqlite_db, spool)
        assert writer.flush(timeout=0.5) is False
        assert _count(sqlite_db, Trace) == 0 and writer.spool_files()
        assert writer.healthy  # its own records still go straight to the store
        for rec in _turn("live"):
            writer.submit(rec)
        deadline = time.monotonic() + 10
        while _count(sqlite_db, Trace) < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert _count(sqlite_db, Trace) == 1
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
    assert writer.flush(timeout=10)
    writer.close()
    assert _count(sqlite_db, Trace) == 4 and writer.spool_files() == []


_REPLAYER = """
import sys, time
from llmops.store.db import Database
from llmops.tracing.writer import SpanWriter
db = Database(sys.argv[1])
w = SpanWriter(db, sys.argv[2], flush_interval_s=0.005, retry_interval_s=0.01)
ok = w.flush(timeout=60)
w.close()
alive = w._thread.is_alive()
print("ok" if ok and not alive else "failed", w.written)
"""


def test_two_processes_on_one_home_store_each_record_once(db: Database, tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    for _ in range(40):  # many files, so two replayers would collide
        _spooled(f"sqlite:///{tmp_path / 'absent' / 'none.db'}", spool, 2)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _REPLAYER, db.url, str(spool)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=120) for p in procs]
    for (out, err), p in zip(outs, procs, strict=True):
        assert p.returncode == 0 and out.startswith("ok"), (out, err)
        assert "Traceback" not in err, err
    assert _count(db, Trace) == 80 and _count(db, GuardEvent) == 80
    assert _rollup_traces(db) == 80
    assert not list(spool.glob("*.jsonl")) and not list(spool.glob("*.bad"))


# -- bounded memory ------------------------------------------------------------------------------
def test_a_full_queue_refuses_counts_and_reports(db: Database, tmp_path: Path) -> None:
    writer = _writer(db, tmp_path / "spool", queue_max=100, start=False)
    started = time.perf_counter()
    for i in range(150):
        writer.submit(TraceRecord(id=new_trace_id(), name="chat", start_ns=i, end_ns=i + 1))
    assert time.perf_counter() - started < 5  # never blocks (a generous sanity bound)
    assert writer.refused == 50
    assert writer.flush()
    assert _count(db, Trace) == 100
    with db.session() as s:
        (incident,) = s.scalars(select(TracingIncident)).all()
    assert (incident.kind, incident.records) == ("refused", 50)


def test_records_wait_in_memory_while_neither_store_nor_spool_can_take_them(
    sqlite_db: Database, tmp_path: Path
) -> None:
    blocked = tmp_path / "not-a-dir"
    blocked.write_text("a file where the spool directory should be")
    path = sqlite_db.url.split("///", 1)[1]
    blocker = sqlite3.connect(path, timeout=0)
    blocker.execute("BEGIN EXCLUSIVE")
    writer = _writer(sqlite_db, blocked / "spool")
    try:
        for rec in _turn("a") + _turn("b"):
            writer.submit(rec)
        deadline = time.monotonic() + 15
        while writer.stats().held < 8 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert writer.stats().held == 8 and writer.dropped == 0
    finally:
        blocker.rollback()
        blocker.close()
    assert writer.flush(timeout=15)
    writer.close()
    assert _count(sqlite_db, Trace) == 2 and writer.dropped == 0


def test_memory_beyond_its_bound_is_dropped_loudly(
    sqlite_db: Database, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocked = tmp_path / "not-a-dir"
    blocked.write_text("x")
    path = sqlite_db.url.split("///", 1)[1]
    blocker = sqlite3.connect(path, timeout=0)
    blocker.execute("BEGIN EXCLUSIVE")
    writer = _writer(sqlite_db, blocked / "spool", hold_max=4, batch_size=4)
    try:
        for rec in _turn("a") + _turn("b"):
            writer.submit(rec)
        deadline = time.monotonic() + 15
        while writer.dropped < 4 and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        blocker.rollback()
        blocker.close()
    assert writer.flush(timeout=15)
    writer.close()
    assert writer.dropped == 4
    assert "dropped 4 records" in caplog.text
    with sqlite_db.session() as s:
        incident = s.scalars(select(TracingIncident).where(TracingIncident.kind == "dropped")).one()
    assert incident.records == 4


# -- a real full disk ----------------------------------------------------------------------------
@contextlib.contextmanager
def _tmpfs(path: Path, size: str) -> Iterator[Path]:
    path.mkdir(parents=True)
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("a full-disk test needs root to mount a tmpfs")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def _fill(directory: Path) -> Path:
    filler = directory / "filler"
    with filler.open("wb") as fh, contextlib.suppress(OSError):
        while True:
            fh.write(b"\0" * 65536)
            fh.flush()
    return filler


def test_a_full_disk_loses_nothing(tmp_path: Path) -> None:
    """The database and its spool on one filesystem, filled up: traces wait in memory and
    all reach the store once space is free again."""
    from llmops.runtime import bootstrap

    with _tmpfs(tmp_path / "disk", "6m") as disk:
        db = Database(f"sqlite:///{disk / 'llmops.db'}", busy_timeout_ms=200)
        bootstrap(db)
        writer = _writer(db, disk / "spool", retry_interval_s=0.05)
        for rec in _turn("before"):
            writer.submit(rec)
        assert writer.flush()
        filler = _fill(disk)
        turns = 30
        for i in range(turns):
            for rec in _turn(f"full-{i}", input="x" * 2000):
                writer.submit(rec)
        deadline = time.monotonic() + 20
        while writer.pending() and writer.stats().held < turns * 4 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert writer.dropped == 0
        filler.unlink()
        assert writer.flush(timeout=30)
        writer.close()
        assert writer.dropped == 0
        assert _count(db, Trace) == turns + 1 and _count(db, Span) == 2 * (turns + 1)
        db.dispose()


# -- process hygiene ------------------------------------------------------------------------------
def test_one_atexit_hook_per_process(tmp_path: Path) -> None:
    code = (
        "import atexit, sys\n"
        "from llmops.store.db import Database\n"
        "from llmops.tracing.writer import SpanWriter\n"
        "db = Database(sys.argv[1])\n"
        "before = atexit._ncallbacks()\n"
        "ws = [SpanWriter(db, sys.argv[2]) for _ in range(5)]\n"
        "print(atexit._ncallbacks() - before)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, f"sqlite:///{tmp_path / 'x.db'}", str(tmp_path / "spool")],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=60,
        check=True,
    )
    assert out.stdout.strip() == "1"


def test_a_redactor_that_raises_keeps_the_record_but_not_the_text(
    db: Database, tmp_path: Path
) -> None:
    def broken(text: str) -> str:
        if "secret" in text:
            raise RuntimeError("rule file broken")
        return text

    writer = _writer(db, tmp_path / "spool", redact=broken)
    for rec in _turn(input="my secret is 1234"):
        writer.submit(rec)
    writer.close()
    with db.session() as s:
        trace = s.scalars(select(Trace)).one()
    assert trace.input == "<REDACTION FAILED: text not stored>"
    assert _count(db, Span) == 2 and writer.redaction_failures >= 1 and writer.quarantined == 0


# -- a store too slow for the close -----------------------------------------------------------
def test_what_a_slow_store_has_not_taken_at_close_is_spooled(tmp_path: Path) -> None:
    """Two processes replaying a large spool after an outage, on a busy machine, still had
    records queued when they exited: close() gave up after its timeout and they died with
    the process. Now what is left goes to the spool, and the next start stores it once."""
    url = f"sqlite:///{tmp_path / 'store.db'}"
    db = Database(url, busy_timeout_ms=20_000)  # slow, not down: writes wait for the lock
    from llmops.runtime import bootstrap

    bootstrap(db)
    spool = tmp_path / "spool"
    writer = _writer(db, spool, batch_size=4)
    blocker = sqlite3.connect(str(tmp_path / "store.db"), timeout=0)
    blocker.execute("BEGIN IMMEDIATE")  # holds the write lock: the writer's insert waits
    try:
        for i in range(30):
            for rec in _turn(f"slow-{i}"):
                writer.submit(rec)
        time.sleep(0.2)  # the writer thread is now blocked inside its first batch
        writer.close(timeout=0.5)
    finally:
        blocker.rollback()
        blocker.close()
    assert writer.spool_files(), "the records still in memory were not spooled"
    writer._thread.join(30)  # the blocked batch completes once the lock is gone
    again = _writer(db, spool)
    assert again.flush(30)
    again.close()
    assert _count(db, Trace) == 30 and _count(db, Span) == 60 and _count(db, GuardEvent) == 30
    assert _rollup_traces(db) == 30  # the batch stored and spooled counts once
    db.dispose()
