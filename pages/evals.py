"""Evaluations: datasets, runs of a release over a dataset, comparisons, suggested cases."""

import streamlit as st

from llmops.ui import auth, evals

auth.require_page()
st.title("Evaluations")
run_id = st.query_params.get("run")
pair = st.query_params.get("compare")
if run_id:
    evals.run_detail(run_id)
elif pair and "," in pair:
    evals.compare_view(*pair.split(",", 1))
else:
    section = evals.section_picker()
    {
        "Datasets": evals.datasets_section,
        "New run": evals.new_run,
        "Runs": evals.runs_section,
        "Compare": evals.compare_section,
        "Suggestions": evals.suggestions_section,
    }[section]()
