"""Feedback: what users like and dislike, and why; the turns behind it; exports."""

import streamlit as st

from llmops.ui import auth, feedback

auth.require_page()
st.title("Feedback")
view = feedback.filter_bar()
feedback.summary(view)
feedback.comments(view)
feedback.exports(view)
