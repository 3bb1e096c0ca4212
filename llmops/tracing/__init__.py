"""Tracing: LangChain runs → spans → a batching writer → the store (or the spool).

The names below are imported on first use, so importing one light module of the package
(``llmops.tracing.records``, ``ids``, ``runs``) does not load LangChain and SQLAlchemy.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from llmops.tracing.handler import TracingCallbackHandler
    from llmops.tracing.records import SpanRecord, TraceRecord
    from llmops.tracing.tracer import NullSink, SpanHandle, TraceContext, Tracer
    from llmops.tracing.writer import SpanWriter

_EXPORTS = {
    "NullSink": "llmops.tracing.tracer",
    "SpanHandle": "llmops.tracing.tracer",
    "SpanRecord": "llmops.tracing.records",
    "SpanWriter": "llmops.tracing.writer",
    "TraceContext": "llmops.tracing.tracer",
    "TraceRecord": "llmops.tracing.records",
    "Tracer": "llmops.tracing.tracer",
    "TracingCallbackHandler": "llmops.tracing.handler",
}

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


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'llmops.tracing' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
