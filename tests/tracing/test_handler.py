"""A real LCEL chain traced into the real store: names, kinds, parent links, attributes."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import RunnableLambda
from langchain_core.tools import tool

from llmops.llm.local import LocalModel
from llmops.llm.prompts import format_sources, rag_prompt
from llmops.store.db import Database
from llmops.store.queries import get_trace, list_traces
from llmops.tracing import SpanWriter, Tracer


class TinyRetriever(BaseRetriever):
    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        return [
            Document(
                page_content="LLMOps is the practice of running LLM applications in production.",
                metadata={"source": "en/llmops.md", "chunk_id": "c1", "score": 0.9},
            )
        ]


@tool
def word_count(text: str) -> int:
    """Count the words of a text."""
    return len(text.split())


def _by_name(spans: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {s["name"]: s for s in spans}


def test_rag_chain_spans_have_correct_parents_kinds_and_genai_attributes(
    db: Database, writer: SpanWriter
) -> None:
    tracer = Tracer(writer)
    chain = (
        RunnableLambda(
            lambda q: {"question": q, "context": format_sources(TinyRetriever().invoke(q))}
        )
        | rag_prompt()
        | LocalModel()
        | StrOutputParser()
    )
    ctx = tracer.start_trace(
        "chat", input="What is LLMOps?", session_id="s1", user_id="u1", release_id="rel_x"
    )
    answer = chain.invoke("What is LLMOps?", config={"callbacks": [ctx.handler]})
    ctx.finish(output=answer)
    assert writer.flush()

    detail = get_trace(db, ctx.trace_id)
    spans = detail.spans
    names = _by_name(spans)
    root = names["chat"]
    assert root["parent_id"] is None
    assert root["attributes"]["session.id"] == "s1"
    assert root["attributes"]["user.id"] == "u1"
    assert root["attributes"]["llmops.release.id"] == "rel_x"
    seq = names["RunnableSequence"]
    assert seq["parent_id"] == root["id"]
    assert names["ChatPromptTemplate"]["kind"] == "prompt"
    assert names["StrOutputParser"]["kind"] == "parser"
    llm = names["LocalModel"]
    assert llm["kind"] == "llm" and llm["parent_id"] == seq["id"]
    assert llm["attributes"]["gen_ai.request.model"] == "llmops-local"
    assert llm["attributes"]["gen_ai.provider.name"] == "llmops"
    assert llm["attributes"]["gen_ai.usage.input_tokens"] > 0
    assert llm["attributes"]["gen_ai.usage.output_tokens"] > 0
    retr = names["TinyRetriever"]
    assert retr["kind"] == "retriever"
    assert retr["attributes"]["retrieval.documents"][0]["source"] == "en/llmops.md"
    # every span belongs to the trace and every parent exists
    ids = {s["id"] for s in spans}
    assert all(s["trace_id"] == ctx.trace_id for s in spans)
    assert all(s["parent_id"] in ids for s in spans if s is not root)
    assert all(s["ended_at"] >= s["started_at"] for s in spans)
    trace = detail.trace
    assert trace["input_tokens"] == llm["attributes"]["gen_ai.usage.input_tokens"]
    assert trace["model"] == "llmops-local"
    assert trace["output"] == answer and "[1]" in answer


def test_streaming_records_time_to_first_token(db: Database, writer: SpanWriter) -> None:
    tracer = Tracer(writer)
    ctx = tracer.start_trace("chat", input="hi")
    model = GenericFakeChatModel(messages=iter([AIMessage(content="one two three")]))
    chunks = list(model.stream("hi", config={"callbacks": [ctx.handler]}))
    ctx.finish(output="one two three")
    assert len(chunks) > 1
    writer.flush()
    detail = get_trace(db, ctx.trace_id)
    llm = next(s for s in detail.spans if s["kind"] == "llm")
    assert llm["attributes"]["gen_ai.response.time_to_first_token_ms"] >= 0
    assert detail.trace["ttft_ms"] is not None


def test_unbound_handler_makes_its_own_trace_per_top_level_run(
    db: Database, writer: SpanWriter
) -> None:
    tracer = Tracer(writer)
    chain = (
        ChatPromptTemplate.from_messages([("human", "{q}")])
        | GenericFakeChatModel(messages=iter([AIMessage(content="a"), AIMessage(content="b")]))
        | StrOutputParser()
    )
    chain.invoke({"q": "1"}, config={"callbacks": [tracer.handler()]})
    chain.invoke({"q": "2"}, config={"callbacks": [tracer.handler()]})
    writer.flush()
    rows = list_traces(db)
    assert len(rows) == 2
    for row in rows:
        assert len(get_trace(db, row.id).spans) == 4  # sequence, prompt, model, parser


def test_tool_and_error_spans(db: Database, writer: SpanWriter) -> None:
    tracer = Tracer(writer)
    ctx = tracer.start_trace("agent")
    assert word_count.invoke({"text": "a b c"}, config={"callbacks": [ctx.handler]}) == 3

    def boom(_: Any) -> None:
        raise ValueError("kaput")

    with pytest.raises(ValueError):
        RunnableLambda(boom, name="boom").invoke(1, config={"callbacks": [ctx.handler]})
    ctx.finish(status="error", error="ValueError: kaput")
    writer.flush()
    spans = _by_name(get_trace(db, ctx.trace_id).spans)
    assert spans["word_count"]["kind"] == "tool"
    assert spans["word_count"]["attributes"]["gen_ai.tool.name"] == "word_count"
    assert spans["boom"]["status"] == "error"
    assert spans["boom"]["error"] == "ValueError: kaput"
    assert spans["boom"]["attributes"]["error.type"] == "ValueError"
    assert get_trace(db, ctx.trace_id).trace["status"] == "error"


def test_a_broken_sink_never_breaks_the_chain() -> None:
    class Broken:
        def submit(self, record: Any) -> None:
            raise RuntimeError("sink down")

        def flush(self, timeout: float = 10.0) -> bool:
            raise RuntimeError("sink down")

    tracer = Tracer(Broken())
    ctx = tracer.start_trace("chat", input="x")
    chain = (
        ChatPromptTemplate.from_messages([("human", "{q}")])
        | GenericFakeChatModel(messages=iter([AIMessage(content="still answers")]))
        | StrOutputParser()
    )
    assert chain.invoke({"q": "x"}, config={"callbacks": [ctx.handler]}) == "still answers"
    ctx.finish(output="still answers")
    assert tracer.flush() is False
