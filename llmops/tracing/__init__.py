"""Tracing: LangChain runs → spans → a batching writer → the store (or the spool)."""

from llmops.tracing.handler import TracingCallbackHandler
from llmops.tracing.records import SpanRecord, TraceRecord
from llmops.tracing.tracer import NullSink, SpanHandle, TraceContext, Tracer
from llmops.tracing.writer import SpanWriter

__all__ = [
    "NullSink",
    "SpanHandle",
    "SpanRecord",
    "SpanWriter",
    "TraceContext",
    "TraceRecord",
    "Tracer",
    "TracingCallbackHandler",
]
