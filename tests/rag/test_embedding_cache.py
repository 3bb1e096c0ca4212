"""One embedding model a process, and a chat message embedded once: the input guard's learned
injection detector and the retriever read the same vector (``rag.embeddings.shared``)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from llmops.guards import learned
from llmops.rag import embeddings as emb


def _count_embeds(model: emb.MiniLMEmbeddings, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    seen: list[str] = []
    original = model._embed

    def spy(texts: list[str]) -> Any:
        seen.extend(texts)
        return original(texts)

    monkeypatch.setattr(model, "_embed", spy)
    return seen


def test_the_detector_and_the_knowledge_base_share_one_model() -> None:
    assert learned.encoder() is emb.shared()
    assert emb.shared() is emb.shared(None)


def test_a_query_is_embedded_once_and_the_cache_is_bounded(
    embeddings: emb.MiniLMEmbeddings, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = _count_embeds(embeddings, monkeypatch)
    monkeypatch.setattr(emb, "QUERY_CACHE", 2)
    first = embeddings.embed_query("a query embedded once for the cache test")
    first[0] = 99.0  # a caller changing its copy changes nothing cached
    again = embeddings.embed_query("a query embedded once for the cache test")
    assert seen == ["a query embedded once for the cache test"] and again[0] != 99.0
    embeddings.embed_query("second query for the cache test")
    embeddings.embed_query("third query for the cache test")
    embeddings.embed_query("a query embedded once for the cache test")  # evicted: embedded again
    assert seen.count("a query embedded once for the cache test") == 2


def test_a_chat_turn_embeds_the_message_once(
    chat_service: Any, embeddings: emb.MiniLMEmbeddings, monkeypatch: pytest.MonkeyPatch
) -> None:
    case = uuid.uuid4().hex[:8]  # not in the shared model's cache from an earlier test
    question = f"Could you please explain in detail how canary releases roll back, case {case}?"
    seen = _count_embeds(embeddings, monkeypatch)
    turn = chat_service.respond(question, session_id="embed-once").collect()
    assert turn.answer
    assert seen.count(question) == 1, seen  # the guard's detector and retrieval: one embedding


def test_the_shared_model_runs_on_the_configured_number_of_threads(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from llmops import config

    def threads(model: emb.MiniLMEmbeddings) -> int:
        return int(model._session.get_session_options().intra_op_num_threads)

    assert threads(emb.MiniLMEmbeddings(verify=False)) == 1  # a short query: one thread
    assert threads(emb.MiniLMEmbeddings(verify=False, threads=2)) == 2
    monkeypatch.setattr(emb, "_SHARED", {})
    monkeypatch.setenv("LLMOPS_EMBEDDING_THREADS", "3")
    config.get_settings.cache_clear()
    try:
        assert threads(emb.shared()) == 3
    finally:
        config.get_settings.cache_clear()
