"""The Settings page: is this replica ready (``llmops.readiness``, as `llmops db doctor`),
and the effective configuration with every secret masked."""

from __future__ import annotations

import streamlit as st

from llmops import readiness
from llmops.ui.deps import runtime

CACHE_TTL = 5


@st.cache_data(ttl=CACHE_TTL, show_spinner=False)
def _state() -> readiness.Readiness:
    rt = runtime()
    return readiness.check(rt.settings, rt.db, writer=rt.writer)


@st.cache_data(ttl=CACHE_TTL, show_spinner=False)
def _config() -> list[dict[str, str]]:
    return readiness.effective_config(runtime().settings)


def readiness_panel() -> None:
    state = _state()
    if state.ready:
        st.success("Ready to serve: the store, its schema, Chroma and the trace writer answer.")
    else:
        names = ", ".join(c.name for c in state.failing)
        st.error(f"Not ready: {names}. `llmops db doctor` on the server says the same.")
    st.dataframe(
        [
            {
                "check": c.name,
                "status": "ok" if c.ok else ("failing" if c.required else "attention"),
                "detail": c.detail,
                "needed to serve": "yes" if c.required else "no",
            }
            for c in state.checks
        ],
        hide_index=True,
        width="stretch",
    )
    cols = st.columns(4)
    cols[0].metric("Knowledge-base version", state.kb_version if state.kb_version else "—")
    cols[1].metric("Last trace stored", state.last_trace_at or "—")
    w = state.writer or {}
    cols[2].metric("Writer queue", f"{w.get('queued', 0):,}", help="Records waiting to be stored.")
    cols[3].metric("Spool files", f"{w.get('spool_files', 0):,}")
    st.caption(
        f"Trace writer (this process): {w.get('written', 0):,} records stored, last batch "
        f"{w.get('last_write_at') or 'none yet'}; {w.get('dropped', 0) + w.get('refused', 0):,} "
        "lost."
    )


def otlp_panel() -> None:
    export = _state().otlp
    if not export.get("enabled"):
        st.caption(
            "Not exporting: set `LLMOPS_OTLP_ENDPOINT` to send every stored trace to Jaeger, "
            "Phoenix, Langfuse or an OpenTelemetry collector (docs/tracing-export.md)."
        )
        return
    stats = export.get("stats") or {}
    st.write(
        f"Exporting to `{export['endpoint']}`"
        + (
            f" with headers {', '.join(export['headers'])} (values hidden)"
            if export["headers"]
            else ""
        )
    )
    cols = st.columns(4)
    cols[0].metric("Spans exported", f"{stats.get('exported', 0):,}", help="By this process.")
    cols[1].metric("Dropped (this process)", f"{stats.get('dropped', 0):,}")
    cols[2].metric("Not delivered, 24 h", f"{export.get('dropped_24h') or 0:,}",
                   help="All processes (tracing_incidents); the store has them.")  # fmt: skip
    cols[3].metric("Queued", f"{stats.get('queued', 0):,}")
    if stats.get("last_error"):
        st.warning(f"Last export failed: {stats['last_error']}")


def config_panel() -> None:
    st.caption(
        "Read from the environment and `.streamlit/secrets.toml` at start-up; change them "
        "there and restart. Keys, password hashes, tokens in URLs and header values are masked."
    )
    st.dataframe(_config(), hide_index=True, width="stretch")


def refresh() -> None:
    _state.clear()
    _config.clear()
