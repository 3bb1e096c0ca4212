"""Chat page widgets: conversation state, message rendering, thumbs and comments."""

from __future__ import annotations

import re
import uuid
from typing import Any

import streamlit as st

from llmops import feedback
from llmops.chat import Turn
from llmops.errors import UserFacingError
from llmops.ui.deps import runtime

MESSAGES_KEY = "chat_messages"
SESSION_KEY = "chat_session_id"
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|>~<])")


def escape_md(text: str) -> str:
    """Show user text literally (no markdown, no links or images)."""
    return _MD_SPECIAL.sub(r"\\\1", text)


def session_id() -> str:
    if SESSION_KEY not in st.session_state:
        st.session_state[SESSION_KEY] = uuid.uuid4().hex
    return str(st.session_state[SESSION_KEY])


def messages() -> list[dict[str, Any]]:
    return st.session_state.setdefault(MESSAGES_KEY, [])  # type: ignore[no-any-return]


def new_conversation() -> None:
    st.session_state[MESSAGES_KEY] = []
    st.session_state[SESSION_KEY] = uuid.uuid4().hex


def current_user() -> str | None:
    try:
        if st.user.is_logged_in:
            return str(st.user.get("email") or "") or None
    except Exception:  # noqa: BLE001 - st.user needs auth configured
        return None
    return None


def assistant_message(turn: Turn) -> dict[str, Any]:
    return {
        "role": "assistant",
        "content": turn.answer,
        "trace_id": turn.trace_id,
        "citations": [c.__dict__ for c in turn.citations],
        "release": turn.release_name or turn.release,
        "release_id": turn.release,
        "status": turn.status,
    }


def _on_thumb(trace_id: str) -> None:
    value = st.session_state.get(f"thumb_{trace_id}")
    if value is None:
        return
    rt = runtime()
    try:
        fid = feedback.record(
            rt.db, trace_id, float(value), user_id=current_user(), tracer=rt.tracer
        )
        st.session_state[f"fbid_{trace_id}"] = fid
    except UserFacingError as exc:
        st.session_state[f"fberr_{trace_id}"] = str(exc)


def _send_comment(trace_id: str) -> None:
    fid = st.session_state.get(f"fbid_{trace_id}")
    text = st.session_state.get(f"comment_{trace_id}", "")
    if fid is None or not text.strip():
        return
    try:
        feedback.set_comment(runtime().db, fid, text)
        st.session_state[f"commented_{trace_id}"] = True
    except UserFacingError as exc:
        st.session_state[f"fberr_{trace_id}"] = str(exc)


def render_citations(citations: list[dict[str, Any]]) -> None:
    if not citations:
        return
    with st.expander(f"Sources ({len(citations)})"):
        for c in citations:
            st.markdown(
                f"**[{c['n']}] {escape_md(c['title'] or c['source'])}** · `{c['source']}` "
                f"· score {c['score']:.2f}"
            )
            st.caption(c["snippet"])


def render_feedback(trace_id: str) -> None:
    st.feedback("thumbs", key=f"thumb_{trace_id}", on_change=_on_thumb, args=(trace_id,))
    if err := st.session_state.pop(f"fberr_{trace_id}", None):
        st.error(err)
    if st.session_state.get(f"thumb_{trace_id}") == 0 and f"fbid_{trace_id}" in st.session_state:
        if st.session_state.get(f"commented_{trace_id}"):
            st.caption("Thanks — your comment was recorded.")
        else:
            st.text_area("What was wrong? (optional)", key=f"comment_{trace_id}", max_chars=4000)
            st.button(
                "Send comment", key=f"send_{trace_id}", on_click=_send_comment, args=(trace_id,)
            )


def render_message(msg: dict[str, Any]) -> None:
    with st.chat_message(msg["role"]):
        if msg["role"] == "user":
            st.markdown(escape_md(msg["content"]))
            return
        st.markdown(msg["content"])
        render_citations(msg.get("citations") or [])
        st.caption(f"release {msg.get('release')} · trace `{msg['trace_id']}`")
        render_feedback(msg["trace_id"])
