"""Widgets shared by the console pages."""

from __future__ import annotations

import streamlit as st

from llmops.errors import UserFacingError


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


def actor() -> str:
    """Who is acting in the console (for audit rows)."""
    from llmops.ui.chat import current_user

    return current_user() or "admin"


def show_error(exc: UserFacingError) -> None:
    st.error(exc.message)
    if exc.hint:
        st.caption(exc.hint)


class Sections:
    """A console page's sections as a segmented control (state under ``{prefix}_section``),
    a message shown after a rerun, and a switch to another section from inside one."""

    def __init__(self, prefix: str, names: list[str]) -> None:
        self.prefix, self.names = prefix, names

    def pick(self) -> str:
        key = f"{self.prefix}_section"
        if f"{self.prefix}_goto" in st.session_state:
            st.session_state[key] = st.session_state.pop(f"{self.prefix}_goto")
        flash = st.session_state.pop(f"{self.prefix}_flash", None)
        if flash:
            st.success(flash)
        # A click on the section already selected clears a segmented control (its state is
        # None): the page stays on the section it was showing instead. A page opened anew
        # (no state: Streamlit dropped it while another page was shown) starts at the first.
        last = f"{self.prefix}_section_last"
        if key in st.session_state and st.session_state[key] is None:
            st.session_state[key] = st.session_state.get(last, self.names[0])
        elif key not in st.session_state:
            st.session_state[key] = self.names[0]
        choice = st.segmented_control("Section", self.names, key=key, label_visibility="collapsed")
        choice = choice or self.names[0]
        st.session_state[last] = choice
        return choice

    def done(self, message: str, go: str | None = None) -> None:
        """Rerun, showing ``message`` (so every table on the page reflects the change)."""
        st.session_state[f"{self.prefix}_flash"] = message
        if go:
            st.session_state[f"{self.prefix}_goto"] = go
        st.rerun()

    def go(self, section: str) -> None:
        st.session_state[f"{self.prefix}_goto"] = section  # the picker is drawn: on rerun
        st.rerun()
