"""The span writer's redaction process (``llmops.tracing.redact_process``).

What it must keep: the same stored rows as redaction in the writer's thread, on both
backends; nothing lost and nothing stored unredacted when the process is killed, hangs, or
cannot redact; no process at light load; no process left behind when its parent dies.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from llmops.redaction import redact
from llmops.store.db import Database
from llmops.store.models import GuardEvent, Span, Trace
from llmops.tracing.ids import new_span_id, new_trace_id
from llmops.tracing.records import GuardEventRecord, Record, RunRecord, SpanRecord, TraceRecord
from llmops.tracing.redact_process import reference
from llmops.tracing.redaction_jobs import REDACTION_FAILED
from llmops.tracing.writer import SpanWriter

ROOT = Path(__file__).resolve().parents[2]
SECRETS = ("ana.lopez", "612 345", "ES91 2100", "sk-live")


def _pii(i: int) -> str:
    return f"Ticket {i}: reach me at ana.lopez{i}@example.com or +34 612 345 {i % 1000:03d}"


def _turn(i: int) -> list[Record]:
    """A turn whose question, answer, prompt, attributes, tags, error and guard event all
    carry personal data or a credential; a chain run as the handler hands it over."""
    tid, root, now = new_trace_id(), new_span_id(), time.time_ns()
    q = _pii(i)
    answer = f"Thanks. Your IBAN ES91 2100 0418 4502 0005 1332 is noted ({q})"
    return [
        SpanRecord(tid, root, None, "chat", "chain", now, now + 9, input=q, output=answer,
                   attributes={"user.note": q, "n": i, "nested": {"k": [q, 1.5, None]}}),
        SpanRecord(tid, new_span_id(), root, "llm", "llm", now, now + 5,
                   input=["system: be brief", f"human: {q}"], output=f"ai: {answer}",
                   status="error", error=f"upstream said: key sk-live-{'a' * 24} rejected"),
        RunRecord(tid, uuid.uuid4().int >> 65, None, root, {"name": "RunnableLambda"}, None, now, now + 3,
                  {"question": q}, {"output": answer}, None),
        GuardEventRecord(tid, root, "pii", "input", "fixed", f"found in {q}", excerpt=q),
        TraceRecord(id=tid, name="chat", start_ns=now, end_ns=now + 9, input=q, output=answer,
                    tags=[f"from {q}", "plain"], attributes={"question": q}),
    ]  # fmt: skip


def _submit(writer: SpanWriter, turns: range) -> None:
    for i in turns:
        for rec in _turn(i):
            writer.submit(rec)


def _writer(db: Database, spool: Path, **kwargs: Any) -> SpanWriter:
    kwargs.setdefault("flush_interval_s", 0.01)
    kwargs.setdefault("retry_interval_s", 0.05)
    kwargs.setdefault("redact", redact)
    return SpanWriter(db, spool, **kwargs)


def _ready(writer: SpanWriter, timeout: float = 60.0) -> int:
    """The writer's redaction process id, once it is ready."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        proc = writer._process
        if proc is not None and proc.started:
            return proc.pid
        writer._wake.set()
        time.sleep(0.02)
    raise AssertionError("the redaction process never became ready")


def _stored(db: Database) -> dict[str, Any]:
    """Every stored text of every record, by id."""
    out: dict[str, Any] = {}
    with db.session() as s:
        for span in s.scalars(select(Span)):
            out[span.id] = (span.input, span.output, span.error, span.attributes)
        for trace in s.scalars(select(Trace)):
            out[trace.id] = (trace.input, trace.output, trace.tags, trace.attributes)
        for event in s.scalars(select(GuardEvent)):
            out[event.event_id] = (event.message, event.excerpt)
    return out


def _assert_nothing_leaked(stored: dict[str, Any]) -> None:
    dump = json.dumps(stored, ensure_ascii=False)
    for needle in SECRETS:
        assert needle not in dump, f"{needle!r} was stored"


@pytest.fixture
def cleanup() -> Iterator[list[SpanWriter]]:
    writers: list[SpanWriter] = []
    yield writers
    for w in writers:
        w.close(5)


