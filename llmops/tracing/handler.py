"""A LangChain callback handler that turns every run into a span.

Chains, prompts, parsers, retrievers, chat models, LLMs, tools, agents and LangGraph graphs
and nodes all become spans with trace/parent ids, kind (``llmops.tracing.runs``), timing,
status and OpenTelemetry GenAI attributes. Every callback is guarded: tracing logs its own
failures and never raises into the chain.

Unbound (``Tracer.handler()``), each top-level run is a trace of its own, and the run's
config names its trace: ``tags`` become the trace's tags, ``metadata`` its ``metadata``
attribute, and ``session_id`` / ``thread_id`` / ``user_id`` in the metadata its session and
user (the writer hashes the user as for chat turns, and redacts the rest).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler

from llmops.tracing.ids import new_trace_id, span_id_for_int, span_id_for_run
from llmops.tracing.records import Record, RunRecord, SpanRecord, TraceRecord
from llmops.tracing.runs import (
    chain_kind,
    error_attributes,
    error_status,
    error_text,
    run_name,
    session_and_user,
    user_metadata,
)

if TYPE_CHECKING:
    from langchain_core.documents import Document
    from langchain_core.messages import BaseMessage
    from langchain_core.outputs import LLMResult

__all__ = ["Sink", "TracingCallbackHandler", "error_status"]

log = logging.getLogger(__name__)

Sink = Callable[[Record], None]


@dataclass(slots=True)
class _TraceUsage:
    """What the model runs of one trace used (an unbound handler serves many traces)."""

    input_tokens: int = 0
    output_tokens: int = 0
    model: str | None = None


class TracingCallbackHandler(BaseCallbackHandler):
    """Maps LangChain runs to spans and hands each finished span to ``sink``.

    Bound to a trace (``trace_id`` and ``root_span_id``), top-level runs become children of
    that root span. Unbound, each top-level run starts a trace of its own and also produces
    its trace row.
    """

    run_inline = True
    raise_error = False

    def __init__(
        self,
        sink: Sink,
        *,
        trace_id: str | None = None,
        root_span_id: str | None = None,
    ) -> None:
        self.sink = sink
        self.trace_id = trace_id
        self.root_span_id = root_span_id
        # run id (as int) → a SpanRecord (models, retrievers, tools) or a RunRecord (chains)
        self._runs: dict[int, SpanRecord | RunRecord] = {}
        # top-level runs of an unbound handler: their config's (metadata, tags)
        self._roots: dict[int, tuple[dict[str, Any] | None, list[str] | None]] = {}
        # unbound: tokens and last model per trace, so one handler can serve many traces
        self._usage: dict[str, _TraceUsage] = {}
        self.input_tokens = 0
        self.output_tokens = 0
        self.first_token_ns: int | None = None
        self.models: list[str] = []

    # -- bookkeeping ------------------------------------------------------------------------
    def _start(
        self,
        run_id: UUID,
        parent_run_id: UUID | None,
        name: str,
        kind: str,
        inputs: object,
        attributes: dict[str, Any] | None = None,
        kwargs: dict[str, Any] | None = None,
    ) -> None:
        kwargs = kwargs or {}
        parent = self._runs.get(parent_run_id.int) if parent_run_id is not None else None
        parent_id: str | None
        if parent is not None and parent_run_id is not None:
            trace_id = parent.trace_id
            parent_id = span_id_for_int(parent_run_id.int)
        elif self.trace_id is not None:
            trace_id, parent_id = self.trace_id, self.root_span_id
        else:
            trace_id, parent_id = new_trace_id(), None
            self._roots[run_id.int] = (kwargs.get("metadata"), kwargs.get("tags"))
        self._runs[run_id.int] = SpanRecord(
            trace_id=trace_id,
            span_id=span_id_for_run(run_id),
            parent_id=parent_id,
            name=name,
            kind=kind,
            start_ns=time.time_ns(),
            input=inputs,
            attributes=attributes or {},
        )

    def _end(
        self,
        run_id: UUID,
        output: object = None,
        error: BaseException | None = None,
        attributes: dict[str, Any] | None = None,
    ) -> None:
        span = self._runs.pop(run_id.int, None)
        if not isinstance(span, SpanRecord):
            return
        span.end_ns = time.time_ns()
        span.output = output
        if error is not None:
            span.status = error_status(error)
            span.error = error_text(error)
            span.attributes.update(error_attributes(error) or {})
        if attributes:
            span.attributes.update(attributes)
        if span.parent_id is None and self.trace_id is None:
            metadata, tags = self._roots.pop(run_id.int, (None, None))
            usage = self._usage.pop(span.trace_id, None) or _TraceUsage()
            session_id, user_id = session_and_user(metadata)
            kept = user_metadata(metadata)
            if session_id:
                span.attributes["session.id"] = session_id
            if user_id:
                span.attributes["user.id"] = user_id
            self.sink(span)
            self.sink(
                TraceRecord(
                    id=span.trace_id,
                    name=span.name,
                    start_ns=span.start_ns,
                    end_ns=span.end_ns,
                    session_id=session_id,
                    user_id=user_id,
                    status=span.status,
                    input=span.input,
                    output=span.output,
                    error=span.error,
                    input_tokens=usage.input_tokens,
                    output_tokens=usage.output_tokens,
                    model=usage.model,
                    tags=list(tags) if tags else None,
                    attributes={"metadata": kept} if kept else {},
                )
            )
            return
        self.sink(span)

    def _guard(self, fn: Callable[[], None]) -> None:
        try:
            fn()
        except Exception:
            log.exception("tracing callback failed")

    # -- chains, prompts, parsers -----------------------------------------------------------
    # Chains are most of a trace's runs. Their callbacks only timestamp and queue: the span
    # (name, kind, ids, rendering) is built in the writer's thread from the RunRecord, which
    # is made when the run starts and handed on as it is when it ends.
    def on_chain_start(
        self,
        serialized: dict[str, Any] | None,
        inputs: object,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        try:
            runs = self._runs
            parent = runs.get(parent_run_id.int) if parent_run_id is not None else None
            if parent is not None and parent_run_id is not None:
                trace_id = parent.trace_id
                parent_int: int | None = parent_run_id.int
            else:
                trace_id, parent_int = self.trace_id or new_trace_id(), None
            runs[run_id.int] = RunRecord(
                trace_id, run_id.int, parent_int, self.root_span_id, serialized,
                kwargs.get("name"), time.time_ns(), 0, inputs, None, None,
                kwargs.get("metadata"), kwargs.get("tags"),
            )  # fmt: skip
        except Exception:
            log.exception("tracing callback failed")

    def _end_chain(self, run_id: UUID, outputs: object, error: BaseException | None) -> None:
        try:
            run = self._runs.pop(run_id.int, None)
            if not isinstance(run, RunRecord):
                return
            run.end_ns = time.time_ns()
            run.outputs = outputs
            run.error = error
            if run.parent is None and self.trace_id is None:
                self._end_unbound_chain(run_id, run)
                return
            self.sink(run)
        except Exception:
            log.exception("tracing callback failed")

    def _end_unbound_chain(self, run_id: UUID, run: RunRecord) -> None:
        """A top-level chain of an unbound handler: its span and its trace row, at once."""
        name = run.name or run_name(run.serialized, {}, "chain")
        self._runs[run_id.int] = SpanRecord(
            trace_id=run.trace_id,
            span_id=span_id_for_run(run_id),
            parent_id=None,
            name=name,
            kind=chain_kind(run.serialized, name, run.metadata),
            start_ns=run.start_ns,
            input=run.inputs,
        )
        self._roots[run_id.int] = (run.metadata, run.tags)
        self._end(run_id, run.outputs, error=run.error)

    def on_chain_end(self, outputs: object, *, run_id: UUID, **kwargs: Any) -> None:
        self._end_chain(run_id, outputs, None)

    def on_chain_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self._end_chain(run_id, None, error)

    # -- models -----------------------------------------------------------------------------
    def _model_attrs(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        meta = kwargs.get("metadata") or {}
        params = kwargs.get("invocation_params") or {}
        model = (
            meta.get("ls_model_name")
            or params.get("model")
            or params.get("model_name")
            or params.get("_type")
        )
        attrs: dict[str, Any] = {"gen_ai.operation.name": "chat"}
        if model:
            attrs["gen_ai.request.model"] = str(model)
        if meta.get("ls_provider"):
            attrs["gen_ai.provider.name"] = meta["ls_provider"]
        if meta.get("ls_temperature") is not None:
            attrs["gen_ai.request.temperature"] = meta["ls_temperature"]
        if meta.get("ls_max_tokens") is not None:
            attrs["gen_ai.request.max_tokens"] = meta["ls_max_tokens"]
        return attrs

    def on_chat_model_start(
        self,
        serialized: dict[str, Any] | None,
        messages: list[list[BaseMessage]],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        try:
            name = run_name(serialized, kwargs, "chat_model")
            inputs = messages[0] if len(messages) == 1 else messages
            self._start(
                run_id, parent_run_id, name, "llm", inputs, self._model_attrs(kwargs), kwargs
            )
        except Exception:
            log.exception("tracing callback failed")

    def on_llm_start(
        self,
        serialized: dict[str, Any] | None,
        prompts: list[str],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        def go() -> None:
            name = run_name(serialized, kwargs, "llm")
            attrs = self._model_attrs(kwargs)
            attrs["gen_ai.operation.name"] = "text_completion"
            inputs = prompts[0] if len(prompts) == 1 else prompts
            self._start(run_id, parent_run_id, name, "llm", inputs, attrs, kwargs)

        self._guard(go)

    def on_llm_new_token(  # type: ignore[override]
        self, token: Any, *, run_id: UUID, **kwargs: Any
    ) -> None:
        span = self._runs.get(run_id.int)
        if (
            isinstance(span, SpanRecord)
            and "llmops.first_token_ns" not in span.attributes
            and token
        ):
            now = time.time_ns()
            span.attributes["llmops.first_token_ns"] = now
            span.attributes["gen_ai.response.time_to_first_token_ms"] = round(
                (now - span.start_ns) / 1e6, 3
            )
            if self.first_token_ns is None:
                self.first_token_ns = now

    def on_llm_end(self, response: LLMResult, *, run_id: UUID, **kwargs: Any) -> None:
        try:
            self._llm_end(run_id, response)
        except Exception:
            log.exception("tracing callback failed")

    def _llm_end(self, run_id: UUID, response: LLMResult) -> None:
        attrs: dict[str, Any] = {}
        output: object = None
        generations = getattr(response, "generations", None) or []
        first = generations[0][0] if generations and generations[0] else None
        if first is not None:
            message = getattr(first, "message", None)
            output = message if message is not None else getattr(first, "text", None)
            usage = getattr(message, "usage_metadata", None) if message is not None else None
            meta = getattr(message, "response_metadata", None) or {}
            if meta.get("model_name") or meta.get("model"):
                attrs["gen_ai.response.model"] = meta.get("model_name") or meta.get("model")
            finish = meta.get("finish_reason") or meta.get("stop_reason")
            if finish:
                attrs["gen_ai.response.finish_reasons"] = [str(finish)]
            if usage:
                attrs["gen_ai.usage.input_tokens"] = int(usage.get("input_tokens", 0))
                attrs["gen_ai.usage.output_tokens"] = int(usage.get("output_tokens", 0))
        if "gen_ai.usage.input_tokens" not in attrs:
            token_usage = (getattr(response, "llm_output", None) or {}).get("token_usage")
            if token_usage:
                attrs["gen_ai.usage.input_tokens"] = int(token_usage.get("prompt_tokens", 0))
                attrs["gen_ai.usage.output_tokens"] = int(token_usage.get("completion_tokens", 0))
        input_tokens = attrs.get("gen_ai.usage.input_tokens", 0)
        output_tokens = attrs.get("gen_ai.usage.output_tokens", 0)
        self.input_tokens += input_tokens
        self.output_tokens += output_tokens
        span = self._runs.get(run_id.int)
        if isinstance(span, SpanRecord):
            model = attrs.get("gen_ai.response.model") or span.attributes.get(
                "gen_ai.request.model"
            )
            if self.trace_id is None:  # unbound: counted for this run's own trace
                trace_usage = self._usage.get(span.trace_id)
                if trace_usage is None:
                    trace_usage = self._usage[span.trace_id] = _TraceUsage()
                trace_usage.input_tokens += input_tokens
                trace_usage.output_tokens += output_tokens
                if model:
                    trace_usage.model = str(model)
            elif model:
                self.models.append(str(model))
        self._end(run_id, output, attributes=attrs)

    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        def go() -> None:
            attrs: dict[str, Any] = {}
            status = getattr(error, "status_code", None)
            if status is not None:
                attrs["http.response.status_code"] = status
            self._end(run_id, error=error, attributes=attrs)

        self._guard(go)

    # -- retrievers -------------------------------------------------------------------------
    def on_retriever_start(
        self,
        serialized: dict[str, Any] | None,
        query: str,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        def go() -> None:
            name = run_name(serialized, kwargs, "retriever")
            self._start(run_id, parent_run_id, name, "retriever", query, None, kwargs)

        self._guard(go)

    def on_retriever_end(
        self, documents: Sequence[Document], *, run_id: UUID, **kwargs: Any
    ) -> None:
        def go() -> None:
            docs = [
                {
                    "id": d.metadata.get("chunk_id") or getattr(d, "id", None),
                    "source": d.metadata.get("source"),
                    "score": d.metadata.get("score"),
                }
                for d in documents
            ]
            self._end(
                run_id,
                documents,
                attributes={"retrieval.documents": docs, "retrieval.count": len(docs)},
            )

        self._guard(go)

    def on_retriever_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self._guard(lambda: self._end(run_id, error=error))

    # -- tools ------------------------------------------------------------------------------
    def on_tool_start(
        self,
        serialized: dict[str, Any] | None,
        input_str: str,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        def go() -> None:
            name = run_name(serialized, kwargs, "tool")
            attrs = {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": name}
            if kwargs.get("tool_call_id"):
                attrs["gen_ai.tool.call.id"] = kwargs["tool_call_id"]
            if serialized and serialized.get("description"):
                attrs["gen_ai.tool.description"] = serialized["description"]
            inputs = kwargs.get("inputs")  # the tool's arguments, when it was called with a dict
            self._start(
                run_id, parent_run_id, name, "tool", input_str if inputs is None else inputs,
                attrs, kwargs,
            )  # fmt: skip

        self._guard(go)

    def on_tool_end(self, output: object, *, run_id: UUID, **kwargs: Any) -> None:
        self._guard(lambda: self._end(run_id, output))

    def on_tool_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self._guard(lambda: self._end(run_id, error=error))
