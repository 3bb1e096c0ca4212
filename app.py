"""llmops: the router and the frame. Pages live in pages/ and are registered here explicitly.

The Console pages are registered only for a signed-in account whose role may open them
(``llmops.governance.roles``): for anyone else they do not exist. Signed out, their URLs
lead to the sign-in page, so a deep link such as ``/traces?trace=<id>`` opens the trace
right after signing in.
"""

import streamlit as st

import llmops  # noqa: F401  (offline environment first)
from llmops.governance.roles import Capability
from llmops.ui import auth

st.set_page_config(page_title="llmops", page_icon="💬", layout="wide")

SEE = Capability.DASHBOARDS
CONSOLE = [  # path, title, icon, URL, what a role needs to see the page
    ("pages/overview.py", "Overview", "📈", "overview", SEE),
    ("pages/traces.py", "Traces", "🔎", "traces", Capability.TRACES),
    ("pages/sessions.py", "Sessions", "🧵", "sessions", Capability.TRACES),
    ("pages/feedback.py", "Feedback", "👍", "feedback", SEE),
    ("pages/guardrails.py", "Guardrails", "🛡️", "guardrails", SEE),
    ("pages/evals.py", "Evaluations", "🧪", "evals", SEE),
    ("pages/releases.py", "Releases", "🚀", "releases", SEE),
    ("pages/review.py", "Review", "✅", "review", Capability.REVIEW),
    ("pages/knowledge.py", "Knowledge", "📚", "knowledge", SEE),
    ("pages/safety.py", "Safety", "🧯", "safety", SEE),
    ("pages/audit.py", "Audit", "📜", "audit", Capability.AUDIT),
    ("pages/settings.py", "Settings", "⚙️", "settings", Capability.SETTINGS),
]

chat = st.Page("pages/chat.py", title="Chat", icon="💬", default=True, url_path="ask")
# the chat lives at "/"; "/chat" (a bookmark, a guess) opens it there
to_chat = st.Page(lambda: st.switch_page(chat), title="Chat", url_path="chat", visibility="hidden")
me = auth.current_actor()
if me is not None:
    console = [
        st.Page(path, title=t, icon=i, url_path=u) for path, t, i, u, cap in CONSOLE if me.can(cap)
    ]
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
        st.Page(signin, title="Sign in", url_path=u, visibility="hidden") for *_, u, _ in CONSOLE
    ]

nav = st.navigation({"Chat": [chat, to_chat], "Console": console})

with st.sidebar:
    st.caption("Answers come from the knowledge base on this server; nothing leaves it.")
    if me is not None:
        st.caption(f"Signed in as **{me.name}** · {me.role.label}")
        st.button("Sign out of the console", on_click=auth.sign_out)

nav.run()
