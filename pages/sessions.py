"""Sessions: conversations and users, paged in SQL; a session as its whole conversation."""

import streamlit as st

from llmops.ui import auth, sessions

auth.require_page()
st.title("Sessions")
session_id = st.query_params.get("session")
if session_id:
    sessions.conversation(session_id)
else:
    {"Sessions": sessions.sessions_section, "Users": sessions.users_section}[
        sessions.SECTIONS.pick()
    ]()
