"""Traces: every chat turn, newest first, filtered and paged in SQL; a trace's span tree."""

import streamlit as st

from llmops.ui import auth, traces

auth.require_page()
st.title("Traces")
trace_id = st.query_params.get("trace")
if trace_id:
    traces.trace_detail(trace_id)
else:
    traces.trace_list(traces.filter_bar())
