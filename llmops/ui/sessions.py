"""Sessions page widgets: the paged list of sessions and of users, and one session as the
whole conversation with each turn's trace one click away."""

from __future__ import annotations

from typing import Any

import streamlit as st

from llmops import console
from llmops.markdown import safe_markdown
from llmops.monitoring import sessions as sm
from llmops.ui.chat import escape_md
from llmops.ui.deps import runtime
from llmops.ui.overview import release_names
from llmops.ui.widgets import Sections, pager

PAGE_SIZE = sm.PAGE
SECTIONS = Sections("ss", ["Sessions", "Users"])


def _range() -> tuple[str, Any]:
    when = st.selectbox("Time range", list(console.TIME_RANGES), index=2, key="ss_range")
    return when, console.since_for(when)


def _rated(g: sm.Group) -> str:
    return console.feedback_label(g.thumbs_up, g.thumbs_down)


def _paged(key: str, marker: tuple[Any, ...]) -> int:
    if st.session_state.get(f"{key}_of") != marker:  # new filters start at the first page
        st.session_state[f"{key}_of"] = marker
        st.session_state[key] = 0
    return int(st.session_state.get(key, 0))


def sessions_section() -> None:
    when, since = _range()
    user = st.query_params.get("user")
    if user:
        st.caption(f"Sessions of user `{user}`")
    page = _paged("ss_page", (when, user))
    rows, more = sm.list_sessions(
        runtime().db, since=since, user_id=user, limit=PAGE_SIZE, offset=page * PAGE_SIZE
    )
    if not rows:
        st.info("No sessions in this range.")
        return
    st.dataframe(
        [
            {"session": f"/sessions?session={g.key}", "last": f"{g.last_at:%Y-%m-%d %H:%M}",
             "first": f"{g.first_at:%Y-%m-%d %H:%M}", "turns": g.turns, "users": g.others,
             "feedback": _rated(g), "violations": g.violations, "errors": g.errors,
             "cost $": round(g.cost, 6)}
            for g in rows
        ],
        hide_index=True,
        width="stretch",
        key="ss_table",
        column_config={"session": st.column_config.LinkColumn(
            "session", display_text=r"/sessions\?session=(.{0,12}).*")},
    )  # fmt: skip
    pager("ss_page", page, more=more, caption=f"Page {page + 1}")


def users_section() -> None:
    when, since = _range()
    page = _paged("us_page", (when,))
    rows, more = sm.list_users(runtime().db, since=since, limit=PAGE_SIZE, offset=page * PAGE_SIZE)
    st.caption("User ids as stored: hashed or as given, as LLMOPS_USER_ID_MODE says.")
    if not rows:
        st.info("No signed-in users in this range.")
        return
    st.dataframe(
        [
            {"user": g.key, "sessions": f"/sessions?user={g.key}", "turns": g.turns,
             "session count": g.others, "feedback": _rated(g), "violations": g.violations,
             "errors": g.errors, "cost $": round(g.cost, 6),
             "last": f"{g.last_at:%Y-%m-%d %H:%M}"}
            for g in rows
        ],
        hide_index=True,
        width="stretch",
        key="us_table",
        column_config={"sessions": st.column_config.LinkColumn("sessions", display_text="open")},
    )  # fmt: skip
    pager("us_page", page, more=more, caption=f"Page {page + 1}")


def conversation(session_id: str) -> None:
    """One session as its conversation, oldest turn first."""
    if st.button("← All sessions", key="ss_back"):
        del st.query_params["session"]
        st.rerun()
    turns, more = sm.session_turns(runtime().db, session_id)
    if not turns:
        st.error(f"Session `{session_id}` not found.")
        return
    names = release_names()
    users = sorted({t.user_id for t in turns if t.user_id})
    cost = sum(t.cost for t in turns)
    st.subheader(f"Session `{session_id}`")
    st.caption(
        f"{len(turns)} turn(s){'+' if more else ''} · {turns[0].started_at:%Y-%m-%d %H:%M} → "
        f"{turns[-1].started_at:%Y-%m-%d %H:%M} UTC · users {', '.join(users) or '—'} · "
        f"cost ${cost:.6f}"
    )
    for t in turns:
        with st.chat_message("user"):
            st.markdown(safe_markdown(escape_md(t.input or "")))
        with st.chat_message("assistant"):
            st.markdown(safe_markdown(t.output or ""))
            bits = [f"{t.started_at:%H:%M:%S}", t.status, f"{t.latency_ms or 0:.0f} ms",
                    names.get(t.release_id or "", t.release_id or "—"), t.model or "—"]  # fmt: skip
            bits += ["👍" if s >= 0.5 else "👎" + (f" “{c}”" if c else "") for s, c in t.feedback]
            bits += [f"⚠️ {v}" for v in t.violations]
            st.caption(" · ".join(bits))
            # in this browser session: the trace opens without signing in again
            st.page_link("pages/traces.py", label="Open trace →",
                         query_params={"trace": t.trace_id}, help=f"trace {t.trace_id}")  # fmt: skip
    if more:
        st.caption("Only the first 200 turns are shown.")
