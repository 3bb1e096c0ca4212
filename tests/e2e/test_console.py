"""Console journeys in a real browser on their own seeded store: the Feedback page's exports
download real files.

The server runs on a copy of the e2e home with demo traffic, so the other journeys' counts
stay untouched. Screenshots go to tests/artifacts/console-*.png.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from llmops import demo
from llmops.config import Settings
from llmops.store.db import Database
from llmops.store.models import Feedback, Span, Trace
from llmops.store.queries import TraceFilter, count_traces

from .conftest import ADMIN_PASSWORD, ARTIFACTS, _streamlit, copy_home, pick_option

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def console_home(e2e_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("console-home") / "home"
    copy_home(e2e_home, home)
    db = Database(Settings(home=home).db_url)
    try:
        end = (datetime.now(UTC) - timedelta(hours=1)).replace(minute=0, second=0, microsecond=0)
        demo.seed(db, traces=400, days=2, seed=11, end=end)
    finally:
        db.dispose()
    return home


@pytest.fixture(scope="module")
def console_server(console_home: Path) -> Iterator[str]:
    with _streamlit(console_home) as url:
        yield url


@pytest.fixture
def store(console_home: Path) -> Iterator[Database]:
    db = Database(Settings(home=console_home).db_url)
    yield db
    db.dispose()


def _shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"console-{name}.png"), full_page=True)


def _open_signed_in(page: Any, server: str, path: str) -> None:
    page.goto(server)  # the router runs first
    page.get_by_text("Ask about LLMOps").wait_for()
    page.goto(f"{server}/{path}")
    page.get_by_label("Password", exact=True).fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("button", name="Sign out of the console").wait_for()


def test_feedback_exports_download_files(
    page: Any, console_server: str, store: Database, tmp_path: Path
) -> None:
    _open_signed_in(page, console_server, "feedback")
    page.get_by_role("heading", name="Feedback").wait_for()
    with store.session() as s:
        total = s.scalar(select(func.count()).select_from(Feedback))
    assert total

    files: dict[str, bytes] = {}
    for label in ("Feedback (CSV)", "Feedback (JSONL)", "Fine-tuning data (OpenAI chat JSONL)"):
        button = page.get_by_role("button", name=label)
        button.scroll_into_view_if_needed()
        with page.expect_download(timeout=30_000) as info:
            button.click()
        download = info.value
        assert download.failure() is None
        target = tmp_path / download.suggested_filename
        download.save_as(target)
        files[download.suggested_filename] = target.read_bytes()
    _shot(page, "feedback-exports")

    rows = list(csv.DictReader(io.StringIO(files["llmops-feedback.csv"].decode())))
    assert len(rows) == total and {r["thumb"] for r in rows} == {"up", "down"}
    lines = files["llmops-feedback.jsonl"].decode().splitlines()
    assert len(lines) == total and {json.loads(x)["trace_id"] for x in lines}
    tuned = [json.loads(x) for x in files["llmops-finetune.jsonl"].decode().splitlines()]
    assert tuned and all(
        [m["role"] for m in t["messages"]] == ["system", "user", "assistant"] for t in tuned
    )


def test_a_long_paste_gets_the_limit_message_in_the_chat(
    page: Any, console_server: str, store: Database
) -> None:
    """10,000 characters pasted into the chat box: the user sees the limit in the chat (not an
    empty box), and the turn is a complete trace."""
    page.goto(console_server)
    page.get_by_text("Ask about LLMOps").wait_for()
    box = page.get_by_test_id("stChatInputTextArea")
    box.click()
    text = ("How do I roll back a canary release? " * 300)[:10_000]
    page.keyboard.insert_text(text)  # what a paste does: one input event
    box.press("Enter")
    answer = page.get_by_test_id("stChatMessage").nth(1)
    answer.get_by_text("Your message is 10,000 characters long; the limit is 4,000.").wait_for()
    _shot(page, "long-paste")
    caption = answer.get_by_text(re.compile(r"trace [0-9a-f]{32}")).first.inner_text()
    trace_id = re.search(r"[0-9a-f]{32}", caption).group(0)  # type: ignore[union-attr]
    with store.session() as s:
        trace = s.get(Trace, trace_id)
        assert trace is not None and trace.status == "invalid_input"
        assert trace.error == "too_long" and len(trace.input or "") == 10_000
        spans = s.scalars(select(Span).where(Span.trace_id == trace_id)).all()
        check = next(sp for sp in spans if sp.name == "validate:input")
        assert check.attributes["llmops.input.chars"] == 10_000


def test_the_first_answer_shows_it_is_working_until_text_arrives(
    page: Any, console_server: str
) -> None:
    """On a server that has not answered yet (models still loading), the answer's bubble says
    it is working from the moment the question is sent until the first words arrive."""
    page.goto(console_server)
    page.get_by_text("Ask about LLMOps").wait_for()
    box = page.get_by_test_id("stChatInputTextArea")
    box.fill("What is a canary release?")
    box.press("Enter")
    bubble = page.get_by_test_id("stChatMessage").nth(1)
    bubble.get_by_text("Thinking…").wait_for(timeout=5_000)
    _shot(page, "thinking")
    bubble.get_by_text(re.compile(r"\[1\]")).first.wait_for(timeout=120_000)
    assert bubble.get_by_text("Thinking…").count() == 0


def _sign_in_again(page: Any) -> None:
    """A link opened by URL is a new browser session: the console asks again."""
    page.get_by_label("Password", exact=True).fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def test_sessions_then_a_turns_trace_then_the_guard_filter(
    page: Any, console_server: str, store: Database
) -> None:
    _open_signed_in(page, console_server, "sessions")
    page.get_by_role("heading", name="Sessions").wait_for()
    page.get_by_test_id("stDataFrame").first.wait_for()
    _shot(page, "sessions-list")

    week = datetime.now(UTC) - timedelta(days=7)
    with store.session() as s:
        session_id, turns = s.execute(
            select(Trace.session_id, func.count())
            .where(Trace.started_at >= week)
            .group_by(Trace.session_id)
            .having(func.count() >= 2)
            .limit(1)
        ).one()
        total = s.scalar(
            select(func.count()).select_from(Trace).where(Trace.session_id == session_id)
        )
    page.goto(f"{console_server}/sessions?session={session_id}")
    _sign_in_again(page)
    page.get_by_text(f"Session {session_id}").first.wait_for()
    links = page.get_by_role("link", name="Open trace →")
    links.nth(total - 1).wait_for()  # the page is drawn element by element: wait for the last
    assert links.count() == total >= turns
    _shot(page, "session-conversation")

    links.first.click()  # same browser session: no second sign-in
    page.get_by_role("heading", name="Traces").wait_for()
    page.get_by_text(re.compile(r"Guard violations \(\d+\)")).wait_for()
    page.get_by_text("Review this turn").wait_for()
    page.get_by_test_id("stVegaLiteChart").first.wait_for()
    _shot(page, "trace-view")

    page.goto(f"{console_server}/traces")
    _sign_in_again(page)
    page.get_by_role("heading", name="Traces").wait_for()
    page.get_by_text("More filters and sort").click()
    pick_option(page, page.get_by_test_id("stSelectbox").filter(has_text="Guard validator"), "pii")
    expected = count_traces(store, TraceFilter(since=datetime.now(UTC) - timedelta(days=7),
                                               validator="pii"))  # fmt: skip
    assert expected > 0
    page.get_by_text(re.compile(rf"Page 1 of \d+ · {expected:,} traces")).wait_for()
    _shot(page, "traces-guard-filter")
