"""Review: human review queues, reviewing one item at a time, agreement and exports, and the
guided improvement loop."""

import streamlit as st

from llmops.governance.roles import Capability
from llmops.ui import auth, review

auth.require_page(Capability.REVIEW)
st.title("Review and improve")
{
    "Queues": review.queues_section,
    "Review": review.review_section,
    "Results": review.results_section,
    "Improvements": review.improvements_section,
}[review.section_picker()]()
