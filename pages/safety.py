"""Safety: red-team scans per release over time, attack success rates with intervals,
findings linked to their traces, and new scans run in the background."""

import streamlit as st

from llmops.ui import auth, safety

auth.require_page()
st.title("Safety")
scan = st.query_params.get("scan")
if scan:
    safety.scan_detail(scan)
else:
    {"Scans": safety.scans_section, "Run a scan": safety.run_section}[safety.section_picker()]()
