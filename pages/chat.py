"""Chat: ask the assistant; answers stream with their sources and take thumbs feedback."""

import streamlit as st

from llmops.ui import auth, chat
from llmops.ui.deps import runtime

auth.route_through_app()  # a fresh server's first request, /chat: through app.py's navigation

rt = runtime()
history = chat.messages()

head, action = st.columns([5, 1], vertical_alignment="bottom")
head.title("Ask about LLMOps")
if action.button("New conversation", disabled=not history):
    chat.new_conversation()
    st.rerun()

if not history:
    st.caption("Answers are built from the knowledge base, with their sources. English or Spanish.")

for message in history:
    chat.render_message(message)

# no max_chars: the browser would drop a longer paste silently; the turn answers with the limit
prompt = st.chat_input("Ask a question…")
if prompt is not None:
    # streamed through safe_markdown; a Stop or rerun mid-answer closes the turn at once
    # started inside the answer's bubble, so its status shows while a fresh server warms up
    chat.answer(
        lambda: rt.chat.respond(prompt, session_id=chat.session_id(), user_id=chat.current_user()),
        prompt,
    )
    st.rerun()
