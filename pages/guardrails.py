"""Guardrails: violations over time, what was blocked, fixed or flagged, and guard quality."""

import streamlit as st

from llmops.ui import auth, guardrails

auth.require_page()
st.title("Guardrails")
flt, unit = guardrails.filter_bar()
guardrails.overview(flt, unit)
guardrails.event_list(flt)
guardrails.evaluations()
