"""The batching span writer: never blocks the chat on I/O, never loses a span it accepted.

The hot path only appends a record to an in-process deque (no lock, no I/O). A daemon thread
drains it in batches, renders the records (text, JSON, redaction once per trace, column
limits) and inserts each batch in one transaction (on SQLite, multi-row statements). What can go wrong, and what happens then
(docs/reliability.md):

- **The store is unavailable** (connection refused, locked, disk full, not migrated): the
  rendered batch is spooled to a JSONL file in the spool directory (``LLMOPS_SPOOL_DIR``,
  which may live on another disk) and replayed, oldest first, once the store answers. If the
  spool cannot be written either, batches are held in a bounded in-memory buffer and retried.
- **A record is bad** (the store rejects that row): the batch is split until the bad record is
  alone; every other record is stored and the bad one goes to the ``quarantine`` table with
  its error (``llmops db doctor``). One bad record never stops tracing.
- **Too much at once**: beyond ``queue_high`` queued records the chat pays back-pressure:
  each ``submit`` waits ``throttle_s`` (the GIL goes to the writer), counted as
  ``throttled``; the queue is bounded, and records beyond ``queue_max`` are refused, not
  queued.

Anything refused or dropped is counted, logged, and written to ``tracing_incidents`` once the
store answers (the Overview shows it). Replay is idempotent: traces and spans have primary
keys, guard events an ``event_id``, rollups count a trace only the first time it is stored;
and only one process replays a spool directory at a time (an advisory file lock).
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import itertools
import json
import logging
import os
import socket
import sqlite3
import sys
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import orjson
from sqlalchemy import Connection, Integer, String, insert
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from llmops.store.db import Database
from llmops.store.models import (
    GapCandidate,
    GuardEvent,
    Quarantine,
    Span,
    Trace,
    TracingIncident,
)
from llmops.store.sql import mark as sql_mark
from llmops.tracing.hooks import batch_hooks
from llmops.tracing.ids import span_id_for_int
from llmops.tracing.records import (
    GapRecord,
    GuardEventRecord,
    Record,
    RunRecord,
    SpanRecord,
    TraceRecord,
)
from llmops.tracing.redact_process import RedactProcess, RedactProcessError, reference
from llmops.tracing.redaction_jobs import (
    REDACTION_FAILED,
    TEXT,
    VALUE,
    Job,
    Redactor,
    plain,
    redact_jobs,
    redact_once,
    redact_strings,
)
from llmops.tracing.render import (
    MAX_TEXT,
    fit,
    fit_id,
    sanitize,
    sanitize_json,
    to_jsonable,
    to_text,
)
from llmops.tracing.runs import chain_kind, error_attributes, error_status, error_text, run_name

log = logging.getLogger(__name__)

Row = tuple[Any, ...] | list[Any]
Rows = dict[str, list[Row]]
KINDS = ("trace", "span", "event", "gap")
_MODELS: dict[str, Any] = {"trace": Trace, "span": Span, "event": GuardEvent, "gap": GapCandidate}


def _insert_columns(model: Any) -> tuple[str, ...]:
    """The columns the writer fills: all but an autoincrement integer key."""
    return tuple(
        c.name
        for c in model.__table__.columns
        if not (c.primary_key and isinstance(c.type, Integer))
    )


def _row_builder(columns: tuple[str, ...]) -> Any:
    """A function taking one keyword argument per column and returning the row as a plain
    tuple in column order: rows are written by name, stored by position. (A namedtuple
    built from keywords costs four times as much, measured: 2.0 vs 0.5 µs a row.)"""
    args = ", ".join(columns)
    return eval(f"lambda *, {args}: ({args},)")  # column names from our models, not input


# Column lists, lengths and row shapes come from the models (llmops/store/models.py).
COLUMNS: dict[str, tuple[str, ...]] = {k: _insert_columns(m) for k, m in _MODELS.items()}
TABLES: dict[str, str] = {k: m.__tablename__ for k, m in _MODELS.items()}
_LIMITS: dict[str, dict[str, int]] = {
    k: {
        c.name: c.type.length
        for c in m.__table__.columns
        if isinstance(c.type, String) and c.type.length
    }
    for k, m in _MODELS.items()
}
TraceRow = _row_builder(COLUMNS["trace"])
SpanRow = _row_builder(COLUMNS["span"])
EventRow = _row_builder(COLUMNS["event"])
GapRow = _row_builder(COLUMNS["gap"])
_TL, _SL, _EL = _LIMITS["trace"], _LIMITS["span"], _LIMITS["event"]

SPOOL_VERSION = 2
_CHUNKS = (256, 64, 16, 4, 1)  # rows a multi-row INSERT on SQLite (see SpanWriter._insert)
# bound parameters a statement: 32,766 since SQLite 3.32, 999 before
_SQLITE_MAX_VARS = 32_766 if sqlite3.sqlite_version_info >= (3, 32, 0) else 999
_EPOCH = datetime(1970, 1, 1)
_last_second: tuple[int, str] = (-1, "")
_PROCESS = f"{socket.gethostname()}:{os.getpid()}"


def _ts(ns: int | None) -> str | None:
    """Naive UTC as text (how SQLAlchemy stores datetimes in SQLite; PostgreSQL parses it).

    Spans of a batch mostly share their second, so the date-time prefix is cached.
    """
    global _last_second
    if ns is None:
        return None
    second, micros = divmod(ns // 1000, 1_000_000)
    cached_second, prefix = _last_second
    if second != cached_second:
        prefix = (_EPOCH + timedelta(seconds=second)).isoformat(" ")
        _last_second = (second, prefix)
    return f"{prefix}.{micros:06d}"


def _duration(start_ns: int, end_ns: int | None) -> float | None:
    return None if end_ns is None else round((end_ns - start_ns) / 1e6, 3)


def _json_default(obj: Any) -> Any:
    value = to_jsonable(obj)
    return value if not isinstance(value, type(obj)) else repr(obj)[:500]


def _reason(exc: BaseException) -> str:
    """An error in one line, without the statement and parameters SQLAlchemy appends."""
    orig = getattr(exc, "orig", None) or exc
    return (
        f"{type(orig).__name__}: {str(orig).strip().splitlines()[0] if str(orig).strip() else ''}"
    )


def _count(rows: Rows) -> int:
    return sum(len(v) for v in rows.values())


def _empty() -> Rows:
    return {k: [] for k in KINDS}


def unavailable(exc: BaseException) -> bool:
    """Whether a failed write means "the store cannot take anything now" (spool and retry)
    rather than "this data is bad" (split the batch, quarantine the bad record).

    Connection failures, locks, timeouts, a full disk and a schema that is not there yet are
    the store's state; a constraint, an encoding or a value the store refuses is the data's.
    """
    if isinstance(exc, OperationalError | InterfaceError | DisconnectionError | PoolTimeout):
        return True
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return True
        code = getattr(exc.orig, "sqlstate", None) or ""
        # 08: connection exception, 53: insufficient resources (disk full, out of memory),
        # 57: operator intervention (shutdown), 42P01/42703: table/column not there yet
        return code[:2] in ("08", "53", "57") or code in ("42P01", "42703")
    return isinstance(exc, OSError | MemoryError)


class _StoreDown(Exception):
    """Raised inside the writer when the store became unavailable mid-way; ``rest`` is what
    was not stored yet."""

    def __init__(self, cause: BaseException, rest: Rows) -> None:
        super().__init__(str(cause))
        self.cause = cause
        self.rest = rest


class StoredBatchSink(Protocol):
    """Where stored batches go next (the OTLP exporter)."""

    def enqueue(self, rows: Rows) -> None: ...

    def close(self, timeout: float = 10.0) -> None: ...


@dataclass
class WriterStats:
    """What a writer did since it started (this process only)."""

    written: int
    spooled: int
    quarantined: int
    refused: int
    dropped: int
    queued: int
    held: int
    healthy: bool
    spool_files: int
    last_write_at: str | None = None  # UTC, when this process last stored a batch
    throttled: int = 0  # records whose submit waited for the writer (back-pressure)
    redaction_failures: int = 0  # texts stored as REDACTION_FAILED
    redaction_process: int | None = None  # the redaction process's pid, while it runs
    redaction_process_failures: int = 0  # processes given up on (killed, hung, garbled)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


# -- one atexit hook per process -----------------------------------------------------------------
_WRITERS: weakref.WeakSet[SpanWriter] = weakref.WeakSet()
_ATEXIT = threading.Lock()
_atexit_registered = False


def _close_all() -> None:
    for writer in list(_WRITERS):
        with contextlib.suppress(Exception):
            writer.close()


def _register(writer: SpanWriter) -> None:
    global _atexit_registered
    with _ATEXIT:
        _WRITERS.add(writer)
        if not _atexit_registered:
            atexit.register(_close_all)
            _atexit_registered = True


@contextlib.contextmanager
def _replay_lock(spool_dir: Path) -> Iterator[bool]:
    """An exclusive, non-blocking advisory lock on the spool directory: True if this process
    holds it (and may replay), False if another process is replaying right now."""
    spool_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(spool_dir / ".replay.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class SpanWriter:
    """Drains span and trace records into the store in batches, spooling when it is down."""

    def __init__(
        self,
        db: Database,
        spool_dir: Path,
        *,
        batch_size: int = 500,
        flush_interval_s: float = 0.2,
        retry_interval_s: float = 2.0,
        redact: Redactor | None = None,
        user_ids: Callable[[str], str] | None = None,
        queue_max: int = 200_000,
        queue_high: int = 1_000,
        throttle_s: float = 0.001,
        hold_max: int = 100_000,
        start: bool = True,
        maintain_rollups: bool = True,
        exporter: StoredBatchSink | None = None,
        redact_process: str = "auto",
        redact_timeout_s: float = 10.0,
        redact_idle_s: float = 300.0,
        switch_interval_s: float | None = 0.001,
    ) -> None:
        self.db = db
        self.exporter = exporter  # gets each batch once it is stored (llmops.tracing.otlp)
        self.last_write_ns: int | None = None
        # False only to measure what the batch hooks (rollups, pricing) cost
        self.maintain_rollups = maintain_rollups
        self.spool_dir = Path(spool_dir)
        self.batch_size = batch_size
        self.flush_interval_s = flush_interval_s
        self.retry_interval_s = retry_interval_s
        self.redact = self._failsafe(redact) if redact is not None else None
        self.redaction_failures = 0
        # Redaction in a process of its own (llmops.tracing.redact_process): "on" from the
        # start, "auto" once the writer stays a batch behind, "off" never; only for a
        # redactor another interpreter can import (not a lambda or a closure).
        if redact_process not in ("auto", "on", "off"):
            raise ValueError(f"redact_process: 'auto', 'on' or 'off', not {redact_process!r}")
        self._process_ref = None if redact is None or redact_process == "off" else reference(redact)
        self.redact_process = redact_process
        self.redact_timeout_s = redact_timeout_s
        self.redact_idle_s = redact_idle_s  # "auto": a process unused this long is stopped
        self._process_used_at = 0.0
        # the interpreter's switch interval while a redaction process runs (None: leave it)
        self.switch_interval_s = switch_interval_s
        self._process: RedactProcess | None = None
        self._process_retry_at = 0.0
        self._process_failures = 0
        self._behind = 0  # consecutive batches taken with another batch's worth still queued
        self.process_batches = 0  # batches redacted by a process (all its lives)
        self.process_cpu_s = 0.0  # CPU those processes reported
        # two-pass rendering (a process redacts): the jobs rendering asks for, then answers
        self._jobs: list[Job] | None = None
        self._answers: Iterator[Any] | None = None
        self._trace: str = ""
        self.user_ids = user_ids
        self.queue_max = queue_max
        # back-pressure above this many queued records (never above the bound itself)
        self.queue_high = min(queue_high, queue_max)
        self.throttle_s = throttle_s
        self.hold_max = hold_max
        # per batch, per trace: texts redacted so far and what they became ("redact once")
        self._redacted: dict[str, dict[str, str]] = {}
        self._known: dict[str, str] | None = None
        self._queue: deque[Record] = deque()
        self._held: deque[Rows] = deque()  # rendered, neither stored nor spooled (disk full)
        self._held_n = 0
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._busy = False
        self._inflight: Rows | None = None  # the batch being stored now
        self._healthy = True
        self._retry_at = 0.0
        self._spool_check_at = 0.0
        self._seq = itertools.count()
        self._replay_attempts = 0
        self._sql_cache: dict[str, str] = {}
        self._losses = {"refused": 0, "dropped": 0}  # not yet written to tracing_incidents
        self._loss_lock = threading.Lock()
        self._refused_logged = 0.0
        self.written = 0
        self.spooled = 0
        self.quarantined = 0
        self.refused = 0
        self.dropped = 0
        self.throttled = 0
        self._throttle_logged = 0.0
        self._thread = threading.Thread(target=self._loop, name="llmops-span-writer", daemon=True)
        if start:
            self._thread.start()
            _register(self)

    # -- hot path ---------------------------------------------------------------------------
    def submit(self, record: Record) -> None:
        """Queue a record; O(1), lock-free, never raises, never blocks on I/O.

        Beyond ``queue_high`` queued records the caller waits ``throttle_s`` first (a sleep
        hands the GIL to the writer thread, so a chat that outruns the writer slows down to
        its pace instead of growing the queue), counted in ``throttled``. Beyond
        ``queue_max`` the record is refused and counted (the writer thread reports it)."""
        queued = len(self._queue)
        if queued < self.queue_high:
            self._queue.append(record)
            return
        if queued < self.queue_max:
            self._back_pressure()
            self._queue.append(record)
            return
        with self._loss_lock:
            self.refused += 1
            self._losses["refused"] += 1

    def _back_pressure(self) -> None:
        if not self._thread.is_alive():
            return  # nobody to wait for (a writer built with start=False)
        with self._loss_lock:
            self.throttled += 1
        self._wake.set()
        time.sleep(self.throttle_s)
        now = time.monotonic()
        if now - self._throttle_logged > 60:
            self._throttle_logged = now
            log.warning(
                "span writer: %d records queued; callers wait %.1f ms a record until the "
                "writer catches up (%d waits so far)",
                len(self._queue),
                self.throttle_s * 1000,
                self.throttled,
            )

    # -- control ----------------------------------------------------------------------------
    @property
    def healthy(self) -> bool:
        return self._healthy

    def pending(self) -> int:
        return len(self._queue) + self._held_n + (1 if self._busy else 0)

    def stats(self) -> WriterStats:
        return WriterStats(
            written=self.written,
            spooled=self.spooled,
            quarantined=self.quarantined,
            refused=self.refused,
            dropped=self.dropped,
            queued=len(self._queue),
            held=self._held_n,
            healthy=self._healthy,
            spool_files=len(self.spool_files()),
            throttled=self.throttled,
            redaction_failures=self.redaction_failures,
            redaction_process=None if (proc := self._process) is None else proc.pid,
            redaction_process_failures=self._process_failures,
            last_write_at=None
            if self.last_write_ns is None
            else datetime.fromtimestamp(self.last_write_ns / 1e9, UTC).isoformat(
                timespec="seconds"
            ),
        )

    def spool_files(self) -> list[Path]:
        if not self.spool_dir.exists():
            return []
        return sorted(self.spool_dir.glob("*.jsonl"))

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every queued record is in the store (or spooled when it is down).

        Also retries the spool at once. Returns True when nothing is left in memory and, if
        the store is up, nothing is left in the spool.
        """
        deadline = time.monotonic() + timeout
        attempts = self._replay_attempts
        self._retry_at = self._spool_check_at = 0.0
        while time.monotonic() < deadline:
            if self._replay_attempts <= attempts:
                self._retry_at = self._spool_check_at = 0.0
            if not self._thread.is_alive():
                self._drain_once()
            self._wake.set()
            if not self._queue and not self._busy:
                if self._healthy and not self._held and not self.spool_files():
                    return True
                if not self._healthy and self._replay_attempts > attempts and not self._held:
                    return True  # tried the store again; it is still down, records are spooled
            time.sleep(0.002)
        return False

    def close(self, timeout: float = 10.0) -> None:
        """Flush and stop the thread (at exit and in tests).

        What the store did not take within ``timeout`` (a slow replay after an outage, a
        store that answers slowly) goes to the spool instead of dying with the process: the
        queue is spooled from this thread, and a batch the writer thread is still storing
        is spooled too (stored twice is harmless: every write is idempotent)."""
        flushed = False
        try:
            flushed = self.flush(timeout)
        finally:
            self._stop.set()
            self._wake.set()
            other = threading.current_thread() is not self._thread
            if not flushed:
                # a batch at a stuck redaction process comes back to the writer's thread
                # (which redacts it itself) when the process is gone
                proc = self._process
                if proc is not None:
                    proc.proc.kill()
                self._spool_remaining()
            if self._thread.is_alive() and other:
                self._thread.join(timeout if flushed else min(timeout, 2.0))
            inflight = self._inflight
            if self._thread.is_alive() and other and inflight is not None:
                self._spool_or_hold(inflight)
                log.warning("span writer: stopped while storing a batch; it is spooled too")
            if self._held:
                self._spool_remaining()
            if self._held_n:
                self._lose("dropped", self._held_n, "the process stopped with records in memory")
                self._held.clear()
                self._held_n = 0
            _WRITERS.discard(self)
            self._stop_process()
            if self.exporter is not None:
                self.exporter.close(timeout)

    # -- background thread ------------------------------------------------------------------
    def _loop(self) -> None:
        if self.redact_process == "on":
            self._ready_process()  # starts it: it loads while the spool is replayed
        self._replay_spool()
        while not self._stop.is_set():
            self._wake.wait(self.flush_interval_s)
            self._wake.clear()
            try:
                self._drain_once()
            except Exception:
                log.exception("span writer: unexpected error")
        try:
            self._drain_once()
        except Exception:
            log.exception("span writer: unexpected error")

    def _drain_once(self) -> None:
        now = time.monotonic()
        if not self._healthy and now >= self._retry_at:
            self._replay_spool()
        elif now >= self._spool_check_at:
            # spool files this writer did not write (another process's, a killed one's)
            self._spool_check_at = now + self.retry_interval_s
            if self.spool_files() or list(self.spool_dir.glob("*.jsonl.tmp")):
                self._replay_spool()
        if self._held and (self._healthy or time.monotonic() >= self._retry_at):
            self._release_held()
        if self._process is not None:
            self._ready_process()  # a starting process is heard from, a dead one noticed
            idle = time.monotonic() - self._process_used_at
            if self.redact_process == "auto" and not self._queue and idle > self.redact_idle_s:
                log.info("span writer: the load has passed; redacting in this thread again")
                self._stop_process()
        # With a redaction process, batch N+1 is rendered and handed to it before batch N
        # (redacted meanwhile) is stored: the process redacts while this thread stores.
        pending: _Handed | None = None
        try:
            while self._queue:
                self._busy = True
                batch: list[Record] = []
                while self._queue and len(batch) < self.batch_size:
                    batch.append(self._queue.popleft())
                handed = self._hand_over(batch)
                if pending is not None:
                    done = pending
                    pending = None
                    self._finish(done)
                if handed is None:
                    self._render_and_store(batch)
                else:
                    pending = handed
        finally:
            try:
                if pending is not None:
                    self._finish(pending)
            finally:
                self._busy = False
        if self._healthy:
            self._report_losses()

    def _render_and_store(self, batch: list[Record]) -> None:
        rows = self._render(batch)
        self._inflight = rows
        self._store_or_spool(rows)
        self._inflight = None

    # -- the redaction process --------------------------------------------------------------
    def _ready_process(self) -> RedactProcess | None:
        """The redaction process when it is ready for a batch; starts one when it is due."""
        proc = self._process
        if proc is not None:
            try:
                return proc if proc.ready() else None
            except RedactProcessError as exc:
                self._process_failed(exc)
                return None
        if self._process_ref is None or time.monotonic() < self._process_retry_at:
            return None
        self._behind = self._behind + 1 if len(self._queue) >= self.batch_size else 0
        if self.redact_process == "on" or self._behind >= _BEHIND_BATCHES:
            try:
                self._process_used_at = time.monotonic()
                self._process = RedactProcess(self._process_ref, timeout_s=self.redact_timeout_s)
                if self.switch_interval_s is not None:
                    _SWITCH.hold(self.switch_interval_s)
                log.info("span writer: redacting in process %d", self._process.pid)
            except OSError as exc:
                self._process_failed(exc)
        return None

    def _process_failed(self, exc: BaseException) -> None:
        """The process is gone or wrong: redact here, try a new one later (backing off)."""
        self._process_failures += 1
        wait = min(300.0, 5.0 * 2 ** min(self._process_failures - 1, 6))
        self._process_retry_at = time.monotonic() + wait
        self._behind = 0
        log.warning(
            "span writer: redaction process failed (%s); redacting in this thread, a new "
            "process in %.0f s",
            exc,
            wait,
        )
        self._stop_process(kill=True)

    def _stop_process(self, *, kill: bool = False) -> None:
        """Stop the redaction process: it exits when its pipe closes; a failed one is
        killed first (it may be hung)."""
        proc, self._process = self._process, None
        if proc is not None:
            if self.switch_interval_s is not None:
                _SWITCH.release()
            self.process_cpu_s += proc.cpu_s
            try:
                if kill:
                    proc.proc.kill()
                proc.close()
            except Exception:
                log.exception("span writer: could not stop the redaction process")

    def _hand_over(self, batch: list[Record]) -> _Handed | None:
        """Render ``batch`` far enough to know what it needs redacted and send that to the
        redaction process; None when there is no process ready (render it here)."""
        redact = self.redact
        proc = self._ready_process() if redact is not None else None
        if redact is None or proc is None:
            return None
        records, jobs, counts = self._collect(batch)
        try:
            self._process_used_at = time.monotonic()
            return _Handed(records, jobs, counts, redact, proc.send(jobs))
        except RedactProcessError as exc:
            self._process_failed(exc)
            return _Handed(records, jobs, counts, redact, None)

    def _finish(self, handed: _Handed) -> None:
        """Store a handed-over batch with the process's answers (or, if they do not come,
        with this thread's: ``redact_jobs`` is what the process runs)."""
        answers: list[Any] | None = None
        proc = self._process
        if handed.seq is not None and proc is not None:
            try:
                answers, failures = proc.receive(handed.seq, len(handed.jobs))
                self.process_batches += 1
                if failures:
                    self.redaction_failures += failures
                    log.error(
                        "span writer: redaction failed on %d texts; they are not stored",
                        failures,
                    )
            except RedactProcessError as exc:
                self._process_failed(exc)
        if answers is None:
            answers = redact_jobs(handed.jobs, handed.redact)
        self._render_and_store_answered(handed, answers)

    def _collect(self, batch: list[Record]) -> tuple[list[Record], list[Job], list[int]]:
        """First pass: the redaction jobs of each record, in the order rendering asks for
        them (a record that cannot be rendered is quarantined here and left out)."""
        records: list[Record] = []
        counts: list[int] = []
        jobs: list[Job] = []
        self._jobs = jobs
        try:
            for rec in batch:
                self._trace = rec.id if isinstance(rec, TraceRecord) else rec.trace_id
                mark = len(jobs)
                try:
                    self._render_one(rec)
                except Exception as exc:  # noqa: BLE001 - one record never stops the batch
                    del jobs[mark:]
                    self._quarantine_unrenderable(rec, exc)
                    continue
                records.append(rec)
                counts.append(len(jobs) - mark)
        finally:
            self._jobs = None
        return records, jobs, counts

    def _render_and_store_answered(self, handed: _Handed, answers: list[Any]) -> None:
        """Second pass: each record rendered again, its redaction jobs answered in order."""
        rows = _empty()
        pos = 0
        try:
            for rec, count in zip(handed.records, handed.counts, strict=True):
                mine = answers[pos : pos + count]
                pos += count
                self._answers = iter(mine)
                try:
                    kind, row = self._render_one(rec)
                    if next(self._answers, _END) is not _END:
                        raise RuntimeError("rendering asked for fewer redactions than before")
                    rows[kind].append(row)
                except Exception as exc:  # noqa: BLE001 - one record never stops the batch
                    self._quarantine_unrenderable(rec, exc)
        finally:
            self._answers = None
        self._inflight = rows
        self._store_or_spool(rows)
        self._inflight = None

    # -- rendering (off the hot path) -------------------------------------------------------
    def _failsafe(self, redact: Redactor) -> Redactor:
        """``redact`` that fails closed: a text it cannot redact is stored as a placeholder
        (the record and its trace are kept; the text is not)."""

        def safe(text: str) -> str:
            try:
                return redact(text)
            except Exception:
                self.redaction_failures += 1
                if self.redaction_failures == 1 or self.redaction_failures % 1000 == 0:
                    log.exception(
                        "span writer: redaction failed (%d times); the text is not stored",
                        self.redaction_failures,
                    )
                return REDACTION_FAILED

        return safe

    def _clean(self, value: Any) -> str | None:
        if value is None:
            return None
        # the common case (a short string) without a call
        if type(value) is str and len(value) <= MAX_TEXT:
            text = value if value.isascii() and "\x00" not in value else sanitize(value)
        else:
            text = sanitize(to_text(value) or "")
        return text if self.redact is None else self._redact_once(text, self.redact)

    def _redact_once(self, text: str, redact: Redactor) -> str:
        """``text`` redacted once for its trace (``redaction_jobs.redact_once``); in a
        two-pass rendering, noted as a job (first pass) or answered (second)."""
        if self._jobs is not None:
            self._jobs.append((TEXT, self._trace, text))
            return text
        if self._answers is not None:
            return str(next(self._answers))
        return redact_once(text, self._known, redact)

    def _redact_value(self, value: Any, redact: Redactor) -> Any:
        if self._jobs is not None:
            self._jobs.append((VALUE, self._trace, plain(value)))
            return value
        if self._answers is not None:
            return next(self._answers)
        return redact_strings(value, redact)

    def _clean_attrs(self, attrs: dict[str, Any] | None) -> str | None:
        """Attributes as a JSON document (one C-level dump; objects fall back to repr).

        Redaction applies to the string values only: the numbers (timestamps, token counts,
        scores) are ours, and scanning them for phone or card numbers is most of the cost.
        """
        if not attrs:
            return None
        if self.redact is not None:
            attrs = self._redact_value(attrs, self.redact)
        try:
            doc = orjson.dumps(attrs, default=_json_default).decode()
            return doc if doc.isascii() and "\\u0000" not in doc else sanitize_json(doc)
        except (TypeError, ValueError):
            return sanitize_json(json.dumps(to_jsonable(attrs), ensure_ascii=False, default=str))

    def _user(self, user_id: Any) -> str | None:
        if user_id is None:
            return None
        text = sanitize(str(user_id))
        return self.user_ids(text) if self.user_ids is not None else text

    def _render_one(self, rec: Record) -> tuple[str, Row]:
        """One record as a row of its table (columns in the model's order).

        Text from outside (names of someone's runs, sessions, users, inputs, outputs) is
        sanitised and fitted; our own values (ids, kinds, statuses) go as they are.

        Timestamps are UTC text, which SQLite stores as is and PostgreSQL parses; text is
        sanitised and cut to its column, so a row is final here, stores the same on every
        backend, and a spooled row replays unchanged.
        """
        clean = self._clean
        if isinstance(rec, RunRecord):
            run_start, run_end = rec.start_ns, rec.end_ns
            name = rec.name or run_name(rec.serialized, {}, "chain")
            parent = span_id_for_int(rec.parent) if rec.parent is not None else rec.root_span_id
            error = rec.error
            return "span", SpanRow(
                trace_id=rec.trace_id, id=span_id_for_int(rec.run), parent_id=parent,
                name=fit(name, _SL["name"]), kind=chain_kind(rec.serialized, name, rec.metadata),
                started_at=_ts(run_start), ended_at=_ts(run_end),
                duration_ms=_duration(run_start, run_end), status=error_status(error),
                error=None if error is None else clean(error_text(error)),
                input=clean(rec.inputs), output=clean(rec.outputs),
                attributes=None if error is None else self._clean_attrs(error_attributes(error)),
            )  # fmt: skip
        if isinstance(rec, SpanRecord):
            start, end = rec.start_ns, rec.end_ns
            attrs = rec.attributes
            if self.user_ids is not None and attrs and "user.id" in attrs:
                attrs = {**attrs, "user.id": self._user(attrs["user.id"])}
            return "span", SpanRow(
                trace_id=rec.trace_id, id=rec.span_id, parent_id=rec.parent_id,
                name=fit(rec.name, _SL["name"]), kind=rec.kind,
                started_at=_ts(start), ended_at=_ts(end), duration_ms=_duration(start, end),
                status=rec.status, error=clean(rec.error),
                input=clean(rec.input), output=clean(rec.output),
                attributes=self._clean_attrs(attrs),
            )  # fmt: skip
        if isinstance(rec, TraceRecord):
            start, end = rec.start_ns, rec.end_ns
            return "trace", TraceRow(
                id=rec.id, name=fit(rec.name, _TL["name"]),
                session_id=fit_id(rec.session_id, _TL["session_id"]),
                user_id=fit_id(self._user(rec.user_id), _TL["user_id"]),
                release_id=rec.release_id,
                model=fit(rec.model, _TL["model"]), status=rec.status,
                started_at=_ts(start), ended_at=_ts(end), latency_ms=_duration(start, end),
                ttft_ms=rec.ttft_ms, input_tokens=rec.input_tokens,
                output_tokens=rec.output_tokens, cost=rec.cost, input=clean(rec.input),
                output=clean(rec.output), error=clean(rec.error),
                tags=None if rec.tags is None else sanitize_json(
                    json.dumps([clean(str(t)) for t in rec.tags], ensure_ascii=False)
                ),
                attributes=self._clean_attrs(rec.attributes),
            )  # fmt: skip
        if isinstance(rec, GapRecord):
            return "gap", GapRow(
                trace_id=rec.trace_id, at=_ts(rec.at_ns), reason=rec.reason, thumbs_down=False,
                release_id=rec.release_id, lang=rec.lang, question=clean(rec.question) or "",
                top_score=rec.top_score, cluster_id=None,
            )  # fmt: skip
        if not isinstance(rec, GuardEventRecord):
            raise TypeError(f"not a record the writer stores: {type(rec).__name__}")
        return "event", EventRow(
            trace_id=rec.trace_id, span_id=rec.span_id,
            validator=rec.validator,
            direction=rec.direction, action=rec.action,
            message=clean(rec.message) or "", excerpt=clean(rec.excerpt),
            release_id=rec.release_id, created_at=_ts(rec.at_ns),
            event_id=rec.event_id,
        )  # fmt: skip

    def _render(self, batch: Iterable[Record]) -> Rows:
        rows = _empty()
        redacted = self._redacted
        try:
            for rec in batch:
                trace_id = rec.trace_id if not isinstance(rec, TraceRecord) else rec.id
                self._known = redacted.setdefault(trace_id, {})
                try:
                    kind, row = self._render_one(rec)
                    rows[kind].append(row)
                except Exception as exc:  # noqa: BLE001 - one record never stops the batch
                    self._quarantine_unrenderable(rec, exc)
        finally:
            self._known = None
            redacted.clear()
        return rows

    # -- storing ----------------------------------------------------------------------------
    def _sql(self, kind: str) -> str:
        """INSERT for the driver's own executemany (SQLAlchemy's per-row processing is the
        bottleneck at these rates); existing rows are skipped so a replay is harmless."""
        sql = self._sql_cache.get(kind)
        if sql is None:
            cols = COLUMNS[kind]
            mark = sql_mark(self.db.dialect)
            sql = (
                f"INSERT INTO {TABLES[kind]} ({', '.join(cols)}) "
                f"VALUES ({', '.join([mark] * len(cols))}) ON CONFLICT DO NOTHING"
            )
            self._sql_cache[kind] = sql
        return sql

    def _insert(self, conn: Connection, kind: str, rows: list[Row]) -> None:
        """On SQLite, a batch of a table in a few multi-row ``INSERT ... VALUES (...), (...)``
        statements (chunks of 256, 64, 16, 4 and 1 rows, so a handful of statement shapes
        are prepared and cached). ``executemany`` steps once a row, and each step releases
        and retakes the GIL; while the chat keeps the other thread busy, every retake waits
        up to the switch interval (5 ms), so a 500-row batch took seconds (the convoy of
        docs/benchmarks.md). A statement steps once. Other backends: ``executemany``."""
        if self.db.dialect != "sqlite":
            conn.exec_driver_sql(self._sql(kind), [tuple(r) for r in rows])
            return
        width = len(COLUMNS[kind])
        pos, total = 0, len(rows)
        for size in _CHUNKS:
            if size * width > _SQLITE_MAX_VARS:
                continue
            while total - pos >= size:
                chunk = rows[pos : pos + size]
                conn.exec_driver_sql(
                    self._values_sql(kind, size), tuple(itertools.chain.from_iterable(chunk))
                )
                pos += size

    def _values_sql(self, kind: str, rows: int) -> str:
        key = f"{kind}:{rows}"
        sql = self._sql_cache.get(key)
        if sql is None:
            cols = COLUMNS[kind]
            one = f"({', '.join(['?'] * len(cols))})"
            sql = (
                f"INSERT INTO {TABLES[kind]} ({', '.join(cols)}) "
                f"VALUES {', '.join([one] * rows)} ON CONFLICT DO NOTHING"
            )
            self._sql_cache[key] = sql
        return sql

    def _write(self, rows: Rows) -> None:
        self.write_rows(rows)
        self.last_write_ns = time.time_ns()
        if self.exporter is not None:  # stored, redacted rows only; O(1), never raises
            self.exporter.enqueue(rows)

    def write_rows(self, rows: Rows) -> None:
        """Insert rendered rows in one transaction, together with what the batch hooks add
        (``llmops.tracing.hooks``: the monitoring rollups, each new trace priced from the
        price table). Demo seeding calls this too, so seeded history takes the same path as
        live traffic."""
        dialect = self.db.dialect
        hooks = batch_hooks() if self.maintain_rollups else []
        with self.db.engine.begin() as conn:
            pending = [hook(conn, dialect, rows, COLUMNS["trace"]) for hook in hooks]
            for kind in KINDS:
                if rows.get(kind):
                    self._insert(conn, kind, rows[kind])
            for after in pending:
                if after is not None:
                    after.apply(conn, dialect)

    def _store_or_spool(self, rows: Rows) -> None:
        if not _count(rows):
            return
        if self._healthy:
            try:
                self._store(rows, "writer")
                return
            except _StoreDown as down:
                self._mark_down(down.cause)
                rows = down.rest
        self._spool_or_hold(rows)

    def _store(self, rows: Rows, source: str) -> None:
        """Store ``rows``; a record the store rejects is quarantined and the rest stored.

        Raises ``_StoreDown`` (with what is not stored yet) when the store is unavailable.
        """
        try:
            self._write(rows)
            self.written += _count(rows)
            return
        except Exception as exc:
            if unavailable(exc):
                raise _StoreDown(exc, rows) from exc
            log.warning(
                "span writer: the store rejected a batch (%s); isolating the bad record",
                _reason(exc),
            )
            first: BaseException = exc
        # Split until each rejected record is alone: the rest is stored in a few transactions.
        items = [(k, r) for k in KINDS for r in rows.get(k) or []]
        if len(items) == 1:
            self._quarantine(items[0], first, source)
            return
        stack = [items[len(items) // 2 :], items[: len(items) // 2]]
        while stack:
            items = stack.pop()
            try:
                self._write(_group(items))
                self.written += len(items)
                continue
            except Exception as exc:
                if unavailable(exc):
                    rest = [item for group in stack for item in group] + items
                    raise _StoreDown(exc, _group(rest)) from exc
                if len(items) == 1:
                    self._quarantine(items[0], exc, source)
                    continue
            mid = len(items) // 2
            stack.extend((items[mid:], items[:mid]))

    def _quarantine(self, item: tuple[str, Row], exc: BaseException, source: str) -> None:
        kind, row = item
        record = dict(zip(COLUMNS[kind], row, strict=False))
        self._put_quarantine(kind, record.get("trace_id") or record.get("id"), record, exc, source)

    def _quarantine_unrenderable(self, rec: Record, exc: BaseException) -> None:
        """A record that cannot even be rendered: its content cannot be redacted, so only
        what identifies it is kept."""
        log.exception("span writer: could not render a %s record", type(rec).__name__)
        ident = {
            "type": type(rec).__name__,
            "trace_id": getattr(rec, "trace_id", None) or getattr(rec, "id", None),
            "name": str(getattr(rec, "name", "") or "")[:200],
        }
        try:
            self._put_quarantine("unrenderable", ident["trace_id"], ident, exc, "render")
        except _StoreDown:
            self._lose("dropped", 1, f"unrenderable record: {type(exc).__name__}: {exc}")

    def _put_quarantine(
        self, kind: str, trace_id: Any, record: dict[str, Any], exc: BaseException, source: str
    ) -> None:
        error = fit(_reason(exc), 2000)
        values = {
            "kind": kind,
            "trace_id": fit(str(trace_id), 32) if trace_id else None,
            "record": json.dumps(record, ensure_ascii=True, default=str),
            "error": error or "",
            "source": source,
        }
        try:
            with self.db.engine.begin() as conn:
                conn.execute(insert(Quarantine).values(**values))
        except Exception as qexc:
            if unavailable(qexc) and kind in KINDS:
                raise _StoreDown(qexc, _group([(kind, tuple(record.values()))])) from qexc
            self._lose("dropped", 1, f"could not quarantine a {kind} record: {qexc}")
            return
        self.quarantined += 1
        log.warning("span writer: quarantined a %s record of trace %s: %s", kind, trace_id, error)

    def _mark_down(self, exc: BaseException) -> None:
        if self._healthy:
            log.warning(
                "span writer: store unavailable, spooling to %s (%s)", self.spool_dir, _reason(exc)
            )
        self._healthy = False
        self._retry_at = time.monotonic() + self.retry_interval_s

    # -- spool and in-memory hold -----------------------------------------------------------
    def _spool_or_hold(self, rows: Rows) -> None:
        count = _count(rows)
        if not count:
            return
        try:
            self._spool(rows)
            self.spooled += count
            return
        except Exception as exc:  # noqa: BLE001 - disk full, read-only, gone: keep in memory
            if self._held_n + count <= self.hold_max:
                if not self._held:
                    log.error(
                        "span writer: cannot spool to %s (%s); holding records in memory",
                        self.spool_dir,
                        exc,
                    )
                self._held.append(rows)
                self._held_n += count
                return
            self._lose("dropped", count, f"store and spool unavailable, memory full: {exc}")

    def _spool_remaining(self) -> None:
        """At close: what is still queued or held goes to the spool, not to the store."""
        while True:
            batch: list[Record] = []
            try:
                while len(batch) < self.batch_size:
                    batch.append(self._queue.popleft())
            except IndexError:
                pass
            if not batch:
                break
            self._spool_or_hold(self._render(batch))
        held, self._held = self._held, deque()
        self._held_n = 0
        for rows in held:
            self._spool_or_hold(rows)

    def _release_held(self) -> None:
        """Try the held batches again: into the store if it answers, else into the spool."""
        while self._held:
            rows = self._held.popleft()
            self._held_n -= _count(rows)
            before = self._held_n
            self._store_or_spool(rows)
            if self._held_n > before:  # still nowhere to put it: try again later
                self._retry_at = time.monotonic() + self.retry_interval_s
                return

    def _spool(self, rows: Rows, name: str | None = None) -> None:
        """Write ``rows`` to a new spool file (or atomically replace the file ``name``)."""
        self.spool_dir.mkdir(parents=True, exist_ok=True)
        name = name or f"{time.time_ns():020d}-{os.getpid()}-{next(self._seq):06d}.jsonl"
        tmp = self.spool_dir / (name + ".tmp")
        try:
            with tmp.open("wb") as fh:
                fh.write(orjson.dumps({"v": SPOOL_VERSION, "columns": COLUMNS}) + b"\n")
                for kind in KINDS:
                    for r in rows.get(kind) or []:
                        fh.write(orjson.dumps({"t": kind, "r": list(r)}) + b"\n")
                fh.flush()
                os.fsync(fh.fileno())
            tmp.replace(self.spool_dir / name)
        except BaseException:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise

    def _replay_spool(self) -> None:
        try:
            with _replay_lock(self.spool_dir) as mine:
                if mine:
                    self._replay_files()
                else:
                    self._healthy = True  # another process replays; our writes go direct
        except OSError:
            log.exception("span writer: cannot open the spool directory %s", self.spool_dir)
            self._healthy = True
        finally:
            self._replay_attempts += 1

    def _replay_files(self) -> None:
        for path in self._replayable():
            try:
                rows, bad = _read_spool(path)
            except FileNotFoundError:
                continue  # replayed and removed meanwhile
            except OSError:
                log.exception("span writer: unreadable spool file %s, kept aside", path)
                with contextlib.suppress(OSError):
                    path.rename(path.with_name(path.name + ".bad"))
                continue
            try:
                self._store(rows, "replay")
                for line, err in bad:
                    self._put_quarantine("spool", None, {"line": line[:20_000]}, err, "replay")
            except _StoreDown as down:
                self._mark_down(down.cause)
                if _count(down.rest) < _count(rows):  # keep only what is not stored yet
                    with contextlib.suppress(OSError):
                        self._spool(down.rest, name=path.name.removesuffix(".tmp"))
                        if path.name.endswith(".tmp"):
                            path.unlink(missing_ok=True)
                return
            path.unlink(missing_ok=True)
        if not self._healthy:
            log.info("span writer: store is back, spool replayed")
        self._healthy = True

    def _replayable(self) -> list[Path]:
        """Spool files, plus the complete lines of files a killed process was writing."""
        files = self.spool_files()
        for tmp in self.spool_dir.glob("*.jsonl.tmp"):
            try:
                pid = int(tmp.name.split("-")[1])
            except (IndexError, ValueError):
                continue
            if pid != os.getpid() and not _pid_alive(pid):
                files.append(tmp)
        return sorted(files)

    # -- losses ----------------------------------------------------------------------------
    def _lose(self, kind: str, count: int, reason: str) -> None:
        with self._loss_lock:
            self.dropped += count
            self._losses[kind] += count
        log.error("span writer: %s %d records: %s", kind, count, reason)

    def _report_losses(self) -> None:
        """Write refused/dropped counts to ``tracing_incidents`` (loudly, once each)."""
        if not (self._losses["refused"] or self._losses["dropped"]):
            return
        with self._loss_lock:
            losses, self._losses = self._losses, {"refused": 0, "dropped": 0}
        if losses["refused"]:
            log.error(
                "span writer: the queue was full (%d records); refused %d records",
                self.queue_max,
                losses["refused"],
            )
        try:
            with self.db.engine.begin() as conn:
                for kind, n in losses.items():
                    if n:
                        conn.execute(
                            insert(TracingIncident).values(
                                kind=kind,
                                records=n,
                                process=_PROCESS,
                                reason="queue full"
                                if kind == "refused"
                                else "store, spool and memory buffer unavailable",
                            )
                        )
        except Exception:  # noqa: BLE001 - report later
            with self._loss_lock:
                for kind, n in losses.items():
                    self._losses[kind] += n


class _SwitchInterval:
    """The interpreter's switch interval, shortened while any writer's redaction process
    runs and restored when the last one stops.

    With redaction in its process, the writer's thread blocks ~20 times a batch (each SQLite
    statement, the pipe) and each time must take the interpreter lock back from the threads
    producing the records; a thread that keeps the lock is asked to drop it only after the
    switch interval (5 ms by default), so the waits, not the work, set the writer's pace
    (docs/benchmarks.md: 6,900 spans a second stored at 5 ms, 17,700 at 1 ms). Only under
    the sustained load that starts the process; another value set meanwhile is left alone."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._holders = 0
        self._saved: float | None = None
        self._set: float | None = None

    def hold(self, interval: float) -> None:
        with self._lock:
            self._holders += 1
            current = sys.getswitchinterval()
            if self._holders == 1 and interval < current:
                self._saved, self._set = current, interval
                sys.setswitchinterval(interval)

    def release(self) -> None:
        with self._lock:
            self._holders = max(0, self._holders - 1)
            if self._holders == 0 and self._saved is not None:
                if self._set is not None and abs(sys.getswitchinterval() - self._set) < 1e-9:
                    sys.setswitchinterval(self._saved)
                self._saved = self._set = None


_SWITCH = _SwitchInterval()
_BEHIND_BATCHES = 3  # "auto": batches in a row taken with a batch's worth still queued
_END = object()


@dataclass(frozen=True, slots=True)
class _Handed:
    """A batch whose redaction jobs went to the redaction process (``seq``; None when the
    sending failed and this thread answers them)."""

    records: list[Record]
    jobs: list[Job]
    counts: list[int]  # jobs a record, in order
    redact: Redactor  # the writer's (fail-closed) redactor, for answering here
    seq: int | None


def _group(items: Iterable[tuple[str, Row]]) -> Rows:
    rows = _empty()
    for kind, row in items:
        rows[kind].append(row)
    return rows


def _read_spool(path: Path) -> tuple[Rows, list[tuple[str, BaseException]]]:
    """A spool file's rows (mapped by column name to today's columns) and its bad lines.

    A file a killed process was writing may end in a partial line: it is ignored."""
    rows = _empty()
    bad: list[tuple[str, BaseException]] = []
    columns: dict[str, list[str]] = {}
    raw = path.read_bytes()
    lines = raw.split(b"\n")
    if path.name.endswith(".tmp") and not raw.endswith(b"\n"):
        lines = lines[:-1]
    for line in lines:
        if not line.strip():
            continue
        try:
            item = orjson.loads(line)
            if "columns" in item:
                columns = item["columns"]
                continue
            kind, row = item["t"], item["r"]
            stored = columns.get(kind)
            if stored is not None and list(stored) != list(COLUMNS[kind]):
                values = dict(zip(stored, row, strict=False))
                row = [values.get(c) for c in COLUMNS[kind]]
            elif len(row) < len(COLUMNS[kind]):  # a spool from before a column was added
                row = list(row) + [None] * (len(COLUMNS[kind]) - len(row))
            rows[kind].append(row)
        except (ValueError, KeyError, TypeError) as exc:
            bad.append((sanitize(line.decode("utf-8", "replace")), exc))
    return rows, bad
