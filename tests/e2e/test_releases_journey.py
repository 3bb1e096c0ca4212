"""The release journey in a real browser, as an operator does it.

Sign in and open Releases (production is listed); edit a copy — a new system prompt and
retrieval k, a name and a note — and try the unsaved draft in the playground beside
production (two answers, each with its trace link); save it from New release, pick it in the
list and start a canary at 20 %. Then the canary turns bad: failing live turns are written
to the same store the server uses (as the chat's span writer would), and the app's own
background worker (``LLMOPS_BACKGROUND_INTERVAL_S=1``) rolls it back. The Canary section shows
the "rolled back automatically" banner and the rollback row, History the canary and
auto_rollback moves.

Screenshots (full page, 1280 wide) go to docs/images/ with LLMOPS_DOC_SCREENSHOTS=1 (else tests/artifacts/): releases-*.png.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from llmops.config import Settings
from llmops.releases import core
from llmops.store.db import Database
from llmops.tracing.ids import new_trace_id
from llmops.tracing.records import TraceRecord
from llmops.tracing.writer import SpanWriter

from .conftest import ADMIN_PASSWORD, ROOT, _streamlit, copy_home

pytestmark = pytest.mark.e2e

# the docs' screenshots are refreshed only on request; otherwise they go with the artifacts
IMAGES = ROOT / ("docs/images" if os.environ.get("LLMOPS_DOC_SCREENSHOTS") else "tests/artifacts")
PROMPT = "Answer in at most two sentences and always cite your sources."
QUESTION = "What is a canary release?"


@pytest.fixture
def releases_home(e2e_home: Path, tmp_path: Path) -> Path:
    """A copy of the e2e home (knowledge ingested), so the canary and the failing traffic
    stay out of the other journeys' store."""
    home = tmp_path / "home"
    copy_home(e2e_home, home)
    return home


