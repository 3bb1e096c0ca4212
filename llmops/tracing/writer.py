"""The batching span writer: never blocks the chat, never loses a span.

The hot path only appends a record to an in-process deque (tens of nanoseconds, no lock).
A daemon thread drains it in batches, renders and redacts the records, and inserts each batch
in one transaction. If the store is unavailable the rendered batch is spooled to a JSONL file
under ``$LLMOPS_HOME/spool`` and replayed, oldest first, once the store answers again.
Inserts ignore rows that already exist, so a replay after an ambiguous failure is harmless.
"""

from __future__ import annotations

import atexit
import itertools
import json
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from llmops.monitoring import rollups
from llmops.store.db import Database
from llmops.tracing.handler import _chain_kind, _error_text, _name
from llmops.tracing.ids import span_id_for_int
from llmops.tracing.records import GuardEventRecord, Record, RunRecord, SpanRecord, TraceRecord
from llmops.tracing.render import MAX_TEXT, to_jsonable, to_text

log = logging.getLogger(__name__)

Redactor = Callable[[str], str]
Row = tuple[Any, ...] | list[Any]


_EPOCH = datetime(1970, 1, 1)
_TABLES: dict[str, tuple[str, tuple[str, ...]]] = {
    "trace": (
        "traces",
        (
            "id",
            "name",
            "session_id",
            "user_id",
            "release_id",
            "model",
            "status",
            "started_at",
            "ended_at",
            "latency_ms",
            "ttft_ms",
            "input_tokens",
            "output_tokens",
            "cost",
            "input",
            "output",
            "error",
            "tags",
            "attributes",
        ),
    ),
    "span": (
        "spans",
        (
            "trace_id",
            "id",
            "parent_id",
            "name",
            "kind",
            "started_at",
            "ended_at",
            "duration_ms",
            "status",
            "error",
            "input",
            "output",
            "attributes",
        ),
    ),
    "event": (
        "guard_events",
        (
            "trace_id",
            "span_id",
            "validator",
            "direction",
            "action",
            "message",
            "excerpt",
            "release_id",
            "created_at",
        ),
    ),
}


_last_second: tuple[int, str] = (-1, "")


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