def test_rows_are_those_the_thread_would_store(
    db: Database, tmp_path: Path, cleanup: list[SpanWriter]
) -> None:
    turns = [rec for i in range(120) for rec in _turn(i)]
    w = _writer(db, tmp_path / "spool", redact_process="on", batch_size=64)
    cleanup.append(w)
    _ready(w)
    for rec in turns:
        w.submit(rec)
    assert w.flush(60)
    assert w.process_batches >= 2  # the process redacted them (batches of 64)
    stored = _stored(db)

    # what the writer's own thread renders from the same records
    local = SpanWriter(db, tmp_path / "spool2", redact=redact, start=False, batch_size=64)
    expected: dict[str, Any] = {}
    for start in range(0, len(turns), 64):
        rows = local._render(turns[start : start + 64])
        cols = {kind: _columns(kind) for kind in rows}
        for kind, items in rows.items():
            for row in items:
                r = dict(zip(cols[kind], row, strict=True))
                if kind == "span":
                    expected[r["id"]] = (r["input"], r["output"], r["error"], _j(r["attributes"]))
                elif kind == "trace":
                    expected[r["id"]] = (r["input"], r["output"], _j(r["tags"]),
                                         _j(r["attributes"]))  # fmt: skip
                elif kind == "event":
                    expected[r["event_id"]] = (r["message"], r["excerpt"])
    assert len(stored) == len(expected) == len(turns)
    assert stored == expected
    _assert_nothing_leaked(stored)


def _columns(kind: str) -> tuple[str, ...]:
    from llmops.tracing.writer import COLUMNS

    return COLUMNS[kind]


def _j(doc: str | None) -> Any:
    return None if doc is None else json.loads(doc)


def test_a_killed_process_loses_nothing_and_leaks_nothing(
    db: Database, tmp_path: Path, cleanup: list[SpanWriter]
) -> None:
    w = _writer(db, tmp_path / "spool", redact_process="on", batch_size=20)
    cleanup.append(w)
    pid = _ready(w)
    _submit(w, range(30))
    os.kill(pid, signal.SIGKILL)  # batches are at the process, or on their way to it
    _submit(w, range(30, 60))
    assert w.flush(60)
    stored = _stored(db)
    assert len(stored) == 60 * 5
    _assert_nothing_leaked(stored)
    assert w._process_failures >= 1
    assert w._process is None or w._process.pid != pid


def test_a_hung_process_is_given_up_on_in_time(
    sqlite_db: Database, tmp_path: Path, cleanup: list[SpanWriter]
) -> None:
    w = _writer(sqlite_db, tmp_path / "spool", redact_process="on", redact_timeout_s=0.3)
    cleanup.append(w)
    pid = _ready(w)
    os.kill(pid, signal.SIGSTOP)
    try:
        _submit(w, range(20))
        assert w.flush(30)
        stored = _stored(sqlite_db)
        assert len(stored) == 20 * 5
        _assert_nothing_leaked(stored)
        assert w._process_failures == 1
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def redact_in_the_parent_only(text: str) -> str:
    """A redactor that works in the test's process and raises in any other."""
    if os.getpid() != int(os.environ["LLMOPS_TEST_PARENT_PID"]):
        raise RuntimeError("this redactor fails in the redaction process")
    return redact(text)


