"""A remote model in a conversation (OpenAI-protocol server on 127.0.0.1, as Ollama, llama.cpp's
server and vLLM speak it): the follow-up is condensed by the model, the answer request carries
the earlier turns as chat messages within the token budget, and usage is recorded."""

from __future__ import annotations

from typing import Any

from llmops.chat import ChatService
from llmops.config import Settings
from llmops.llm.prompts import CONDENSE_PROMPT
from llmops.rag.knowledge import KnowledgeBase
from llmops.store.db import Database
from llmops.store.queries import get_trace
from llmops.tracing import SpanWriter, Tracer

from .openai_server import ANSWER, USAGE, OpenAIServer
from .test_openai_provider import model_config, remote_chat, server, small_kb  # noqa: F401


def _roles(body: dict[str, Any]) -> list[str]:
    return [m["role"] for m in body["messages"]]


def test_follow_up_is_condensed_by_the_model_and_history_sent_as_messages(
    remote_chat: tuple[ChatService, str],  # noqa: F811
    server: OpenAIServer,  # noqa: F811
    db: Database,
    writer: SpanWriter,
) -> None:
    chat, release_id = remote_chat
    first = chat.ask("What is LLMOps?", release_id=release_id, session_id="remote-1")
    assert first.status == "ok" and len(server.requests) == 1
    assert _roles(server.requests[0]["body"]) == ["system", "user"]

    follow = chat.ask("And why does it matter?", release_id=release_id, session_id="remote-1")
    assert follow.status == "ok" and len(server.requests) == 3
    condense, answer = server.requests[1]["body"], server.requests[2]["body"]
    assert not condense.get("stream") and condense["messages"][0]["content"] == CONDENSE_PROMPT
    assert _roles(condense) == ["system", "user", "assistant", "user"]
    assert condense["messages"][1]["content"] == "What is LLMOps?"
    assert "[1]" not in condense["messages"][2]["content"]  # old markers dropped
    assert follow.standalone == ANSWER  # what the model wrote is the standalone question
    assert answer.get("stream") and _roles(answer) == ["system", "user", "assistant", "user"]
    assert "And why does it matter?" in answer["messages"][-1]["content"]

    assert writer.flush()
    detail = get_trace(db, follow.trace_id)
    spans = {s["name"]: s for s in detail.spans}
    assert spans["condense_question"]["attributes"]["llmops.condense.method"] == "model"
    assert spans["history"]["attributes"]["llmops.history.turns"] == 1
    assert detail.trace["input_tokens"] >= 2 * USAGE["prompt_tokens"]  # both calls counted


def test_history_beyond_the_token_budget_is_not_sent(
    settings: Settings,
    db: Database,
    small_kb: KnowledgeBase,  # noqa: F811
    writer: SpanWriter,
    remote_chat: tuple[ChatService, str],  # noqa: F811
    server: OpenAIServer,  # noqa: F811
) -> None:
    _, release_id = remote_chat
    tight = settings.model_copy(update={"history_max_tokens": 5})
    chat = ChatService(tight, db, small_kb, Tracer(writer))
    chat.ask("What is LLMOps?", release_id=release_id, session_id="remote-2")
    chat.ask("What does LLMOps cover in production?", release_id=release_id, session_id="remote-2")
    assert _roles(server.requests[-1]["body"]) == ["system", "user"]
