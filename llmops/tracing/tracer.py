"""Traces of chat turns: a root span, manual child spans, and a bound LangChain handler.

Every public method here swallows its own failures (logged): a broken tracer degrades to
"not traced", never to "no answer".
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol, TypedDict, Unpack

from llmops.tracing.handler import TracingCallbackHandler
from llmops.tracing.ids import new_span_id, new_trace_id
from llmops.tracing.records import Record, SpanRecord, TraceRecord

log = logging.getLogger(__name__)


class RecordSink(Protocol):
    def submit(self, record: Record) -> None: ...

    def flush(self, timeout: float = 10.0) -> bool: ...


class NullSink:
    """Used when the writer cannot start: tracing becomes a no-op."""

    def submit(self, record: Record) -> None:
        return None

    def flush(self, timeout: float = 10.0) -> bool:
        return True


class SpanHandle:
    """A manual span being recorded (guards, custom steps)."""

    def __init__(self, record: SpanRecord) -> None:
        self.record = record

    @property
    def span_id(self) -> str:
        return self.record.span_id

    def set_output(self, output: object) -> None:
        self.record.output = output

    def set_attribute(self, key: str, value: object) -> None:
        self.record.attributes[key] = value

    def set_status(self, status: str, error: str | None = None) -> None:
        self.record.status = status
        if error is not None:
            self.record.error = error


class TraceOptions(TypedDict, total=False):
    """``TraceContext``'s keyword arguments (``Tracer.start_trace`` passes them on)."""

    input: object
    session_id: str | None
    user_id: str | None
    release_id: str | None
    tags: list[str] | None
    attributes: dict[str, Any] | None


class TraceContext:
    """One trace in progress: the root span plus everything recorded under it."""

    def __init__(
        self,
        sink: RecordSink,
        name: str,
        *,
        input: object = None,
        session_id: str | None = None,
        user_id: str | None = None,
        release_id: str | None = None,
        tags: list[str] | None = None,
        attributes: dict[str, Any] | None = None,
    ) -> None:
        self.sink = sink
        self.trace_id = new_trace_id()
        attrs: dict[str, Any] = dict(attributes or {})
        if session_id:
            attrs["session.id"] = session_id
        if user_id:
            attrs["user.id"] = user_id
        if release_id:
            attrs["llmops.release.id"] = release_id
        self.root = SpanRecord(
            trace_id=self.trace_id,
            span_id=new_span_id(),
            parent_id=None,
            name=name,
            kind="chain",
            start_ns=time.time_ns(),
            input=input,
            attributes=attrs,
        )
        self.trace = TraceRecord(
            id=self.trace_id,
            name=name,
            start_ns=self.root.start_ns,
            session_id=session_id,
            user_id=user_id,
            release_id=release_id,
            input=input,
            tags=tags,
            attributes=dict(attributes or {}),
        )
        self.handler = TracingCallbackHandler(
            self._submit, trace_id=self.trace_id, root_span_id=self.root.span_id
        )
        self._finished = False

    def _submit(self, record: Record) -> None:
        try:
            self.sink.submit(record)
        except Exception:
            log.exception("tracing: could not queue a record")

    def record(self, record: Record) -> None:
        """Queue another record that belongs to this trace (e.g. a guard event)."""
        self._submit(record)

    @contextmanager
    def span(
        self,
        name: str,
        kind: str,
        *,
        input: object = None,
        attributes: dict[str, Any] | None = None,
    ) -> Iterator[SpanHandle]:
        """Record a manual child span of the root; exceptions are recorded and re-raised."""
        record = SpanRecord(
            trace_id=self.trace_id,
            span_id=new_span_id(),
            parent_id=self.root.span_id,
            name=name,
            kind=kind,
            start_ns=time.time_ns(),
            input=input,
            attributes=dict(attributes or {}),
        )
        handle = SpanHandle(record)
        try:
            yield handle
        except BaseException as exc:
            record.status = "error"
            record.error = f"{type(exc).__name__}: {exc}"
            raise
        finally:
            record.end_ns = time.time_ns()
            self._submit(record)

    def finish(
        self,
        *,
        output: object = None,
        status: str = "ok",
        error: str | None = None,
        model: str | None = None,
        cost: float = 0.0,
        attributes: dict[str, Any] | None = None,
    ) -> None:
        """End the root span and emit the trace row (once)."""
        if self._finished:
            return
        self._finished = True
        try:
            end = time.time_ns()
            h = self.handler
            self.root.end_ns = end
            self.root.output = output
            self.root.status = status
            self.root.error = error
            if attributes:
                self.root.attributes.update(attributes)
            t = self.trace
            t.end_ns = end
            t.output = output
            t.status = status
            t.error = error
            t.model = model or (h.models[-1] if h.models else None)
            t.input_tokens = h.input_tokens
            t.output_tokens = h.output_tokens
            t.cost = cost
            if h.first_token_ns is not None:
                t.ttft_ms = round((h.first_token_ns - t.start_ns) / 1e6, 3)
            t.attributes = {**t.attributes, **(attributes or {})}
            self.root.attributes["gen_ai.usage.input_tokens"] = h.input_tokens
            self.root.attributes["gen_ai.usage.output_tokens"] = h.output_tokens
            self._submit(t)
            self._submit(self.root)
        except Exception:
            log.exception("tracing: could not finish trace %s", self.trace_id)


class Tracer:
    """Starts traces and owns the sink (normally the batching ``SpanWriter``)."""

    def __init__(self, sink: RecordSink | None = None) -> None:
        self.sink: RecordSink = sink or NullSink()

    def start_trace(self, name: str = "chat", **kwargs: Unpack[TraceOptions]) -> TraceContext:
        return TraceContext(self.sink, name, **kwargs)

    def handler(self) -> TracingCallbackHandler:
        """An unbound handler: each top-level run becomes its own trace."""
        return TracingCallbackHandler(self.sink.submit)

    def flush(self, timeout: float = 10.0) -> bool:
        try:
            return self.sink.flush(timeout)
        except Exception:
            log.exception("tracing: flush failed")
            return False
