"""A whole conversation through the real ChatService (Chroma, LocalModel, guards, store):
follow-ups resolved from the session's history read from the store, conversational turns,
and replies in the user's language."""

from __future__ import annotations

from typing import Any

import pytest

from llmops.chat import MESSAGES, ChatService, Renumber, Turn
from llmops.config import Settings
from llmops.conversation import HistoryTurn, condense, needs_history
from llmops.guards.runner import GuardRunner
from llmops.llm.local import NOT_COVERED
from llmops.smalltalk import REPLIES, detect, reply_language, strip_opening
from llmops.store.db import Database
from llmops.store.queries import get_trace
from llmops.tracing.tracer import Tracer
from llmops.tracing.writer import SpanWriter


def _sources(turn: Turn) -> set[str]:
    return {c.source for c in turn.citations}


GUARDS_EN = "en/risk-mitigation-and-guardrails.md"


def _about_injection(turn: Turn) -> bool:
    return GUARDS_EN in _sources(turn) and "injection" in turn.answer.lower()


def test_a_follow_up_is_resolved_from_the_sessions_history(
    chat_service: ChatService, db: Database, writer: SpanWriter
) -> None:
    first = chat_service.ask("What is prompt injection?", session_id="conv-a")
    assert GUARDS_EN in _sources(first)
    follow = chat_service.ask("How do I prevent it?", session_id="conv-a")
    assert follow.standalone is not None and "injection" in follow.standalone.lower()
    assert _about_injection(follow)
    # the same words in a new conversation ("New conversation") mean nothing about injection
    alone = chat_service.ask("How do I prevent it?", session_id="conv-b")
    assert alone.standalone is None and not _about_injection(alone)

    # the trace shows the history used and the rewritten question
    assert writer.flush()
    spans = {s["name"]: s for s in get_trace(db, follow.trace_id).spans}
    assert spans["history"]["attributes"]["llmops.history.trace_ids"] == [first.trace_id]
    assert spans["condense_question"]["attributes"]["llmops.condense.method"] == "deterministic"
    assert "injection" in spans["condense_question"]["output"].lower()
    assert get_trace(db, follow.trace_id).trace["attributes"]["llmops.question.standalone"]


def test_a_spanish_follow_up_is_resolved(chat_service: ChatService) -> None:
    chat_service.ask("¿Qué es la inyección de prompts?", session_id="conv-es")
    follow = chat_service.ask("¿cómo la evito?", session_id="conv-es")
    assert follow.lang == "es" and follow.standalone and "inyecci" in follow.standalone
    assert "inyecci" in follow.answer.lower()
    assert all(s.startswith("es/") for s in _sources(follow))
    alone = chat_service.ask("¿cómo la evito?", session_id="conv-es2")
    assert "inyecci" not in alone.answer.lower()


def test_a_fragment_narrows_the_previous_question() -> None:
    history = [HistoryTurn("t1", "¿Qué es una versión canary?", "…", 1.0)]
    assert condense("¿y en producción?", history) == "¿Qué es una versión canary en producción?"


def test_history_is_read_from_the_store_by_another_service(
    chat_service: ChatService, db: Database, kb: Any, writer: SpanWriter, settings: Settings
) -> None:
    """A restarted app or a second replica: a new ChatService over the same store."""
    chat_service.ask("What is prompt injection?", session_id="conv-r")
    assert writer.flush()
    replica = ChatService(settings, db, kb, Tracer(writer), guards=GuardRunner())
    follow = replica.ask("How do I prevent it?", session_id="conv-r")
    assert follow.standalone is not None and _about_injection(follow)


def test_history_off_and_evaluation_sessions_stand_alone(
    db: Database, kb: Any, writer: SpanWriter, settings: Settings
) -> None:
    chat = ChatService(settings, db, kb, Tracer(writer))
    chat.ask("What is prompt injection?", session_id="eval:run-1")
    assert chat.ask("How do I prevent it?", session_id="eval:run-1").standalone is None
    off = ChatService(settings.model_copy(update={"history_turns": 0}), db, kb, Tracer(writer))
    off.ask("What is prompt injection?", session_id="conv-off")
    assert off.ask("How do I prevent it?", session_id="conv-off").standalone is None


def test_history_in_memory_is_redacted(
    db: Database, kb: Any, writer: SpanWriter, settings: Settings
) -> None:
    chat = ChatService(settings, db, kb, Tracer(writer))
    chat.ask("What is a canary release? write to ana.lopez@example.com", session_id="conv-p")
    kept = chat.history.recent.get("conv-p")
    assert kept and "ana.lopez@example.com" not in kept[-1].question


