"""OpenTelemetry export: every stored trace also goes to an OTLP/HTTP collector.

Switched on by ``LLMOPS_OTLP_ENDPOINT`` (docs/tracing-export.md). The span writer hands each
batch it has *stored* to ``OTLPExport.enqueue`` — the rows exactly as the store has them,
after redaction and user-id hashing, so nothing reaches a collector that the store would not
keep. The chat thread never sees the exporter.

- **Off the hot path**: ``enqueue`` is O(1) on the writer's thread; an exporter thread turns
  rows into OpenTelemetry spans and sends them with the SDK's ``OTLPSpanExporter`` (protobuf
  over HTTP, ``OTEL_EXPORTER_OTLP_HEADERS`` / ``_TRACES_HEADERS``, timeout, compression and
  TLS variables honoured; it retries 429/502/503/504 and connection errors with backoff).
- **Bounded**: at most ``LLMOPS_OTLP_QUEUE_MAX`` spans wait; beyond it, and for batches the
  collector still refuses after the retries, spans are dropped, counted, logged and written
  to ``tracing_incidents`` as ``otlp_dropped`` (``llmops db doctor`` shows them). The store
  keeps everything either way.
- **Same ids** (``llmops.tracing.otlp_spans`` turns rows into spans): the W3C trace id and span ids are the console's, parents intact, start and
  end times from the store (microseconds), GenAI semantic-convention attributes as the
  tracer recorded them (``gen_ai.operation.name``, ``gen_ai.request.model``,
  ``gen_ai.usage.input_tokens``, ...), plus ``input.value`` / ``output.value`` (read by
  Phoenix and Langfuse), ``openinference.span.kind``, ``session.id``, ``user.id`` and
  ``llmops.traffic.kind`` (live, eval, playground, redteam) on the root span.

No global tracer provider is installed and ``OTEL_SDK_DISABLED`` is not needed or read:
guardrails-ai's own telemetry stays off (``llmops/guards/setup.py``) while this works.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from sqlalchemy import insert

from llmops.store.models import TracingIncident
from llmops.tracing.otlp_spans import SpanBuilder
from llmops.types import JSONDict

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan

    from llmops.config import Settings
    from llmops.store.db import Database

log = logging.getLogger(__name__)

TRACES_PATH = "/v1/traces"
INCIDENT_KIND = "otlp_dropped"
_PROCESS = f"{socket.gethostname()}:{os.getpid()}"


def traces_url(endpoint: str) -> str:
    """The OTLP/HTTP traces URL for ``endpoint``: a collector's base URL gets ``/v1/traces``
    appended (as ``OTEL_EXPORTER_OTLP_ENDPOINT`` does); a URL already ending in it is kept."""
    url = endpoint.strip()
    if urlsplit(url).path.rstrip("/").endswith(TRACES_PATH):
        return url
    return url.rstrip("/") + TRACES_PATH


def masked_url(url: str | None) -> str | None:
    """``url`` without the password of its user-info part (for reports and pages)."""
    if not url:
        return url
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def header_names() -> list[str]:
    """The names (never the values) of the OTLP headers the SDK will send."""
    raw = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_HEADERS") or os.environ.get(
        "OTEL_EXPORTER_OTLP_HEADERS", ""
    )
    return sorted({p.split("=", 1)[0].strip() for p in raw.split(",") if "=" in p})


@dataclass
class ExportStats:
    """What this process's exporter did since it started."""

    endpoint: str
    exported: int
    dropped: int
    failed_batches: int
    queued: int
    last_export_at: str | None
    last_error: str | None
    healthy: bool

    def as_dict(self) -> JSONDict:
        return asdict(self)


