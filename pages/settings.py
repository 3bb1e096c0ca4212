"""Settings: is this replica ready to serve, where do traces go, and how is it configured
(secrets masked). The same readiness as `llmops db doctor`."""

import streamlit as st

from llmops.governance.roles import Capability
from llmops.ui import auth, settings

auth.require_page(Capability.SETTINGS)
st.title("Settings")
st.button("Check again", on_click=settings.refresh)
st.subheader("Readiness")
settings.readiness_panel()
st.subheader("OpenTelemetry export")
settings.otlp_panel()
st.subheader("Effective configuration")
settings.config_panel()
