"""Safety: red-team scans per release over time, attack success rates with intervals,
findings linked to their traces, new scans run in the background, bias probe runs, and the
risk report of a release."""

import streamlit as st

from llmops.ui import auth, risk, safety

auth.require_page()
st.title("Safety")
scan = st.query_params.get("scan")
if scan:
    safety.scan_detail(scan)
else:
    {
        "Scans": safety.scans_section,
        "Run a scan": safety.run_section,
        "Bias probes": safety.bias_section,
        "Risk report": risk.report_section,
    }[safety.section_picker()]()
