"""Shared console widgets."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

pytestmark = pytest.mark.ui


def _sections_app() -> None:
    import streamlit as st

    from llmops.ui.widgets import Sections

    st.write("showing " + Sections("x", ["A", "B", "C"]).pick())


def test_clicking_the_selected_section_keeps_it() -> None:
    at = AppTest.from_function(_sections_app).run()
    assert at.markdown[0].value == "showing A"
    at.button_group[0].set_value("B").run()
    assert at.markdown[0].value == "showing B"
    at.button_group[0].set_value(None).run()  # what a click on the selected "B" sends
    assert at.markdown[0].value == "showing B"
    assert at.button_group[0].value == "B"  # and the control still shows it selected


def test_a_page_opened_anew_starts_at_its_first_section() -> None:
    at = AppTest.from_function(_sections_app)
    # back on the page: the control's state was dropped while another page was shown, the
    # section last shown is still remembered
    at.session_state["x_section_last"] = "C"
    at.run()
    assert at.markdown[0].value == "showing A"
