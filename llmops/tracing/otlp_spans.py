"""Stored rows -> OpenTelemetry SDK spans (``llmops.tracing.otlp`` sends them).

Rows are in the span writer's column order, exactly as stored (redacted, user ids hashed).
Ids, parents and times are the store's; attributes are the stored ones (GenAI semantic
conventions) plus ``input.value`` / ``output.value``, ``openinference.span.kind`` and, on a
root span, what its trace row adds (session, user, model, tokens, cost, traffic kind).
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import orjson

from llmops.store.models import traffic_kind
from llmops.types import JSONDict

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan

log = logging.getLogger(__name__)

_EPOCH = datetime(1970, 1, 1)
_US = timedelta(microseconds=1)
_PROCESS = f"{socket.gethostname()}:{os.getpid()}"

# our span kinds -> OpenInference span kinds (Phoenix colours and filters by these)
_OPENINFERENCE = {
    "chain": "CHAIN",
    "llm": "LLM",
    "retriever": "RETRIEVER",
    "embedding": "EMBEDDING",
    "tool": "TOOL",
    "guard": "GUARDRAIL",
    "evaluator": "EVALUATOR",
    "parser": "CHAIN",
    "prompt": "CHAIN",
}


def _ns(value: object) -> int | None:
    """Epoch nanoseconds of a stored timestamp (naive UTC text or a datetime)."""
    if value is None:
        return None
    dt = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    if dt.tzinfo is not None:
        dt = dt.astimezone(UTC).replace(tzinfo=None)
    return ((dt - _EPOCH) // _US) * 1000


def _attr_value(value: object) -> Any:
    """An OpenTelemetry attribute value: primitives and homogeneous lists of them as they
    are, anything else as JSON text; None is left out."""
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, list | tuple) and value:
        first = type(value[0])
        if first in (str, bool, int, float) and all(type(v) is first for v in value):
            return list(value)
    return orjson.dumps(value, default=str).decode()


def _attributes(attrs: Mapping[str, object]) -> dict[str, Any]:
    out = {k: _attr_value(v) for k, v in attrs.items()}
    return {k: v for k, v in out.items() if v is not None}


def _json(doc: JSONDict | str | bytes | None) -> JSONDict:
    if not doc:
        return {}
    if isinstance(doc, dict):
        return doc
    try:
        value = orjson.loads(doc)
    except (orjson.JSONDecodeError, TypeError):
        return {}
    return value if isinstance(value, dict) else {}


class SpanBuilder:
    """Stored rows (``SpanWriter`` column order) -> SDK ``ReadableSpan`` objects."""

    def __init__(self, columns: dict[str, tuple[str, ...]], service_name: str | None) -> None:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.util.instrumentation import InstrumentationScope

        from llmops import __version__

        self.columns = columns
        attrs: dict[str, Any] = {"service.instance.id": _PROCESS}
        if service_name and not os.environ.get("OTEL_SERVICE_NAME"):
            attrs["service.name"] = service_name
        # OTEL_RESOURCE_ATTRIBUTES / OTEL_SERVICE_NAME are merged in by Resource.create
        self.resource = Resource.create(attrs)
        self.scope = InstrumentationScope("llmops", __version__)

    def build(self, rows: dict[str, list[Any]]) -> list[ReadableSpan]:
        from opentelemetry import trace as api
        from opentelemetry.sdk.trace import Event, ReadableSpan
        from opentelemetry.trace import Status, StatusCode

        sc, tc, ec = (
            {n: i for i, n in enumerate(self.columns[k])} for k in ("span", "trace", "event")
        )
        traces = {r[tc["id"]]: r for r in rows.get("trace") or []}
        events: dict[str, list[Any]] = {}
        for e in rows.get("event") or []:
            if e[ec["span_id"]]:
                events.setdefault(e[ec["span_id"]], []).append(e)
        flags = api.TraceFlags(api.TraceFlags.SAMPLED)
        out: list[ReadableSpan] = []
        for r in rows.get("span") or []:
            try:
                trace_id = int(r[sc["trace_id"]], 16)
                span_id_hex = r[sc["id"]]
                context = api.SpanContext(trace_id, int(span_id_hex, 16), False, flags)
                parent_hex = r[sc["parent_id"]]
                parent = (
                    api.SpanContext(trace_id, int(parent_hex, 16), False, flags)
                    if parent_hex
                    else None
                )
                kind, status = r[sc["kind"]], r[sc["status"]]
                attrs: dict[str, Any] = {
                    "llmops.span.kind": kind,
                    "llmops.status": status,
                    "openinference.span.kind": _OPENINFERENCE.get(kind, "CHAIN"),
                }
                if kind == "embedding":
                    attrs["gen_ai.operation.name"] = "embeddings"
                attrs.update(_json(r[sc["attributes"]]))
                for col, key in (("input", "input.value"), ("output", "output.value")):
                    if r[sc[col]] is not None:
                        attrs[key] = r[sc[col]]
                if parent is None:
                    self._root(attrs, traces.get(r[sc["trace_id"]]), tc)
                error = r[sc["error"]]
                if status == "error":
                    otel_status = Status(StatusCode.ERROR, error)
                elif status == "ok":
                    otel_status = Status(StatusCode.OK)
                else:  # cancelled, blocked, invalid_input: not an error, kept as llmops.status
                    otel_status = Status(StatusCode.UNSET)
                if error is not None:
                    attrs["error.message"] = error
                start = _ns(r[sc["started_at"]])
                span_events = [
                    Event(
                        "llmops.guard." + str(e[ec["action"]]),
                        {
                            "llmops.guard.validator": e[ec["validator"]],
                            "llmops.guard.direction": e[ec["direction"]],
                            "llmops.guard.action": e[ec["action"]],
                            "llmops.guard.message": e[ec["message"]],
                        },
                        _ns(e[ec["created_at"]]),
                    )
                    for e in events.get(span_id_hex, ())
                ]
                out.append(
                    ReadableSpan(
                        name=r[sc["name"]],
                        context=context,
                        parent=parent,
                        resource=self.resource,
                        attributes=_attributes(attrs),
                        events=span_events,
                        kind=api.SpanKind.CLIENT if kind == "llm" else api.SpanKind.INTERNAL,
                        status=otel_status,
                        start_time=start,
                        end_time=_ns(r[sc["ended_at"]]) or start,
                        instrumentation_scope=self.scope,
                    )
                )
            except Exception:
                log.warning("otlp export: skipped a span it could not convert", exc_info=True)
        return out

    @staticmethod
    def _root(attrs: dict[str, Any], trace: Any, tc: dict[str, int]) -> None:
        """What the trace row adds to its root span (when stored in the same batch)."""
        session = attrs.get("session.id")
        if trace is not None:
            session = trace[tc["session_id"]] or session
            if session:
                attrs["session.id"] = session
            if trace[tc["user_id"]]:
                attrs["user.id"] = trace[tc["user_id"]]
            model = trace[tc["model"]]
            if model:
                attrs.setdefault("gen_ai.request.model", model)
            attrs["gen_ai.usage.input_tokens"] = trace[tc["input_tokens"]]
            attrs["gen_ai.usage.output_tokens"] = trace[tc["output_tokens"]]
            attrs["llmops.cost"] = trace[tc["cost"]]
            attrs["llmops.ttft_ms"] = trace[tc["ttft_ms"]]
            attrs["llmops.trace.status"] = trace[tc["status"]]
            tags = trace[tc["tags"]]
            if tags:
                attrs["llmops.tags"] = tags if isinstance(tags, list) else orjson.loads(tags)
        if session:
            attrs["gen_ai.conversation.id"] = session
        attrs["llmops.traffic.kind"] = traffic_kind(session)
