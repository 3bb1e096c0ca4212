"""Audit: every state change (filter, page, export), erasure of a person's data, retention."""

import streamlit as st

from llmops.governance.roles import Capability
from llmops.ui import auth, governance

auth.require_page(Capability.AUDIT)
st.title("Audit and data governance")
{
    "Audit log": governance.audit_section,
    "Erasure": governance.erasure_section,
    "Retention": governance.retention_section,
}[governance.section_picker()]()
