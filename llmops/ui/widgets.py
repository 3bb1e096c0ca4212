"""Widgets shared by the console pages."""

from __future__ import annotations

import streamlit as st


def pager(state_key: str, page: int, *, more: bool, caption: str) -> None:
    """← Newer / Older → buttons around a caption; the page number lives in session state
    under ``state_key`` (newest first: page 0 is the newest)."""
    prev, info, nxt = st.columns([1, 3, 1])
    if prev.button("← Newer", disabled=page == 0, key=f"{state_key}_prev"):
        st.session_state[state_key] = page - 1
        st.rerun()
    info.caption(caption)
    if nxt.button("Older →", disabled=not more, key=f"{state_key}_next"):
        st.session_state[state_key] = page + 1
        st.rerun()


def page_count(total: int, size: int) -> int:
    return max(1, -(-total // size))
