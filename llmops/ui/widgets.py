"""Widgets shared by the console pages."""

from __future__ import annotations

import streamlit as st

from llmops.errors import UserFacingError
from llmops.governance.roles import Actor, Capability, Role


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


def offset_pager(state_key: str, total: int, size: int) -> int:
    """← Previous / Next → buttons around "Page k of n · rows"; the offset of the page to
    show (the page number lives in session state under ``state_key``)."""
    pages = page_count(total, size)
    page = min(st.session_state.get(state_key, 0), pages - 1)
    prev, info, nxt = st.columns([1, 3, 1])
    if prev.button("← Previous", disabled=page == 0, key=f"{state_key}_prev"):
        st.session_state[state_key] = page - 1
        st.rerun()
    info.caption(f"Page {page + 1} of {pages} · {total:,} rows")
    if nxt.button("Next →", disabled=page + 1 >= pages, key=f"{state_key}_next"):
        st.session_state[state_key] = page + 1
        st.rerun()
    return page * size


def actor() -> Actor:
    """Who is acting in the console, with their role: every library action the console
    calls gets it and checks the role (``llmops.governance.roles.require``). Nobody signed in
    (a page stopped before this) is a viewer, so nothing changes by mistake."""
    from llmops.ui.auth import current_actor

    return current_actor() or Actor("anonymous", Role.VIEWER)


def actor_name() -> str:
    """The signed-in account's name (as a user id on feedback and playground turns)."""
    return actor().name


def show_error(exc: UserFacingError) -> None:
    st.error(exc.message)
    if exc.hint:
        st.caption(exc.hint)


class Sections:
    """A console page's sections as a segmented control (state under ``{prefix}_section``),
    a message shown after a rerun, and a switch to another section from inside one."""

    def __init__(
        self, prefix: str, names: list[str], needs: dict[str, Capability] | None = None
    ) -> None:
        self.prefix, self.all_names, self.needs = prefix, names, needs or {}

    @property
    def names(self) -> list[str]:
        """The sections the signed-in role may use (``needs``: what a section requires)."""
        from llmops.ui.auth import can

        return [n for n in self.all_names if n not in self.needs or can(self.needs[n])]

    def pick(self) -> str:
        names = self.names
        key = f"{self.prefix}_section"
        if f"{self.prefix}_goto" in st.session_state:
            st.session_state[key] = st.session_state.pop(f"{self.prefix}_goto")
        if st.session_state.get(key) is not None and st.session_state[key] not in names:
            st.session_state[key] = names[0]  # a section this role may not use
        flash = st.session_state.pop(f"{self.prefix}_flash", None)
        if flash:
            st.success(flash)
        # A click on the section already selected clears a segmented control (its state is
        # None): the page stays on the section it was showing instead. A page opened anew
        # (no state: Streamlit dropped it while another page was shown) starts at the first.
        last = f"{self.prefix}_section_last"
        if key in st.session_state and st.session_state[key] is None:
            restored = st.session_state.get(last, names[0])
            st.session_state[key] = restored if restored in names else names[0]
        elif key not in st.session_state:
            st.session_state[key] = names[0]
        choice = st.segmented_control("Section", names, key=key, label_visibility="collapsed")
        choice = choice or names[0]
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