@pytest.mark.parametrize(
    ("message", "intent", "lang"),
    [
        ("hola", "greeting", "es"),
        ("Hello there!", "greeting", "en"),
        ("¡Buenos días!", "greeting", "es"),
        ("thanks a lot", "thanks", "en"),
        ("muchas gracias", "thanks", "es"),
        ("What can you do?", "capabilities", "en"),
        ("¿En qué me puedes ayudar?", "capabilities", "es"),
        ("who are you?", "identity", "en"),
        ("¿Quién eres?", "identity", "es"),
        ("bye!", "goodbye", "en"),
        ("adiós, hasta luego", "goodbye", "es"),
    ],
)
def test_conversational_turns_get_a_friendly_reply_without_retrieval(
    chat_service: ChatService,
    db: Database,
    writer: SpanWriter,
    message: str,
    intent: str,
    lang: str,
) -> None:
    turn = chat_service.ask(message, session_id=f"talk-{intent}-{lang}")
    assert (turn.kind, turn.lang, turn.status) == ("smalltalk", lang, "ok")
    assert turn.answer == REPLIES[intent][lang] and turn.citations == []
    assert turn.answer != NOT_COVERED[lang]
    assert writer.flush()
    names = {s["name"] for s in get_trace(db, turn.trace_id).spans}
    assert "smalltalk" in names and "retriever" not in {
        s["kind"] for s in get_trace(db, turn.trace_id).spans
    }


def test_a_greeting_before_a_question_is_still_answered(chat_service: ChatService) -> None:
    turn = chat_service.ask("Hola, ¿qué es LLMOps?", session_id="talk-q")
    assert turn.kind == "question" and turn.lang == "es"
    assert any(c.source.startswith("es/") for c in turn.citations)


def test_replies_follow_the_conversations_language_when_a_message_is_ambiguous(
    chat_service: ChatService,
) -> None:
    chat_service.ask("¿Qué es LLMOps?", session_id="lang-1")
    ok = chat_service.ask("ok", session_id="lang-1")
    assert ok.lang == "es" and ok.answer == REPLIES["thanks"]["es"]
    empty = chat_service.ask("   ", session_id="lang-1")
    assert empty.answer == MESSAGES["empty"]["es"]
    off_topic = chat_service.ask("Xyzzy 42?", session_id="lang-1")
    assert off_topic.answer == NOT_COVERED["es"]
    # and English when the conversation is in English
    chat_service.ask("What is LLMOps?", session_id="lang-2")
    assert chat_service.ask("   ", session_id="lang-2").answer == MESSAGES["empty"]["en"]


def test_a_guard_block_replies_in_the_conversations_language(chat_service: ChatService) -> None:
    chat_service.ask("¿Qué es LLMOps?", session_id="lang-g")
    blocked = chat_service.ask("stupid idiot", session_id="lang-g")  # no language of its own
    assert blocked.blocked and blocked.lang == "es"
    assert blocked.answer.startswith("Mantengamos una conversación respetuosa")


def test_reply_language_rules() -> None:
    assert reply_language("What is LLMOps?", "es") == "en"
    assert reply_language("¿Qué es LLMOps?", "en") == "es"
    assert reply_language("LLMOps?", "es") == "es"  # no evidence: the previous turn's
    assert reply_language("what is la deriva del modelo?", "en") == "en"  # mixed
    assert reply_language("what is la deriva del modelo?", "es") == "es"
    assert reply_language("ok", None) == "en"


def test_detect_and_condense_rules() -> None:
    assert detect("hi, who are you?").intent == "identity"  # type: ignore[union-attr]
    assert detect("hi, what is a canary release?") is None
    assert strip_opening("Hola, ¿qué es RAG?") == "¿qué es RAG?"
    assert needs_history("why?") and needs_history("¿y en producción?")
    assert needs_history("how do I measure it?") and needs_history("¿cómo lo mido?")
    assert not needs_history("What is retrieval-augmented generation?")
    assert not needs_history("What is LLMOps and how is it different from MLOps?")
    history = [HistoryTurn("t1", "What is LLM evaluation?", "…", 1.0)]
    assert condense("how do I measure it?", history) == "how do I measure LLM evaluation?"
    assert condense("What is RAG?", history) == "What is RAG?"


def test_citation_numbers_follow_the_sources_shown() -> None:
    r = Renumber()
    text = r.feed("A [4] and B [") + r.feed("1]. C [4].") + r.flush()
    assert text == "A [1] and B [2]. C [1]." and r.order == [4, 1]
