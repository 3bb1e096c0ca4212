"""What a LangChain run is, as a span: its name, its kind, and how it ended.

Shared by the callback handler (hot path: it only keeps the callback's payload) and the span
writer (which works the name and kind out in its own thread), so neither imports the other.

Kinds: ``llm``, ``retriever``, ``tool`` come from their own callbacks; a chain run is

- ``agent``: an agent built with ``langchain.agents.create_agent`` (metadata
  ``ls_integration`` is ``langchain_create_agent``, or ``lc_agent_name`` is the run's name);
- ``node``: a LangGraph node (metadata ``langgraph_node`` is the run's name);
- ``graph``: a LangGraph graph (metadata ``ls_integration`` is ``langgraph``, not a node);
- ``parser`` / ``prompt``: from the class path LangChain serialises;
- ``chain``: everything else.

LangGraph's control-flow exceptions (``GraphBubbleUp``: ``GraphInterrupt`` when a node waits
for a human, ``ParentCommand`` when a node hands over to its parent graph) end a run without
failing it: the span is ``ok``, with ``langgraph.control_flow`` naming the exception.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# what a run ends with when LangGraph pauses or redirects it (langgraph.errors.GraphBubbleUp)
_CONTROL_FLOW_BASE = ("langgraph.errors", "GraphBubbleUp")

_KINDS: dict[str, str] = {}


def run_name(serialized: dict[str, Any] | None, kwargs: dict[str, Any], default: str) -> str:
    """The run's name: the ``name`` LangChain passes, else the serialised class name."""
    name = kwargs.get("name")
    if name:
        return str(name)
    if serialized:
        if serialized.get("name"):
            return str(serialized["name"])
        ident = serialized.get("id")
        if ident:
            return str(ident[-1])
    return default


def chain_kind(
    serialized: dict[str, Any] | None, name: str, metadata: dict[str, Any] | None = None
) -> str:
    """agent, node, graph, parser, prompt or chain (see the module docstring)."""
    if metadata:
        if metadata.get("langgraph_node") == name:
            return "node"
        if metadata.get("lc_agent_name") == name:
            return "agent"
        if "langgraph_node" not in metadata:  # the graph itself, not a step inside it
            integration = metadata.get("ls_integration")
            if integration == "langchain_create_agent":
                return "agent"
            if integration == "langgraph":
                return "graph"
    ident = serialized.get("id") if serialized else None
    key = f"{name}|{ident[-2] if ident and len(ident) > 1 else ''}"
    kind = _KINDS.get(key)  # memoised: the same few classes make every trace
    if kind is None:
        path = ".".join(ident or [])
        if "output_parser" in path or name.endswith(("OutputParser", "Parser")):
            kind = "parser"
        elif "prompts" in path or name.endswith("PromptTemplate"):
            kind = "prompt"
        else:
            kind = "chain"
        if len(_KINDS) < 10_000:
            _KINDS[key] = kind
    return kind


def control_flow(error: BaseException | None) -> str | None:
    """The name of a LangGraph control-flow exception (a pause or hand-over, not a failure),
    else None. Read from the class hierarchy, so langgraph is never imported here."""
    if error is None:
        return None
    for cls in type(error).__mro__:
        if (cls.__module__, cls.__name__) == _CONTROL_FLOW_BASE:
            return type(error).__name__
    return None


def error_status(error: BaseException | None) -> str:
    """A span's status for how its run ended: a stream closed early is ``cancelled``, a
    LangGraph interrupt or hand-over is ``ok``."""
    if error is None:
        return "ok"
    if isinstance(error, GeneratorExit):
        return "cancelled"
    return "ok" if control_flow(error) else "error"


def error_text(error: BaseException | None) -> str | None:
    """The span's error column (None for a control-flow exception)."""
    if error is None or control_flow(error):
        return None
    if isinstance(error, GeneratorExit):
        return "cancelled: the caller stopped reading the stream"
    return f"{type(error).__name__}: {error}"


def error_attributes(error: BaseException | None) -> dict[str, str] | None:
    """``error.type``, or ``langgraph.control_flow`` for a pause or hand-over."""
    if error is None:
        return None
    flow = control_flow(error)
    if flow:
        return {"langgraph.control_flow": flow}
    return {"error.type": type(error).__name__}


# the metadata keys other tracers read a session or a user from (LangGraph copies the
# ``thread_id`` of ``configurable`` into the metadata)
SESSION_KEYS = ("session_id", "thread_id", "conversation_id", "langfuse_session_id")
USER_KEYS = ("user_id", "langfuse_user_id")


def session_and_user(metadata: Mapping[str, object] | None) -> tuple[str | None, str | None]:
    """The session and user a run's config metadata names (first key present wins)."""
    if not metadata:
        return None, None
    session = next((metadata[k] for k in SESSION_KEYS if metadata.get(k) not in (None, "")), None)
    user = next((metadata[k] for k in USER_KEYS if metadata.get(k) not in (None, "")), None)
    return (
        None if session is None else str(session),
        None if user is None else str(user),
    )


def user_metadata(metadata: Mapping[str, object] | None) -> dict[str, object] | None:
    """The metadata worth keeping on a trace: the caller's own keys. LangChain's (``ls_*``)
    and LangGraph's per-step keys are dropped, and so are the user keys (the user is stored
    once, as the trace's user, where it is hashed)."""
    if not metadata:
        return None
    kept = {
        str(k): v
        for k, v in metadata.items()
        if not str(k).startswith(("ls_", "langgraph_", "checkpoint_", "__")) and k not in USER_KEYS
    }
    return kept or None
