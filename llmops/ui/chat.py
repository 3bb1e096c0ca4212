"""Chat page widgets: conversation state, message rendering, thumbs and comments.

Everything a model or the knowledge base wrote is shown through ``safe_markdown``, while it
streams and afterwards, so no answer can make the browser fetch a URL.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Any

import streamlit as st

from llmops import feedback
from llmops.chat import ChatStream, Turn
from llmops.errors import UserFacingError
from llmops.markdown import safe_markdown
from llmops.ui.deps import runtime

MESSAGES_KEY = "chat_messages"
SESSION_KEY = "chat_session_id"
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|>~<])")
# shown until the first chunk arrives: plain text and an hourglass, not ":shimmer[...]", whose
# fading text left the bubble looking empty while the first answer loaded its models
THINKING = "⏳ _Thinking…_"
INTERRUPTED = "The answer was interrupted."


def escape_md(text: str) -> str:
    """Show user text literally (no markdown, no links or images)."""
    return _MD_SPECIAL.sub(r"\\\1", text)


def render_user_text(text: str) -> None:
    st.markdown(safe_markdown(escape_md(text)))  # escape_md leaves ":material_x:" an icon


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


def stream_answer(stream: ChatStream | Callable[[], ChatStream]) -> Turn | None:
    """Show a streamed answer chunk by chunk (sanitised as a whole each time) in one
    placeholder, and close the stream however this ends: a Stop or a rerun raises out of
    the loop, and closing at once stores the turn as ``cancelled``. Returns the turn, or
    None if it never started.

    ``stream`` may be a callable that starts the turn: the status is then on screen while
    the first turn on a fresh server builds the chat service (models, guards)."""
    box = st.empty()
    box.markdown(THINKING)
    if not isinstance(stream, ChatStream):
        stream = stream()
    shown = ""
    try:
        for chunk in stream:
            if chunk:
                shown += chunk
                box.markdown(safe_markdown(shown))
    finally:
        stream.close()
    return stream.turn


def answer(start: Callable[[], ChatStream], prompt: str) -> None:
    """One chat turn on the page: the question, the streamed answer, then both kept in the
    conversation (an interrupted answer too, with what it had shown)."""
    # Taken now: once a Stop is requested, every st.session_state access raises again.
    history = messages()
    with st.chat_message("user"):
        render_user_text(prompt)
    started: list[ChatStream] = []

    def begin() -> ChatStream:
        started.append(start())
        return started[0]

    try:
        with st.chat_message("assistant"):
            stream_answer(begin)
    finally:
        turn = started[0].turn if started else None
        if turn is not None:
            history.append({"role": "user", "content": prompt})
            history.append(assistant_message(turn))


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


def highlighted_snippet(snippet: str, quotes: list[str]) -> str:
    """The snippet as literal text (markdown escaped) with the quoted sentences marked."""
    out = escape_md(snippet)
    for quote in quotes:
        lit = escape_md(quote)
        out = out.replace(lit, f"**:orange-background[{lit}]**", 1)
    return out


def render_citations(citations: list[dict[str, Any]]) -> None:
    """Each cited source: number, title, file and score, then its passage as plain text
    with the sentences the answer quoted highlighted."""
    if not citations:
        return
    with st.expander(f"Sources ({len(citations)})"):
        for c in citations:
            title = str(c.get("title") or c["source"]).lstrip("#").strip()
            st.markdown(
                safe_markdown(
                    f"**[{c['n']}] {escape_md(title)}** · `{c['source']}` · score {c['score']:.2f}"
                )
            )
            quotes = list(c.get("quotes") or [])
            st.markdown(safe_markdown(highlighted_snippet(str(c.get("snippet") or ""), quotes)))


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
            render_user_text(msg["content"])
            return
        st.markdown(safe_markdown(msg["content"]))
        if msg.get("status") == "cancelled":
            st.caption(INTERRUPTED)
        render_citations(msg.get("citations") or [])
        st.caption(f"release {msg.get('release')} · trace `{msg['trace_id']}`")
        render_feedback(msg["trace_id"])
