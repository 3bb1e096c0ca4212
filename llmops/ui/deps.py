"""Process-wide cached dependencies and cached read queries for the pages.

``st.cache_resource`` holds one ``Runtime`` per process (thread-safe: the store engine, the
writer, the embeddings and the chat service are all safe to share between sessions).
``st.cache_data`` keeps query results for a few seconds so reruns do not hit the store.
"""

from __future__ import annotations

import streamlit as st

from llmops.runtime import Runtime
from llmops.store import queries


@st.cache_resource(show_spinner="Starting llmops…")
def runtime() -> Runtime:
    rt = Runtime()
    rt.warm_up()  # models and guards load in the background; the page renders at once
    rt.start_online_evaluation()  # only when LLMOPS_ONLINE_EVAL_RATE > 0
    rt.start_background()  # the canary's automatic rollback
    return rt


@st.cache_data(ttl=5, show_spinner=False)
def trace_page(
    flt: queries.TraceFilter, limit: int, offset: int
) -> tuple[list[queries.TraceSummary], int]:
    db = runtime().db
    return queries.list_traces(db, flt, limit=limit, offset=offset), queries.count_traces(db, flt)


@st.cache_data(ttl=30, show_spinner=False)
def release_ids() -> list[str]:
    return queries.release_ids(runtime().db)


@st.cache_data(ttl=30, show_spinner=False)
def release_names() -> dict[str, str]:
    """Release id → name, for every table and picker that shows a release."""
    from llmops.monitoring import metrics

    return metrics.release_names(runtime().db)


def release_label(rid: str) -> str:
    """``name (id)`` for a release id; ``any`` reads "any release"."""
    if rid == "any":
        return "any release"
    name = release_names().get(rid)
    return f"{name} ({rid})" if name else rid