def _redact_strings(value: Any, redact: Redactor, depth: int = 0) -> Any:
    """``value`` with every string inside it redacted (containers rebuilt, numbers kept)."""
    if isinstance(value, str):
        return redact(value)
    if depth > 6 or isinstance(value, bool | int | float) or value is None:
        return value
    if isinstance(value, dict):
        return {k: _redact_strings(v, redact, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_strings(v, redact, depth + 1) for v in value]
    return redact(to_text(value) or "")


def _json_default(obj: Any) -> Any:
    value = to_jsonable(obj)
    return value if not isinstance(value, type(obj)) else repr(obj)[:500]


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
        start: bool = True,
        maintain_rollups: bool = True,
    ) -> None:
        self.db = db
        self.maintain_rollups = maintain_rollups  # False only to measure what they cost
        self.spool_dir = Path(spool_dir)
        self.batch_size = batch_size
        self.flush_interval_s = flush_interval_s
        self.retry_interval_s = retry_interval_s
        self.redact = redact
        self._queue: deque[Record] = deque()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._busy = False
        self._healthy = True
        self._retry_at = 0.0
        self._seq = itertools.count()
        self._replay_attempts = 0
        self._sql_cache: dict[str, str] = {}
        self.written = 0
        self.spooled = 0
        self.dropped = 0
        self._thread = threading.Thread(target=self._loop, name="llmops-span-writer", daemon=True)
        if start:
            self._thread.start()
            atexit.register(self.close)

    # -- hot path ---------------------------------------------------------------------------
    def submit(self, record: Record) -> None:
        """Queue a record; O(1), lock-free, never raises."""
        self._queue.append(record)

    # -- control ----------------------------------------------------------------------------
    @property
    def healthy(self) -> bool:
        return self._healthy

    def pending(self) -> int:
        return len(self._queue) + (1 if self._busy else 0)

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
        self._retry_at = 0.0
        while time.monotonic() < deadline:
            if not self._healthy and self._replay_attempts <= attempts:
                self._retry_at = 0.0
            if not self._thread.is_alive():
                self._drain_once()
            self._wake.set()
            if not self._queue and not self._busy:
                if self._healthy and not self.spool_files():
                    return True
                if not self._healthy and self._replay_attempts > attempts:
                    return True  # tried the store again; it is still down, records are spooled
            time.sleep(0.002)
        return False

    def close(self, timeout: float = 10.0) -> None:
        """Flush and stop the thread (at exit and in tests)."""
        try:
            self.flush(timeout)
        finally:
            self._stop.set()
            self._wake.set()
            if self._thread.is_alive() and threading.current_thread() is not self._thread:
                self._thread.join(timeout)

    # -- background thread ------------------------------------------------------------------
    def _loop(self) -> None:
        self._replay_spool()
        while not self._stop.is_set():
            self._wake.wait(self.flush_interval_s)
            self._wake.clear()
            try:
                self._drain_once()
            except Exception:
                log.exception("span writer: unexpected error")
        self._drain_once()

    def _drain_once(self) -> None:
        if not self._healthy and time.monotonic() >= self._retry_at:
            self._replay_spool()
        while self._queue:
            self._busy = True
            try:
                batch: list[Record] = []
                while self._queue and len(batch) < self.batch_size:
                    batch.append(self._queue.popleft())
                self._store_or_spool(self._render(batch))
            finally:
                self._busy = False

    # -- rendering (off the hot path) -------------------------------------------------------
    def _clean(self, value: Any) -> str | None:
        if value is None:
            return None
        # the common case (a short string) without a call
        fast = type(value) is str and len(value) <= MAX_TEXT
        text = value if fast else to_text(value) or ""
        return self.redact(text) if self.redact is not None else text

    def _clean_attrs(self, attrs: dict[str, Any] | None) -> str | None:
        """Attributes as a JSON document (one C-level dump; objects fall back to repr).

        Redaction applies to the string values only: the numbers (timestamps, token counts,
        scores) are ours, and scanning them for phone or card numbers is most of the cost.
        """
        if not attrs:
            return None
        if self.redact is not None:
            attrs = _redact_strings(attrs, self.redact)
        try:
            return orjson.dumps(attrs, default=_json_default).decode()
        except (TypeError, ValueError):
            return json.dumps(to_jsonable(attrs), ensure_ascii=False, default=str)

    def _render_one(self, rec: Record) -> tuple[str, Row]:
        """One record as the values of its table's columns, in ``_TABLES`` order.

        Timestamps are UTC text, which SQLite stores as is and PostgreSQL parses, so a row
        is final here and a spooled row replays unchanged.
        """
        clean = self._clean
        if isinstance(rec, RunRecord):
            run_start, run_end = rec.start_ns, rec.end_ns
            name = rec.name or _name(rec.serialized, {}, "chain")
            parent = span_id_for_int(rec.parent) if rec.parent is not None else rec.root_span_id
            error = rec.error
            return "span", (
                rec.trace_id, span_id_for_int(rec.run), parent, name[:200],
                _chain_kind(rec.serialized, name), _ts(run_start), _ts(run_end), _duration(run_start, run_end),
                "ok" if error is None else "error",
                None if error is None else clean(_error_text(error)),
                clean(rec.inputs), clean(rec.outputs),
                None if error is None else self._clean_attrs({"error.type": type(error).__name__}),
            )  # fmt: skip
        if isinstance(rec, SpanRecord):
            start, end = rec.start_ns, rec.end_ns
            return "span", (
                rec.trace_id, rec.span_id, rec.parent_id, rec.name[:200], rec.kind,
                _ts(start), _ts(end), _duration(start, end), rec.status, clean(rec.error),
                clean(rec.input), clean(rec.output), self._clean_attrs(rec.attributes),
            )  # fmt: skip
        if isinstance(rec, TraceRecord):
            start, end = rec.start_ns, rec.end_ns
            return "trace", (
                rec.id, rec.name[:200], rec.session_id, rec.user_id, rec.release_id, rec.model,
                rec.status, _ts(start), _ts(end), _duration(start, end), rec.ttft_ms,
                rec.input_tokens, rec.output_tokens, rec.cost, clean(rec.input),
                clean(rec.output), clean(rec.error),
                json.dumps(rec.tags) if rec.tags is not None else None,
                self._clean_attrs(rec.attributes),
            )  # fmt: skip
        assert isinstance(rec, GuardEventRecord)
        return "event", (
            rec.trace_id, rec.span_id, rec.validator, rec.direction, rec.action,
            clean(rec.message) or "", clean(rec.excerpt), rec.release_id, _ts(rec.at_ns),
        )  # fmt: skip

    def _render(self, batch: Iterable[Record]) -> dict[str, list[Row]]:
        rows: dict[str, list[Row]] = {"trace": [], "span": [], "event": []}
        for rec in batch:
            try:
                kind, row = self._render_one(rec)
                rows[kind].append(row)
            except Exception:
                self.dropped += 1
                log.exception("span writer: could not render a record")
        return rows

    # -- storing ----------------------------------------------------------------------------
    def _sql(self, kind: str) -> str:
        """INSERT for the driver's own executemany (SQLAlchemy's per-row processing is the
        bottleneck at these rates); existing rows are skipped so a replay is harmless."""
        sql = self._sql_cache.get(kind)
        if sql is None:
            table, cols = _TABLES[kind]
            mark = "?" if self.db.dialect == "sqlite" else "%s"
            sql = (
                f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join([mark] * len(cols))})"
            )
            if kind != "event":
                sql += " ON CONFLICT DO NOTHING"
            self._sql_cache[kind] = sql
        return sql

    def _write(self, rows: dict[str, list[Row]]) -> None:
        self.write_rows(rows)

    def write_rows(self, rows: dict[str, list[Row]]) -> None:
        """Insert rendered rows in one transaction, together with what they add to the
        monitoring rollups and with each new trace priced from the price table
        (``llmops.monitoring.rollups``). Demo seeding calls this too, so seeded history
        takes the same path as live traffic."""
        dialect = self.db.dialect
        with self.db.engine.begin() as conn:
            pending = (
                rollups.prepare(conn, dialect, rows, _TABLES["trace"][1])
                if self.maintain_rollups
                else None
            )
            for kind in ("trace", "span", "event"):
                if rows.get(kind):
                    conn.exec_driver_sql(self._sql(kind), [tuple(r) for r in rows[kind]])
            if pending is not None:
                pending.apply(conn, dialect)

    def _store_or_spool(self, rows: dict[str, list[Row]]) -> None:
        count = sum(len(v) for v in rows.values())
        if not count:
            return
        if self._healthy:
            try:
                self._write(rows)
                self.written += count
                return
            except Exception as exc:  # noqa: BLE001 - any store failure means: spool
                self._mark_down(exc)
        self._spool(rows, count)

    def _mark_down(self, exc: BaseException) -> None:
        if self._healthy:
            reason = getattr(exc, "orig", None) or exc
            log.warning(
                "span writer: store unavailable, spooling to %s (%s)", self.spool_dir, reason
            )
        self._healthy = False
        self._retry_at = time.monotonic() + self.retry_interval_s

    def _spool(self, rows: dict[str, list[Row]], count: int) -> None:
        try:
            self.spool_dir.mkdir(parents=True, exist_ok=True)
            name = f"{time.time_ns():020d}-{os.getpid()}-{next(self._seq):06d}.jsonl"
            tmp = self.spool_dir / (name + ".tmp")
            with tmp.open("w", encoding="utf-8") as fh:
                for kind, items in rows.items():
                    for r in items:
                        fh.write(json.dumps({"t": kind, "r": r}, ensure_ascii=False) + "\n")
            tmp.replace(self.spool_dir / name)
            self.spooled += count
        except Exception:
            self.dropped += count
            log.exception("span writer: could not spool %d records", count)

    def _replay_spool(self) -> None:
        try:
            self._replay_files()
        finally:
            self._replay_attempts += 1

    def _replay_files(self) -> None:
        for path in self.spool_files():
            rows: dict[str, list[Row]] = {"trace": [], "span": [], "event": []}
            try:
                for line in path.read_text(encoding="utf-8").splitlines():
                    if line.strip():
                        item = json.loads(line)
                        rows[item["t"]].append(item["r"])
            except (OSError, ValueError, KeyError):
                log.exception("span writer: unreadable spool file %s, kept aside", path)
                path.rename(path.with_suffix(".bad"))
                continue
            try:
                self._write(rows)
            except Exception as exc:  # noqa: BLE001 - still down: keep the spool
                self._mark_down(exc)
                return
            self.written += sum(len(v) for v in rows.values())
            path.unlink(missing_ok=True)
        if not self._healthy:
            log.info("span writer: store is back, spool replayed")
        self._healthy = True