class OTLPExport:
    """A bounded queue of stored batches and a thread that exports them over OTLP/HTTP."""

    def __init__(
        self,
        endpoint: str,
        *,
        columns: dict[str, tuple[str, ...]],
        db: Database | None = None,
        timeout_s: float = 10.0,
        queue_max: int = 20_000,
        batch_max: int = 512,
        retry_interval_s: float = 2.0,
        service_name: str | None = "llmops",
        start: bool = True,
    ) -> None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        self.endpoint = traces_url(endpoint)
        self.db = db
        self.queue_max = queue_max
        self.batch_max = batch_max
        self.retry_interval_s = retry_interval_s
        self.builder = SpanBuilder(columns, service_name)
        # headers=None: the SDK reads OTEL_EXPORTER_OTLP_TRACES_HEADERS / _HEADERS itself
        self._exporter = OTLPSpanExporter(endpoint=self.endpoint, timeout=timeout_s)
        self._queue: deque[tuple[int, dict[str, list[Any]]]] = deque()
        self._lock = threading.Lock()
        self._queued = 0
        self._busy = False
        self._closed = False
        self._counts = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._unreported = 0
        self._dropped_logged = 0.0
        self.exported = 0
        self.dropped = 0
        self.failed_batches = 0
        self.last_export_at: datetime | None = None
        self.last_error: str | None = None
        self._thread = threading.Thread(target=self._loop, name="llmops-otlp-export", daemon=True)
        if start:
            self._thread.start()

    # -- called by the span writer's thread, after a batch is stored ------------------------
    def enqueue(self, rows: dict[str, list[Any]]) -> None:
        """Queue a stored batch; O(1), never raises, never blocks on the network."""
        try:
            n = len(rows.get("span") or ())
            if not n:
                return
            with self._lock:
                if self._queued + n > self.queue_max:
                    self._drop(n, "the export queue is full")
                    return
                self._queued += n
                self._queue.append((n, rows))
            self._wake.set()
        except Exception:
            log.exception("otlp export: could not queue a batch")

    # -- control ------------------------------------------------------------------------------
    def stats(self) -> ExportStats:
        return ExportStats(
            endpoint=masked_url(self.endpoint) or "",
            exported=self.exported,
            dropped=self.dropped,
            failed_batches=self.failed_batches,
            queued=self._queued,
            last_export_at=self.last_export_at.isoformat(timespec="seconds")
            if self.last_export_at
            else None,
            last_error=self.last_error,
            healthy=self.last_error is None,
        )

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every queued batch was sent (or given up on)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self._thread.is_alive():
                self._drain()
            if not self._queue and not self._busy:
                return True
            self._wake.set()
            time.sleep(0.005)
        return False

    def close(self, timeout: float = 10.0) -> None:
        """Send what is queued (within ``timeout``), then stop; what is left is dropped and
        counted. A collector that is down does not hold the process: its retries are cut
        short once ``timeout`` has passed."""
        flushed = False
        try:
            flushed = self.flush(timeout)
        finally:
            self._stop.set()
            self._wake.set()
            if not flushed:
                self._shutdown()  # aborts the SDK's retry backoff
            if self._thread.is_alive() and threading.current_thread() is not self._thread:
                self._thread.join(min(timeout, 2.0))
            with self._lock:
                left = self._queued
                self._queue.clear()
                self._queued = 0
            if left:
                self._drop(left, "the process stopped before they were sent")
            self._report()
            self._shutdown()

    def _shutdown(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self._exporter.shutdown()
        except Exception:
            log.debug("otlp export: shutdown failed", exc_info=True)

    # -- exporter thread ----------------------------------------------------------------------
    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(1.0)
            self._wake.clear()
            try:
                self._drain()
            except Exception:
                log.exception("otlp export: unexpected error")

    def _drain(self) -> None:
        self._busy = True
        try:
            while self._queue and not self._stop.is_set():
                taken: list[dict[str, list[Any]]] = []
                count = 0
                with self._lock:
                    while self._queue and (
                        not taken or count + self._queue[0][0] <= self.batch_max
                    ):
                        n, rows = self._queue.popleft()
                        taken.append(rows)
                        count += n
                    self._queued -= count
                spans = [s for r in taken for s in self.builder.build(r)]
                if len(spans) < count:
                    self._drop(count - len(spans), "spans that could not be converted")
                if not self._send(spans, len(spans)):
                    # the collector is down: give it a moment before the next batch
                    self._stop.wait(self.retry_interval_s)
            self._report()
        finally:
            self._busy = False

    def _send(self, spans: Sequence[ReadableSpan], count: int) -> bool:
        from opentelemetry.sdk.trace.export import SpanExportResult

        try:
            result = self._exporter.export(spans) if spans else SpanExportResult.SUCCESS
            why = "the collector did not take the batch (after retries)"
        except Exception as exc:  # noqa: BLE001 - an exporter bug is a failed export
            result, why = SpanExportResult.FAILURE, f"{type(exc).__name__}: {exc}"
        if result is SpanExportResult.SUCCESS:
            self.exported += len(spans)
            self.last_export_at = datetime.now(UTC)
            self.last_error = None
            return True
        self.failed_batches += 1
        self.last_error = f"{datetime.now(UTC).isoformat(timespec='seconds')}: {why}"
        self._drop(count, f"export to {masked_url(self.endpoint)} failed: {why}")
        return False

    def _drop(self, n: int, reason: str) -> None:
        with self._counts:  # the writer's thread (queue full) and ours (export failed)
            self.dropped += n
            self._unreported += n
        now = time.monotonic()
        if now - self._dropped_logged > 10:
            self._dropped_logged = now
            log.error("otlp export: dropped %d spans (%d in all): %s", n, self.dropped, reason)

    def _report(self) -> None:
        """Write drops to ``tracing_incidents`` (``llmops db doctor``); kept for later if the
        store does not answer."""
        if not self._unreported or self.db is None:
            return
        with self._counts:
            n, self._unreported = self._unreported, 0
        try:
            with self.db.engine.begin() as conn:
                conn.execute(
                    insert(TracingIncident).values(
                        kind=INCIDENT_KIND,
                        records=n,
                        process=_PROCESS,
                        reason=f"spans not exported to {masked_url(self.endpoint)}",
                    )
                )
        except Exception:  # noqa: BLE001 - the next round reports them
            with self._counts:
                self._unreported += n


def from_settings(settings: Settings, db: Database | None = None) -> OTLPExport | None:
    """The exporter ``LLMOPS_OTLP_ENDPOINT`` asks for, or None (also when it cannot start:
    tracing to the store goes on regardless)."""
    if not settings.otlp_endpoint:
        return None
    from llmops.tracing.writer import COLUMNS

    try:
        return OTLPExport(
            settings.otlp_endpoint,
            columns=COLUMNS,
            db=db,
            timeout_s=settings.otlp_timeout_s,
            queue_max=settings.otlp_queue_max,
            batch_max=settings.otlp_batch_max,
            service_name=settings.otlp_service_name,
        )
    except Exception:
        log.exception("otlp export: could not start; traces are stored but not exported")
        return None
