"""Every trace closes: a chat stream closed or dropped mid-answer ends as ``cancelled``."""

from __future__ import annotations

import gc
from typing import Any

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage

from llmops.chat import ChatService
from llmops.config import Settings
from llmops.guards.runner import GuardRunner
from llmops.releases import ReleaseConfig
from llmops.store.db import Database
from llmops.store.queries import get_trace
from llmops.tracing import SpanWriter, Tracer

ANSWER = (
    "LLMOps is the practice of running LLM applications. It covers deployment. "
    "It covers monitoring. It covers evaluation and tuning."
)


def _chat(settings: Settings, db: Database, kb: Any, writer: SpanWriter) -> ChatService:
    def factory(cfg: ReleaseConfig) -> Any:  # a model that streams word by word
        return GenericFakeChatModel(messages=iter([AIMessage(content=ANSWER)]))

    return ChatService(
        settings, db, kb, Tracer(writer), guards=GuardRunner(), model_factory=factory
    )


def _stored(db: Database, writer: SpanWriter, trace_id: str) -> Any:
    assert writer.flush()
    return get_trace(db, trace_id)


def test_closing_the_stream_after_the_first_chunk_keeps_the_trace(
    settings: Settings, db: Database, kb: Any, writer: SpanWriter
) -> None:
    stream = _chat(settings, db, kb, writer).respond("What is LLMOps?", session_id="s1")
    first = next(stream)
    stream.close()
    turn = stream.turn
    assert turn is not None and turn.status == "cancelled"
    detail = _stored(db, writer, turn.trace_id)
    assert detail.trace["status"] == "cancelled"
    assert detail.trace["output"] == first and detail.trace["session_id"] == "s1"
    assert detail.trace["latency_ms"] is not None
    names = {s["name"]: s for s in detail.spans}
    assert names["chat"]["status"] == "cancelled"
    assert {"validate:input", "guard:input", "KnowledgeRetriever"} <= set(names)
    model = next(s for s in detail.spans if s["kind"] == "llm")
    assert model["status"] == "cancelled" and model["ended_at"] is not None
    ids = {s["id"] for s in detail.spans}
    assert all(s["parent_id"] in ids for s in detail.spans if s["parent_id"] is not None)


def test_a_stream_dropped_without_closing_is_cancelled_when_collected(
    settings: Settings, db: Database, kb: Any, writer: SpanWriter
) -> None:
    """What Streamlit does on a rerun or Stop: the script stops reading and drops the stream."""
    stream = _chat(settings, db, kb, writer).respond("What is LLMOps?")
    next(stream)
    trace_id = stream.turn.trace_id if stream.turn else ""
    del stream
    gc.collect()
    assert _stored(db, writer, trace_id).trace["status"] == "cancelled"


def test_closing_a_finished_stream_changes_nothing(
    settings: Settings, db: Database, kb: Any, writer: SpanWriter
) -> None:
    stream = _chat(settings, db, kb, writer).respond("What is LLMOps?")
    text = "".join(stream)
    stream.close()
    assert stream.turn is not None and stream.turn.status == "ok"
    detail = _stored(db, writer, stream.turn.trace_id)
    assert detail.trace["status"] == "ok" and detail.trace["output"] == text.strip()


@pytest.mark.parametrize("after", [0, 3])
def test_interrupting_the_local_model_closes_the_trace(
    chat_service: ChatService, db: Database, writer: SpanWriter, after: int
) -> None:
    stream = chat_service.respond("How do canary releases work?")
    for _ in range(after + 1):
        next(stream)
    stream.close()
    assert stream.turn is not None
    assert _stored(db, writer, stream.turn.trace_id).trace["status"] == "cancelled"
