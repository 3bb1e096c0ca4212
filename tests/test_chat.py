"""Full chat turns through the real pipeline: Chroma, LocalModel, tracer, store."""

from __future__ import annotations

from typing import Any

import pytest

from llmops.chat import MESSAGES, ChatService
from llmops.llm.local import NOT_COVERED
from llmops.store.db import Database
from llmops.store.queries import get_trace
from llmops.tracing.writer import SpanWriter


def _turn(chat: ChatService, message: str, **kwargs: Any) -> tuple[Any, list[str]]:
    stream = chat.respond(message, **kwargs)
    chunks = list(stream)
    assert stream.turn is not None
    return stream.turn, chunks


def _trace(db: Database, writer: SpanWriter, trace_id: str) -> Any:
    assert writer.flush()
    return get_trace(db, trace_id)


def test_answers_from_the_knowledge_base_with_citations_and_a_full_trace(
    chat_service: ChatService, db: Database, writer: SpanWriter, no_egress: list[str]
) -> None:
    turn, chunks = _turn(chat_service, "What is LLMOps?", session_id="s1", user_id="ana")
    assert turn.status == "ok" and not turn.blocked
    assert len(chunks) > 3 and "".join(chunks).strip() == turn.answer
    assert "LLMOps" in turn.answer
    assert turn.citations and all(c.source.endswith(".md") for c in turn.citations)
    assert all(f"[{c.n}]" in turn.answer for c in turn.citations)
    assert turn.release and turn.release.startswith("rel_")

    detail = _trace(db, writer, turn.trace_id)
    trace = detail.trace
    assert (trace["status"], trace["session_id"], trace["user_id"]) == ("ok", "s1", "ana")
    assert trace["input"] == "What is LLMOps?" and trace["output"] == turn.answer
    assert trace["release_id"] == turn.release and trace["model"] == "llmops-local"
    assert trace["input_tokens"] > 0 and trace["output_tokens"] > 0
    assert trace["latency_ms"] > 0 and trace["ttft_ms"] is not None
    kinds = {s["kind"] for s in detail.spans}
    assert {"chain", "guard", "retriever", "prompt", "llm"} <= kinds
    root = next(s for s in detail.spans if s["parent_id"] is None)
    assert root["name"] == "chat"
    ids = {s["id"] for s in detail.spans}
    assert all(s["parent_id"] in ids for s in detail.spans if s is not root)
    assert no_egress == []


def test_spanish_question_gets_a_spanish_answer(chat_service: ChatService) -> None:
    turn, _ = _turn(chat_service, "¿Qué es LLMOps?")
    assert turn.status == "ok" and turn.citations
    assert any(c.source.startswith("es/") for c in turn.citations)


def test_out_of_scope_question_says_so_without_citations(chat_service: ChatService) -> None:
    turn, _ = _turn(chat_service, "What is the boiling point of mercury in Kelvin?")
    assert turn.answer == NOT_COVERED["en"]
    assert turn.citations == []


@pytest.mark.parametrize(
    ("message", "status", "expected"),
    [
        ("", "invalid_input", MESSAGES["empty"]["en"]),
        ("   \n\t ", "invalid_input", MESSAGES["empty"]["en"]),
        ("\x00\x07\x1b", "invalid_input", MESSAGES["empty"]["en"]),
        ("x" * 200_000, "invalid_input", "200,000 characters"),
    ],
)
def test_bad_input_gets_a_clear_reply_and_a_complete_trace(
    chat_service: ChatService,
    db: Database,
    writer: SpanWriter,
    message: str,
    status: str,
    expected: str,
) -> None:
    turn, chunks = _turn(chat_service, message)
    assert turn.status == status
    assert expected in turn.answer and "".join(chunks) == turn.answer
    detail = _trace(db, writer, turn.trace_id)
    assert detail.trace["status"] == status
    assert detail.trace["output"] == turn.answer
    check = next(s for s in detail.spans if s["name"] == "validate:input")
    assert check["status"] == "rejected"
    assert len(detail.trace["input"] or "") <= 20_000  # stored input is bounded


@pytest.mark.parametrize(
    "message",
    [
        "What is LLMOps? 🚀🤖",
        "What is\x00 LLM\x1bOps?\u202e",
        "LLMOps とは何ですか? What is LLMOps? Что такое LLMOps?",
        "x" * 4000,
    ],
)
def test_unusual_but_valid_input_is_answered_and_traced(
    chat_service: ChatService, db: Database, writer: SpanWriter, message: str
) -> None:
    turn, _ = _turn(chat_service, message)
    assert turn.status == "ok" and turn.answer
    detail = _trace(db, writer, turn.trace_id)
    assert detail.trace["status"] == "ok"
    stored = detail.trace["input"]
    assert "\x00" not in stored and "\x1b" not in stored and "\u202e" not in stored


def test_limit_is_configurable(chat_service: ChatService) -> None:
    chat_service.settings.max_input_chars = 10
    turn, _ = _turn(chat_service, "What is LLMOps?")
    assert turn.status == "invalid_input" and "the limit is 10" in turn.answer


def test_chat_keeps_answering_while_the_store_is_locked_and_loses_no_span(
    chat_service: ChatService,
) -> None:
    """Lock the SQLite store mid-run: turns still answer, spans spool, then all arrive."""
    import sqlite3

    from sqlalchemy import func, select

    from llmops.store.models import Span, Trace

    writer = chat_service.tracer.sink
    assert isinstance(writer, SpanWriter)
    if chat_service.db.dialect != "sqlite":
        pytest.skip("the lock-based outage is SQLite-specific")
    first, _ = _turn(chat_service, "What is LLMOps?")
    assert writer.flush()
    per_turn = len(get_trace(chat_service.db, first.trace_id).spans)

    path = chat_service.db.url.split("///", 1)[1]
    blocker = sqlite3.connect(path, timeout=0)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        turns = [_turn(chat_service, q)[0] for q in ("What is monitoring?", "What is a canary?")]
        assert all(t.status == "ok" and t.answer for t in turns)
        assert writer.flush(timeout=20)
        assert writer.spool_files()
    finally:
        blocker.rollback()
        blocker.close()
    assert writer.flush(timeout=20) and not writer.spool_files()
    with chat_service.db.session() as s:
        assert s.scalar(select(func.count()).select_from(Trace)) == 3
        assert s.scalar(select(func.count()).select_from(Span)) == 3 * per_turn
    for t in turns:
        assert get_trace(chat_service.db, t.trace_id).trace["output"] == t.answer


def test_a_trace_names_the_replica_that_served_it(
    db: Database, kb: Any, writer: SpanWriter, llmops_home: Any
) -> None:
    import os
    import socket

    from llmops.config import Settings
    from llmops.guards.runner import GuardRunner
    from llmops.tracing.tracer import Tracer

    named = Settings(home=llmops_home, replica_id="replica-b")
    chat = ChatService(named, db, kb, Tracer(writer), guards=GuardRunner())
    turn = chat.ask("What is LLMOps?", session_id="s-replica")
    trace = _trace(db, writer, turn.trace_id).trace
    assert trace["attributes"]["service.instance.id"] == "replica-b"
    # unnamed, a replica is its host and process (as in OTLP's service.instance.id)
    assert Settings(home=llmops_home).instance_id == f"{socket.gethostname()}:{os.getpid()}"