def test_texts_the_process_cannot_redact_are_not_stored(
    sqlite_db: Database,
    tmp_path: Path,
    cleanup: list[SpanWriter],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LLMOPS_TEST_PARENT_PID", str(os.getpid()))
    assert reference(redact_in_the_parent_only) is not None
    w = _writer(
        sqlite_db, tmp_path / "spool", redact=redact_in_the_parent_only, redact_process="on"
    )
    cleanup.append(w)
    _ready(w)
    _submit(w, range(5))
    assert w.flush(30)
    stored = _stored(sqlite_db)
    assert len(stored) == 25
    _assert_nothing_leaked(stored)
    assert w.redaction_failures > 0
    assert REDACTION_FAILED in json.dumps(stored)


def test_no_process_at_light_load_one_under_a_backlog(
    sqlite_db: Database, tmp_path: Path, cleanup: list[SpanWriter]
) -> None:
    light = _writer(sqlite_db, tmp_path / "a", batch_size=50)
    cleanup.append(light)
    for i in range(40):  # a turn at a time
        _submit(light, range(i, i + 1))
        light.flush(10)
    assert light._process is None

    behind = _writer(sqlite_db, tmp_path / "b", batch_size=50, start=False)
    cleanup.append(behind)
    _submit(behind, range(200))  # 1,000 records: 20 batches waiting
    before = sys.getswitchinterval()
    behind._drain_once()
    assert behind._process is not None  # started after three batches taken behind
    assert sys.getswitchinterval() == pytest.approx(min(before, 0.001))
    assert len(_stored(sqlite_db)) == 40 * 5 + 200 * 5
    # and stopped once the load has passed
    behind.redact_idle_s = 0.0
    behind._drain_once()
    assert behind._process is None
    assert sys.getswitchinterval() == pytest.approx(before)

    # a redactor another interpreter cannot import never goes to a process
    closure = _writer(sqlite_db, tmp_path / "c", redact=lambda t: redact(t), redact_process="on")
    cleanup.append(closure)
    closure.submit(_turn(999)[0])
    assert closure.flush(10)
    assert closure._process is None


def test_the_process_goes_when_its_parent_is_killed(tmp_path: Path) -> None:
    script = (
        "import sys, time\n"
        "from llmops.redaction import redact\n"
        "from llmops.store.db import Database\n"
        "from llmops.store.migrate import upgrade\n"
        "from llmops.tracing.writer import SpanWriter\n"
        "db = Database(f'sqlite:///{sys.argv[1]}'); upgrade(db)\n"
        "w = SpanWriter(db, sys.argv[2], redact=redact, redact_process='on')\n"
        "while not (w._process and w._process.started):\n"
        "    time.sleep(0.02)\n"
        "print(w._process.pid, flush=True)\n"
        "time.sleep(120)\n"
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", script, str(tmp_path / "t.db"), str(tmp_path / "spool")],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert parent.stdout is not None
        child = int(parent.stdout.readline())
        parent.kill()
        parent.wait(10)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and _running(child):
            time.sleep(0.05)
        assert not _running(child), "the redaction process outlived its parent"
    finally:
        if parent.poll() is None:
            parent.kill()


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"  # a zombie has exited; only its parent's reaping is left


def test_the_switch_interval_is_restored_by_the_last_process_unless_changed_meanwhile() -> None:
    from llmops.tracing.writer import _SwitchInterval

    before = sys.getswitchinterval()
    try:
        switch = _SwitchInterval()
        switch.hold(0.001)
        switch.hold(0.001)
        assert sys.getswitchinterval() == pytest.approx(0.001)
        switch.release()
        assert sys.getswitchinterval() == pytest.approx(0.001)  # one process still runs
        switch.release()
        assert sys.getswitchinterval() == pytest.approx(before)

        switch.hold(0.001)
        sys.setswitchinterval(0.002)  # someone else's choice meanwhile
        switch.release()
        assert sys.getswitchinterval() == pytest.approx(0.002)
    finally:
        sys.setswitchinterval(before)


def test_a_process_that_never_starts_is_given_up_on(
    sqlite_db: Database, tmp_path: Path, cleanup: list[SpanWriter]
) -> None:
    w = _writer(sqlite_db, tmp_path / "spool", redact_process="on")
    cleanup.append(w)
    deadline = time.monotonic() + 30
    while w._process is None and time.monotonic() < deadline:
        time.sleep(0.01)
    proc = w._process
    assert proc is not None
    os.kill(proc.pid, signal.SIGSTOP)  # stuck before it could say it is ready
    try:
        proc._start_deadline = time.monotonic()
        _submit(w, range(3))
        assert w.flush(30)
        assert len(_stored(sqlite_db)) == 15
        assert w._process_failures == 1
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGKILL)
