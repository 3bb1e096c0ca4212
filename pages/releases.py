"""Releases: the list with labels and traffic, create, diff, promote and roll back, the canary
with its comparison and automatic-rollback rules, the playground, and the label history."""

import streamlit as st

from llmops.ui import auth, releases

auth.require_page()
st.title("Releases")
pair = st.query_params.get("diff")
if pair and "," in pair:
    releases.show_diff(*pair.split(",", 1))
else:
    {
        "Releases": releases.releases_section,
        "New release": releases.new_release,
        "Diff": releases.diff_section,
        "Canary": releases.canary_section,
        "Playground": releases.playground_section,
        "History": releases.history_section,
    }[releases.section_picker()]()
