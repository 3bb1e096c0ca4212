"""The main journeys in a real browser: chat → thumbs-down + comment → admin → that trace."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from llmops.store.db import Database
from llmops.store.models import Feedback, Trace

from .conftest import ADMIN_PASSWORD, ARTIFACTS

pytestmark = pytest.mark.e2e


def _ask(page: Any, question: str) -> Any:
    box = page.get_by_test_id("stChatInputTextArea")
    box.fill(question)
    box.press("Enter")
    answer = page.get_by_test_id("stChatMessage").nth(1)
    answer.get_by_text(re.compile(r"\[1\]")).first.wait_for()
    page.get_by_test_id("stFeedback").first.wait_for()
    return answer


def _store(home: Path) -> Database:
    return Database(f"sqlite:///{home / 'llmops.db'}")


def test_chat_thumbs_down_comment_then_admin_finds_the_trace(
    page: Any, server: str, e2e_home: Path
) -> None:
    page.goto(server)
    page.get_by_text("Ask about LLMOps").wait_for()
    answer = _ask(page, "What is LLMOps?")
    assert "LLMOps" in answer.inner_text()
    page.get_by_text(re.compile(r"^Sources \(\d+\)")).first.wait_for()
    caption = page.get_by_text(re.compile(r"trace [0-9a-f]{32}")).first.inner_text()
    trace_id = re.search(r"[0-9a-f]{32}", caption).group(0)  # type: ignore[union-attr]

    page.get_by_test_id("stFeedback").first.get_by_role("radio").nth(1).click()
    comment = page.get_by_label("What was wrong? (optional)")
    comment.fill("Please mention canary releases")
    comment.press("Control+Enter")
    page.get_by_role("button", name="Send comment").click()
    page.get_by_text("Thanks — your comment was recorded.").wait_for()

    db = _store(e2e_home)
    with db.session() as s:
        rows = s.scalars(select(Feedback).where(Feedback.trace_id == trace_id)).all()
        assert [(r.score, r.comment) for r in rows] == [(0.0, "Please mention canary releases")]
        assert s.get(Trace, trace_id) is not None
    db.dispose()

    page.goto(f"{server}/signin")
    page.get_by_label("Password", exact=True).fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("button", name="Sign out of the console").wait_for()
    page.get_by_role("link", name="Traces").click()
    page.get_by_role("heading", name="Traces").wait_for()
    page.get_by_test_id("stDataFrame").wait_for()
    page.get_by_label("Search input, output or trace id").fill(trace_id)
    page.keyboard.press("Enter")
    page.get_by_text(re.compile(r"Page 1 of 1 · 1 traces")).wait_for()

    page.goto(f"{server}/traces?trace={trace_id}")  # a new session: sign in again
    page.get_by_label("Password", exact=True).fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_text(f"Trace {trace_id}").first.wait_for()
    page.get_by_test_id("stVegaLiteChart").first.wait_for()
    page.get_by_text("Please mention canary releases").first.wait_for()
    assert page.get_by_text(re.compile(r"KnowledgeRetriever · retriever")).count() >= 1


def test_console_is_unreachable_without_signing_in(page: Any, server: str) -> None:
    page.goto(f"{server}/traces")
    page.get_by_role("heading", name="Console sign-in").wait_for()
    page.get_by_label("Password", exact=True).wait_for()
    assert page.get_by_role("heading", name="Traces").count() == 0
    assert page.get_by_role("link", name="Traces").count() == 0


@pytest.mark.parametrize("path", ["traces", "overview", "evals"])
def test_a_fresh_servers_first_request_for_a_console_page_is_refused(
    browser: Any, fresh_server: str, path: str
) -> None:
    """Before app.py has run once, Streamlit answers /<page> by running pages/<page>.py
    directly; the page hands the request to app.py, which shows the sign-in form."""
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(30_000)
    try:
        page.goto(f"{fresh_server}/{path}")
        page.get_by_role("heading", name="Console sign-in").wait_for()
        page.get_by_label("Password", exact=True).wait_for()
        assert (
            page.get_by_role("heading", name=re.compile("Traces|Overview|Evaluations")).count() == 0
        )
    finally:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"fresh-server-{path}.png"), full_page=True)
        context.close()


def test_deep_link_opens_the_trace_after_sign_in(page: Any, server: str) -> None:
    page.goto(f"{server}/traces?trace={'f' * 32}")
    page.get_by_label("Password", exact=True).fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="Traces").wait_for()
    page.get_by_text(re.compile("not found")).first.wait_for()
