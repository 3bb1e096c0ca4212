"""Someone else's LangChain app traced with the unbound handler (``Tracer.handler()``).

Real LCEL chains, a real ``create_agent`` agent and real LangGraph graphs run with the handler
in their config; the writer stores them in the real store, and every assertion reads it back.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypedDict

import pytest
from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.language_models.fake_chat_models import (
    FakeMessagesListChatModel,
    GenericFakeChatModel,
)
from langchain_core.messages import AIMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.retrievers import BaseRetriever
from langchain_core.tools import tool

from llmops.config import Settings
from llmops.privacy import hash_user_id, load_key, user_id_mapper
from llmops.redaction import redact
from llmops.store.db import Database
from llmops.store.queries import get_trace, list_traces
from llmops.tracing import SpanWriter, Tracer


@pytest.fixture
def private_writer(db: Database, tmp_path: Path, settings: Settings) -> Iterator[SpanWriter]:
    """The writer as the app configures it: redaction on, user ids hashed."""
    settings.ensure_home()
    w = SpanWriter(
        db,
        tmp_path / "spool",
        flush_interval_s=0.02,
        redact=redact,
        user_ids=user_id_mapper(Settings(home=settings.home, user_id_mode="hash")),
    )
    yield w
    w.close()


def _chain(*answers: str) -> Any:
    model = GenericFakeChatModel(messages=iter([AIMessage(content=a) for a in answers]))
    return ChatPromptTemplate.from_messages([("human", "{q}")]) | model | StrOutputParser()


def _only_trace(db: Database) -> Any:
    rows = list_traces(db)
    assert len(rows) == 1, rows
    return get_trace(db, rows[0].id)


def test_config_metadata_and_tags_name_the_trace_session_and_user(
    db: Database, private_writer: SpanWriter, settings: Settings
) -> None:
    tracer = Tracer(private_writer)
    out = _chain("fine").invoke(
        {"q": "how are you?"},
        config={
            "callbacks": [tracer.handler()],
            "tags": ["checkout", "owner ana@example.com"],
            "metadata": {"user_id": "ana@example.com", "thread_id": "th-1", "plan": "pro"},
        },
    )
    assert out == "fine"
    assert tracer.flush()
    detail = _only_trace(db)
    trace = detail.trace
    assert trace["session_id"] == "th-1"
    # the user is hashed, as on the chat path, and nowhere stored raw
    assert trace["user_id"] == hash_user_id(load_key(settings), "ana@example.com")
    assert trace["tags"] == ["checkout", "owner <EMAIL>"]  # tags are redacted too
    assert trace["attributes"]["metadata"] == {"thread_id": "th-1", "plan": "pro"}
    root = next(s for s in detail.spans if s["parent_id"] is None)
    assert root["attributes"]["session.id"] == "th-1"
    assert root["attributes"]["user.id"] == trace["user_id"]
    assert "ana@example.com" not in repr(detail.as_dict())


def test_session_id_wins_over_thread_id_and_a_plain_run_has_none(
    db: Database, writer: SpanWriter
) -> None:
    tracer = Tracer(writer)
    chain = _chain("a", "b")
    chain.invoke(
        {"q": "1"},
        config={
            "callbacks": [tracer.handler()],
            "metadata": {"session_id": "s-9", "thread_id": "t-9", "langfuse_user_id": "u-9"},
        },
    )
    chain.invoke({"q": "2"}, config={"callbacks": [tracer.handler()]})
    assert tracer.flush()
    first, second = sorted(list_traces(db), key=lambda r: r.started_at)
    with_meta = get_trace(db, first.id).trace
    assert (with_meta["session_id"], with_meta["user_id"]) == ("s-9", "u-9")
    plain = get_trace(db, second.id).trace
    assert (plain["session_id"], plain["user_id"], plain["tags"]) == (None, None, None)
    assert not (plain["attributes"] or {}).get("metadata")


class _Docs(BaseRetriever):
    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        return [Document(page_content="Paris", metadata={"source": "geo.md", "score": 0.8})]


def test_a_top_level_retriever_is_a_trace_with_its_config(db: Database, writer: SpanWriter) -> None:
    tracer = Tracer(writer)
    docs = _Docs().invoke(
        "capital of France",
        config={"callbacks": [tracer.handler()], "tags": ["rag"], "metadata": {"user_id": "u1"}},
    )
    assert docs[0].page_content == "Paris"
    assert tracer.flush()
    detail = _only_trace(db)
    assert detail.trace["tags"] == ["rag"]
    assert detail.trace["user_id"] == "u1"  # this writer keeps user ids raw (no mapper)
    (span,) = detail.spans
    assert span["kind"] == "retriever"
    assert span["attributes"]["retrieval.count"] == 1


@tool
def add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b


class _ToolCallingModel(FakeMessagesListChatModel):
    """Scripted replies; ``bind_tools`` keeps the script (the agent only needs the replies)."""

    def bind_tools(self, tools: Any, **kwargs: Any) -> Any:
        return self


def test_an_agent_its_graph_nodes_model_and_tool_have_their_kinds(
    db: Database, writer: SpanWriter
) -> None:
    from langchain.agents import create_agent

    model = _ToolCallingModel(
        responses=[
            AIMessage(
                content="", tool_calls=[{"name": "add", "args": {"a": 2, "b": 3}, "id": "c1"}]
            ),
            AIMessage(content="5"),
        ]
    )
    agent = create_agent(model, tools=[add], name="calculator")
    tracer = Tracer(writer)
    result = agent.invoke(
        {"messages": [("user", "2 + 3?")]},
        config={"callbacks": [tracer.handler()], "metadata": {"session_id": "s1"}},
    )
    assert result["messages"][-1].content == "5"
    assert tracer.flush()
    detail = _only_trace(db)
    spans = detail.spans
    by_id = {s["id"]: s for s in spans}
    root = next(s for s in spans if s["parent_id"] is None)
    assert (root["name"], root["kind"]) == ("calculator", "agent")
    assert detail.trace["session_id"] == "s1"
    nodes = [s for s in spans if s["kind"] == "node"]
    assert sorted(s["name"] for s in nodes) == ["model", "model", "tools"]
    assert all(n["parent_id"] == root["id"] for n in nodes)
    (tool_span,) = [s for s in spans if s["kind"] == "tool"]
    assert tool_span["name"] == "add"
    assert by_id[tool_span["parent_id"]]["name"] == "tools"
    assert tool_span["attributes"]["gen_ai.tool.call.id"] == "c1"
    assert tool_span["attributes"]["gen_ai.tool.description"] == "Add two numbers."
    assert tool_span["output"] and "5" in tool_span["output"]
    assert len([s for s in spans if s["kind"] == "llm"]) == 2
    assert all(s["status"] == "ok" for s in spans)


class _State(TypedDict):
    x: int


def test_a_langgraph_interrupt_is_not_an_error(db: Database, writer: SpanWriter) -> None:
    from langgraph.checkpoint.memory import InMemorySaver
    from langgraph.graph import END, START, StateGraph
    from langgraph.types import Command, interrupt

    def ask(state: _State) -> dict[str, int]:
        return {"x": state["x"] + int(interrupt("how much?"))}

    graph = StateGraph(_State)
    graph.add_node("ask", ask)
    graph.add_edge(START, "ask")
    graph.add_edge("ask", END)
    app = graph.compile(checkpointer=InMemorySaver())
    tracer = Tracer(writer)
    config: Any = {"callbacks": [tracer.handler()], "configurable": {"thread_id": "t-1"}}
    paused = app.invoke({"x": 1}, config)
    assert "__interrupt__" in paused
    assert app.invoke(Command(resume=4), config)["x"] == 5
    assert tracer.flush()

    rows = list_traces(db)
    assert len(rows) == 2
    for row in rows:
        detail = get_trace(db, row.id)
        assert detail.trace["status"] == "ok"
        assert detail.trace["session_id"] == "t-1"  # LangGraph's thread is the session
        root = next(s for s in detail.spans if s["parent_id"] is None)
        assert root["kind"] == "graph"
    spans = [s for r in rows for s in get_trace(db, r.id).spans if s["name"] == "ask"]
    paused_node = next(s for s in spans if (s["attributes"] or {}).get("langgraph.control_flow"))
    assert paused_node["kind"] == "node"
    assert paused_node["status"] == "ok"
    assert paused_node["error"] is None
    assert paused_node["attributes"]["langgraph.control_flow"] == "GraphInterrupt"
    assert "error.type" not in paused_node["attributes"]


def test_a_hand_over_to_the_parent_graph_is_not_an_error(db: Database, writer: SpanWriter) -> None:
    from langgraph.graph import END, START, StateGraph
    from langgraph.types import Command

    def hand_over(state: _State) -> Command[Any]:
        return Command(graph=Command.PARENT, goto="finish", update={"x": state["x"] + 1})

    sub = StateGraph(_State)
    sub.add_node("hand_over", hand_over)
    sub.add_edge(START, "hand_over")
    parent = StateGraph(_State)
    parent.add_node("sub", sub.compile())
    parent.add_node("finish", lambda s: {"x": s["x"] * 10})
    parent.add_edge(START, "sub")
    parent.add_edge("finish", END)
    tracer = Tracer(writer)
    assert parent.compile().invoke({"x": 1}, {"callbacks": [tracer.handler()]})["x"] == 20
    assert tracer.flush()
    detail = _only_trace(db)
    assert detail.trace["status"] == "ok"
    flow = [s for s in detail.spans if (s["attributes"] or {}).get("langgraph.control_flow")]
    assert flow and {s["attributes"]["langgraph.control_flow"] for s in flow} == {"ParentCommand"}
    assert all(s["status"] == "ok" and s["error"] is None for s in detail.spans)


def test_a_real_failure_inside_a_graph_is_still_an_error(db: Database, writer: SpanWriter) -> None:
    from langgraph.graph import END, START, StateGraph

    def broken(state: _State) -> dict[str, int]:
        raise ValueError("bad state")

    graph = StateGraph(_State)
    graph.add_node("broken", broken)
    graph.add_edge(START, "broken")
    graph.add_edge("broken", END)
    tracer = Tracer(writer)
    with pytest.raises(ValueError):
        graph.compile().invoke({"x": 1}, {"callbacks": [tracer.handler()]})
    assert tracer.flush()
    detail = _only_trace(db)
    assert detail.trace["status"] == "error"
    node = next(s for s in detail.spans if s["name"] == "broken")
    assert (node["kind"], node["status"]) == ("node", "error")
    assert node["error"] == "ValueError: bad state"
    assert node["attributes"]["error.type"] == "ValueError"


class _CountingModel(GenericFakeChatModel):
    """Replies with its script and reports token usage, as a provider's model does."""

    def _generate(self, messages: Any, stop: Any = None, run_manager: Any = None, **kw: Any) -> Any:
        result = super()._generate(messages, stop=stop, run_manager=run_manager, **kw)
        msg = result.generations[0].message
        msg.usage_metadata = {"input_tokens": 10, "output_tokens": len(str(msg.content))}
        msg.response_metadata = {"model_name": f"m-{msg.content}"}
        return result


def test_one_handler_shared_by_many_traces_keeps_their_tokens_apart(
    db: Database, writer: SpanWriter
) -> None:
    tracer = Tracer(writer)
    handler = tracer.handler()
    chain = ChatPromptTemplate.from_messages([("human", "{q}")]) | _CountingModel(
        messages=iter([AIMessage(content="ab"), AIMessage(content="abcd")])
    )
    chain.invoke({"q": "1"}, config={"callbacks": [handler]})
    chain.invoke({"q": "2"}, config={"callbacks": [handler]})
    assert tracer.flush()
    got = sorted((r.input_tokens, r.output_tokens, r.model) for r in list_traces(db))
    assert got == [(10, 2, "m-ab"), (10, 4, "m-abcd")]
    assert not handler._runs and not handler._roots and not handler._usage  # nothing kept
