"""Console sign-in for admins."""

import streamlit as st

from llmops.ui import auth

st.title("Console sign-in")
st.caption("The console (traces, feedback, releases) is for the people who run this assistant.")
auth.sign_in_panel()
