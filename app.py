"""llmops: the router and the frame. Pages live in pages/ and are registered here explicitly.

The Console pages are registered only for a signed-in admin: for anyone else they do not
exist. Their URLs instead lead to the sign-in page, so a deep link such as
``/traces?trace=<id>`` opens the trace right after signing in.
"""

import streamlit as st

import llmops  # noqa: F401  (offline environment first)
from llmops.ui import auth

st.set_page_config(page_title="llmops", page_icon="💬", layout="wide")

CONSOLE = [
    ("pages/overview.py", "Overview", "📈", "overview"),
    ("pages/traces.py", "Traces", "🔎", "traces"),
    ("pages/sessions.py", "Sessions", "🧵", "sessions"),
    ("pages/feedback.py", "Feedback", "👍", "feedback"),
    ("pages/guardrails.py", "Guardrails", "🛡️", "guardrails"),
    ("pages/evals.py", "Evaluations", "🧪", "evals"),
    ("pages/releases.py", "Releases", "🚀", "releases"),
    ("pages/review.py", "Review", "✅", "review"),
    ("pages/knowledge.py", "Knowledge", "📚", "knowledge"),
    ("pages/safety.py", "Safety", "🧯", "safety"),
    ("pages/audit.py", "Audit", "📜", "audit"),
    ("pages/settings.py", "Settings", "⚙️", "settings"),
]

chat = st.Page("pages/chat.py", title="Chat", icon="💬", default=True, url_path="ask")
# the chat lives at "/"; "/chat" (a bookmark, a guess) opens it there
to_chat = st.Page(lambda: st.switch_page(chat), title="Chat", url_path="chat", visibility="hidden")
if auth.is_admin():
    console = [st.Page(path, title=t, icon=i, url_path=u) for path, t, i, u in CONSOLE]
    # signed in on the sign-in page (or back to it): the console opens on its first page
    home = console[0]
    console.append(
        st.Page(
            lambda: st.switch_page(home), title="Sign in", url_path="signin", visibility="hidden"
        )
    )
else:
    signin = "pages/signin.py"
    console = [st.Page(signin, title="Sign in", icon="🔐", url_path="signin")]
    console += [
        st.Page(signin, title="Sign in", url_path=u, visibility="hidden") for *_, u in CONSOLE
    ]

nav = st.navigation({"Chat": [chat, to_chat], "Console": console})

with st.sidebar:
    st.caption("Answers come from the knowledge base on this server; nothing leaves it.")
    if auth.is_admin():
        st.button("Sign out of the console", on_click=auth.sign_out)

nav.run()
