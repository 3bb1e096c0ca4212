"""Overview: is the assistant healthy? Volume, errors, latency, cost, feedback and guard
rates over a range, by release or model, with alerts and a drill-down into the traces."""

import streamlit as st

from llmops.ui import auth, overview

auth.require_page()
st.title("Overview")
flt = overview.filter_bar()
overview.dashboard(flt)
with st.expander("Alert rules and history"):
    overview.alerts_panel()
with st.expander("Model prices"):
    overview.prices_panel()