@pytest.fixture
def releases_server(releases_home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """``streamlit run`` on that home, its background worker checking the canary every second."""
    monkeypatch.setenv("LLMOPS_BACKGROUND_INTERVAL_S", "1")
    with _streamlit(releases_home) as url:
        yield url


@pytest.fixture
def store(releases_home: Path) -> Iterator[Database]:
    db = Database(Settings(home=releases_home).db_url)
    yield db
    db.dispose()


def _traffic(db: Database, spool: Path, release_id: str, n: int, errors: int) -> None:
    """``n`` live chat turns of ``release_id`` in the last minutes, the first ``errors`` failed,
    stored by a span writer as the chat's would (the server reads the same store)."""
    writer = SpanWriter(db, spool)
    start = time.time_ns() - 120 * 10**9
    try:
        for i in range(n):
            t0 = start + i * 10**6
            writer.submit(
                TraceRecord(id=new_trace_id(), name="chat", start_ns=t0,
                            end_ns=t0 + 300 * 10**6, session_id=f"live-{release_id}-{i}",
                            release_id=release_id, status="error" if i < errors else "ok",
                            error="ConnectError: connection refused" if i < errors else None)
            )  # fmt: skip
        assert writer.flush()
    finally:
        writer.close()


def _shot(page: Any, name: str) -> None:
    """A full-page screenshot, 1280 wide. Streamlit scrolls inside its main section, not the
    document, so the viewport is grown to the content's height for the shot."""
    IMAGES.mkdir(parents=True, exist_ok=True)
    page.evaluate("document.activeElement && document.activeElement.blur()")
    height = page.evaluate(
        "Math.max(document.documentElement.scrollHeight, ...Array.from("
        "document.querySelectorAll('[data-testid=stMain], [data-testid=stAppViewContainer]'),"
        " e => e.scrollHeight))"
    )
    size = page.viewport_size
    page.set_viewport_size({"width": 1280, "height": max(int(height), size["height"])})
    page.wait_for_timeout(300)  # the grids redraw their canvases
    page.screenshot(path=str(IMAGES / f"releases-{name}.png"), full_page=True)
    page.set_viewport_size(size)


def _section(page: Any, name: str) -> None:
    """Pick a section of the segmented control (the page reruns; wait for its content)."""
    page.get_by_role("radiogroup", name="Section").get_by_role("radio", name=name).click()
    page.get_by_role("radio", name=name, checked=True).wait_for()


def _table(page: Any, column: str) -> list[dict[str, str]]:
    """The rows of the dataframe with ``column`` — once the rerun has drawn it (the grid is a
    canvas; its accessible table holds the texts)."""
    header = page.locator("table[role=grid] th", has_text=re.compile(f"^{re.escape(column)}$"))
    grid = page.get_by_test_id("stDataFrame").filter(has=header).locator("table[role=grid]")
    grid.locator("tbody tr td").first.wait_for(state="attached")
    names = [t.strip() for t in grid.locator("thead th").all_text_contents()]
    return [
        dict(zip(names, (t.strip() for t in row.locator("td").all_text_contents()), strict=True))
        for row in grid.locator("tbody tr").all()
    ]


def _commit(field: Any, text: str, key: str) -> None:
    field.fill(text)
    field.press(key)


def test_an_operator_tries_a_draft_then_a_bad_canary_rolls_back_by_itself(
    browser: Any, releases_server: str, store: Database, tmp_path: Path
) -> None:
    prod = core.labels(store).production
    assert prod
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(30_000)
    try:
        # 1. sign in, open Releases: production is listed
        page.goto(releases_server)
        page.get_by_text("Ask about LLMOps").wait_for()
        page.goto(f"{releases_server}/signin")
        page.get_by_label("Password", exact=True).fill(ADMIN_PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.get_by_role("button", name="Sign out of the console").wait_for()
        page.get_by_role("link", name="Releases").click()
        page.get_by_role("heading", name="Releases").first.wait_for()
        page.get_by_text("This release is production.").wait_for()
        listed = _table(page, "traffic")
        assert (prod, "production", "100%") in [
            (r["id"], r["labels"], r["traffic"]) for r in listed
        ]
        _shot(page, "list")

        # 2. edit a copy and try the unsaved draft beside production
        page.get_by_role("button", name="Edit a copy").click()
        page.get_by_role("radio", name="New release", checked=True).wait_for()
        _commit(page.get_by_label("System prompt"), PROMPT, "Control+Enter")
        _commit(page.get_by_label("Retrieval k"), "2", "Enter")
        changed = page.get_by_text(re.compile(r"2 field\(s\) changed from rel_"))
        changed.wait_for()
        assert "system_prompt" in changed.inner_text() and "retrieval.k" in changed.inner_text()
        _commit(page.get_by_label("Name"), "two sentences", "Enter")
        _commit(page.get_by_label("Note"), "users asked for shorter answers", "Control+Enter")
        _shot(page, "new")
        page.get_by_role("button", name="Try the draft in the playground").click()
        page.get_by_role("radio", name="Playground", checked=True).wait_for()
        draft_caption = page.get_by_text(re.compile(r"Also trying the unsaved draft rel_\w+"))
        draft_caption.wait_for()
        draft_id = re.search(r"rel_\w{12}", draft_caption.inner_text()).group(0)  # type: ignore[union-attr]
        assert draft_id != prod and not core.exists(store, draft_id)
        _commit(page.get_by_label("Questions (one a line)"), QUESTION, "Control+Enter")
        page.get_by_role("button", name="Run", exact=True).click()
        page.get_by_text(QUESTION, exact=True).last.wait_for()
        traces = page.get_by_role("link", name="trace", exact=True)
        traces.nth(1).wait_for()
        assert traces.count() == 2
        hrefs = [traces.nth(i).get_attribute("href") or "" for i in range(2)]
        assert all(re.search(r"/traces\?trace=[0-9a-f]{32}$", h) for h in hrefs), hrefs
        page.get_by_text(f"default · {prod}", exact=True).wait_for()
        page.get_by_text(f"draft (unsaved) · {draft_id}", exact=True).wait_for()
        _shot(page, "playground")

        # 3. save it from New release, pick it in the list, start a canary at 20 %
        _section(page, "New release")
        page.get_by_text(re.compile(r"2 field\(s\) changed from rel_")).wait_for()
        assert page.get_by_label("System prompt").input_value() == PROMPT  # the draft is kept
        # the name and note typed before the playground are gone by now (the config is kept)
        _commit(page.get_by_label("Name"), "two sentences", "Enter")
        _commit(page.get_by_label("Note"), "users asked for shorter answers", "Control+Enter")
        page.get_by_role("button", name="Save release").click()
        page.get_by_text(f"Saved two sentences ({draft_id}).").wait_for()
        saved = core.get_release(store, draft_id)
        assert saved.config.retrieval.k == 2 and saved.config.system_prompt == PROMPT
        assert saved.created_by == "admin"

        _section(page, "Releases")
        page.get_by_text("This release is production.").wait_for()
        page.get_by_test_id("stSelectbox").filter(has_text="Release").click()
        page.get_by_role("option", name=re.compile(f"two sentences · {draft_id}")).click()
        page.get_by_role("heading", name=f"two sentences · {draft_id}").wait_for()
        slider = page.get_by_role("slider", name="Canary share (%)")
        slider.focus()
        for _ in range(10):
            slider.press("ArrowRight")
        page.get_by_role("button", name="Start canary at 20 %").click()
        page.get_by_text("two sentences serves 20 % of sessions.").wait_for()
        now = core.labels(store)
        assert (now.canary, now.canary_weight) == (draft_id, 0.2)

        # 4. live traffic: the canary so far looks fine, then it fails half its turns
        from llmops.releases.compare import compare

        before = compare(store).production  # the copied home's own live turns of the last hour
        base = before.turns if before is not None else 0
        _traffic(store, tmp_path / "spool", prod, 200, 2)
        _traffic(store, tmp_path / "spool", draft_id, 15, 0)
        _section(page, "Canary")
        page.get_by_text("serves 20% of sessions").wait_for()
        page.get_by_text("Not enough canary traffic yet (15 turns; 20 needed).").wait_for()
        compared = {r["metric"]: r for r in _table(page, "canary worse")}
        assert compared["Error rate"]["turns (prod/canary)"] == f"{base + 200}/15"
        assert compared["Error rate"]["canary worse"] == ""
        _shot(page, "canary")

        _traffic(store, tmp_path / "spool", draft_id, 45, 30)
        deadline = time.monotonic() + 20
        while core.labels(store).canary is not None:  # the server's background worker
            assert time.monotonic() < deadline, "the canary was not rolled back"
            time.sleep(0.25)

        # 5. the Canary section says so; History has both moves
        _section(page, "History")
        moves = [(r["label"], r["action"], r["to"], r["by"]) for r in _table(page, "action")]
        assert moves[:2] == [
            ("canary", "auto_rollback", draft_id, moves[0][3]),
            ("canary", "canary", draft_id, "admin"),
        ], moves  # newest first
        assert moves[0][3].startswith("rollback-rule:")
        assert ("production", "promote", prod) in [m[:3] for m in moves]  # the first start
        _section(page, "Canary")
        banner = page.get_by_text(re.compile(r"^Canary .* rolled back automatically: .* UTC\)$"))
        banner.wait_for()
        text = banner.inner_text()
        assert draft_id in text and "Error rate" in text
        assert text.count("rolled back automatically") == 1
        page.get_by_text("No canary is running.").first.wait_for()
        page.get_by_text("Automatic rollbacks").wait_for()
        events = _table(page, "webhook")
        assert [(e["release"], e["metric"], e["turns"]) for e in events] == [
            (draft_id, "error_rate", "60")
        ]
        _shot(page, "rollback")
    finally:
        context.close()
