"""The chat page as a conversation (AppTest, real runtime): a follow-up answered from the
session's history, "New conversation" forgets it; greetings; clean sources."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from llmops.smalltalk import REPLIES

pytestmark = pytest.mark.ui


def _ask(at: AppTest, text: str) -> dict:
    at.chat_input[0].set_value(text).run()
    assert not at.exception, at.exception
    return at.session_state["chat_messages"][-1]


def _sources(msg: dict) -> set[str]:
    return {c["source"] for c in msg["citations"]}


def test_follow_up_uses_the_conversation_and_new_conversation_forgets(app: AppTest) -> None:
    app.run()
    _ask(app, "What is prompt injection?")
    follow = _ask(app, "How do I prevent it?")
    assert "en/risk-mitigation-and-guardrails.md" in _sources(follow)
    assert "injection" in follow["content"].lower()

    app.button[0].click().run()  # New conversation
    assert app.session_state["chat_messages"] == []
    again = _ask(app, "How do I prevent it?")
    assert "injection" not in again["content"].lower()


def test_greeting_in_spanish_and_english(app: AppTest) -> None:
    app.run()
    assert _ask(app, "hola")["content"] == REPLIES["greeting"]["es"]
    assert app.chat_message[-1].markdown[0].value.startswith("¡Hola!")
    assert _ask(app, "thank you!")["content"] == REPLIES["thanks"]["en"]


def test_sources_are_plain_text_numbered_as_cited(app: AppTest) -> None:
    app.run()
    msg = _ask(app, "What is a canary release?")
    numbers = [c["n"] for c in msg["citations"]]
    assert numbers == list(range(1, len(numbers) + 1))
    for n in numbers:
        assert f"[{n}]" in msg["content"]
    texts = [m.value for m in app.expander[-1].markdown]
    assert texts and not any(t.lstrip().startswith("#") for t in texts)
    assert any(":orange-background[" in t for t in texts)  # the quoted sentences
    assert all("##" not in c["snippet"] for c in msg["citations"])
