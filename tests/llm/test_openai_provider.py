"""The remote-provider path for real: langchain-openai through our factory, against a server on
127.0.0.1 that speaks the OpenAI protocol; the trace records model, tokens and errors."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from llmops.chat import MESSAGES, ChatService
from llmops.config import Settings
from llmops.llm.providers import build_chat_model
from llmops.rag.knowledge import KnowledgeBase
from llmops.releases import ModelConfig, ReleaseConfig, create_release
from llmops.store.db import Database
from llmops.store.queries import get_trace
from llmops.tracing import SpanWriter, Tracer

from .openai_server import ANSWER, USAGE, OpenAIServer


@pytest.fixture
def server() -> Iterator[OpenAIServer]:
    with OpenAIServer() as srv:
        yield srv


@pytest.fixture
def model_config(server: OpenAIServer) -> ModelConfig:
    return ModelConfig(
        provider="openai-compatible",
        name="test-model",
        base_url=server.base_url,
        max_retries=0,
        timeout_s=5,
        price_input_per_mtok=1.0,
        price_output_per_mtok=2.0,
    )


@pytest.fixture
def small_kb(settings: Settings, db: Database, embeddings: Any, tmp_path: Path) -> KnowledgeBase:
    folder = tmp_path / "kb" / "en"
    folder.mkdir(parents=True)
    (folder / "llmops.md").write_text(
        "# LLMOps\n\nLLMOps is the practice of operating LLM applications in production.\n"
    )
    kb = KnowledgeBase(settings, db, embeddings)
    kb.ingest([folder.parent])
    return kb


@pytest.fixture
def remote_chat(
    settings: Settings,
    db: Database,
    small_kb: KnowledgeBase,
    writer: SpanWriter,
    model_config: ModelConfig,
) -> tuple[ChatService, str]:
    release = create_release(db, ReleaseConfig(model=model_config), name="remote")
    return ChatService(settings, db, small_kb, Tracer(writer)), release.id


def test_factory_builds_a_working_openai_model(
    model_config: ModelConfig, server: OpenAIServer
) -> None:
    model = build_chat_model(model_config)
    reply = model.invoke("hello")
    assert reply.content == ANSWER
    assert reply.usage_metadata is not None
    assert reply.usage_metadata["input_tokens"] == USAGE["prompt_tokens"]
    chunks = list(model.stream("hello"))
    assert "".join(str(c.content) for c in chunks).strip() == ANSWER
    usage = [c.usage_metadata for c in chunks if c.usage_metadata]
    assert usage and usage[-1]["output_tokens"] == USAGE["completion_tokens"]
    assert server.requests[-1]["body"]["model"] == "test-model"
    assert server.requests[-1]["body"]["stream_options"] == {"include_usage": True}


def test_chat_turn_through_a_remote_model_is_streamed_and_traced(
    remote_chat: tuple[ChatService, str], server: OpenAIServer, db: Database, writer: SpanWriter
) -> None:
    chat, release_id = remote_chat
    stream = chat.respond("What is LLMOps?", release_id=release_id, session_id="s")
    chunks = list(stream)
    turn = stream.turn
    assert turn is not None and turn.status == "ok"
    assert len(chunks) > 3 and turn.answer == ANSWER
    assert [c.source for c in turn.citations] == ["en/llmops.md"]
    sent = server.requests[-1]["body"]
    prompt = " ".join(m["content"] for m in sent["messages"])
    assert "What is LLMOps?" in prompt and "operating LLM applications" in prompt

    writer.flush()
    detail = get_trace(db, turn.trace_id)
    trace = detail.trace
    assert trace["model"] == "test-model"
    assert (trace["input_tokens"], trace["output_tokens"]) == (
        USAGE["prompt_tokens"],
        USAGE["completion_tokens"],
    )
    assert trace["cost"] == pytest.approx((123 * 1.0 + 17 * 2.0) / 1e6)
    llm = next(s for s in detail.spans if s["kind"] == "llm")
    assert llm["attributes"]["gen_ai.request.model"] == "test-model"
    assert llm["attributes"]["gen_ai.provider.name"] == "openai"
    assert llm["attributes"]["gen_ai.usage.input_tokens"] == USAGE["prompt_tokens"]
    assert llm["attributes"]["gen_ai.usage.output_tokens"] == USAGE["completion_tokens"]
    by_id = {s["id"]: s for s in detail.spans}
    node = llm
    while node["parent_id"] is not None:
        node = by_id[node["parent_id"]]
    assert node["name"] == "chat"


@pytest.mark.parametrize(
    ("mode", "kind", "status"), [("429", "rate_limited", 429), ("500", "provider_error", 500)]
)
def test_provider_errors_get_a_friendly_reply_and_an_error_trace(
    remote_chat: tuple[ChatService, str],
    server: OpenAIServer,
    db: Database,
    writer: SpanWriter,
    mode: str,
    kind: str,
    status: int,
) -> None:
    chat, release_id = remote_chat
    server.mode = mode
    turn = chat.ask("What is LLMOps?", release_id=release_id)
    assert turn.status == "error"
    assert turn.answer == MESSAGES[kind]["en"]
    writer.flush()
    detail = get_trace(db, turn.trace_id)
    assert detail.trace["status"] == "error"
    assert str(status) in (detail.trace["error"] or "")
    llm = next(s for s in detail.spans if s["kind"] == "llm")
    assert llm["status"] == "error"
    assert llm["attributes"]["http.response.status_code"] == status
    assert str(status) in llm["error"]
