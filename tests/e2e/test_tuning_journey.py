"""The improvement loop in a real browser: from a thumbs-down to a promoted release.

A user asks three questions in Chat and gives each answer a thumbs-down (one with a
comment). The operator signs in; in Review → Queues makes a queue of the last 24 hours'
thumbs-down turns, reviews each item (the canary answer is "wrong" and gets a better
answer), and in Results adds the reviewed items to a dataset. In Releases → New release they
save a candidate with a wider retrieval (k 4 → 6). In Review → Improvements they open an
improvement on the review evidence, choose the dataset and the candidate, run the gate
(the candidate and production over the dataset, in the page's own thread), start a canary
at 10 % and promote. The candidate is production (Releases list and the store) and the
improvement's steps read evidence → dataset → candidate → evaluated → canary → promoted.
Knowledge → Gaps then clusters the thumbs-down questions.

The server runs on a copy of the e2e home, so the new production release, the canary and the
queue stay out of the other journeys' store.

Screenshots (full page, 1280 wide) go to docs/images/ with LLMOPS_DOC_SCREENSHOTS=1 (else tests/artifacts/): tuning-*.png.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from llmops.config import Settings
from llmops.evals import datasets as ds
from llmops.improve import loop
from llmops.releases import core
from llmops.store.db import Database
from llmops.store.models import Feedback

from .conftest import ADMIN_PASSWORD, ROOT, _streamlit, copy_home, pick_option

pytestmark = pytest.mark.e2e
_sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
expect, PlaywrightTimeout = _sync_api.expect, _sync_api.TimeoutError

# the docs' screenshots are refreshed only on request; otherwise they go with the artifacts
IMAGES = ROOT / ("docs/images" if os.environ.get("LLMOPS_DOC_SCREENSHOTS") else "tests/artifacts")
CANARY_Q = "What is a canary release?"
QUESTIONS = [CANARY_Q, "How do I roll back a release?", "What is drift monitoring?"]
COMMENT = "It does not say how the canary is compared with production"
BETTER = (
    "A canary release serves a small share of sessions (say 10 %) from the candidate "
    "release, compares its error rate, latency and feedback with production, and is "
    "promoted or rolled back on that evidence."
)
QUEUE = "thumbs-down today"
TITLE = "Thumbs-down answers leave out how releases are compared"
GATE_TIMEOUT_MS = 150_000


@pytest.fixture
def tuning_home(e2e_home: Path, tmp_path: Path) -> Path:
    """A copy of the e2e home (knowledge ingested) for this journey alone."""
    home = tmp_path / "home"
    copy_home(e2e_home, home)
    return home


@pytest.fixture
def tuning_server(tuning_home: Path) -> Iterator[str]:
    with _streamlit(tuning_home) as url:
        yield url


@pytest.fixture
def store(tuning_home: Path) -> Iterator[Database]:
    db = Database(Settings(home=tuning_home).db_url)
    yield db
    db.dispose()


def _shot(page: Any, name: str) -> None:
    """A full-page screenshot, 1280 wide. Streamlit scrolls inside its main section, not the
    document, so the viewport is grown to the content's height for the shot."""
    IMAGES.mkdir(parents=True, exist_ok=True)
    page.evaluate("document.activeElement && document.activeElement.blur()")
    size = page.viewport_size
    page.set_viewport_size({"width": 1280, "height": size["height"]})
    page.wait_for_timeout(300)  # the layout reflows at the new width
    height = page.evaluate(
        "Math.max(document.documentElement.scrollHeight, ...Array.from("
        "document.querySelectorAll('[data-testid=stMain], [data-testid=stAppViewContainer]'),"
        " e => e.scrollHeight))"
    )
    page.set_viewport_size({"width": 1280, "height": max(int(height), size["height"])})
    page.wait_for_timeout(400)  # the grids redraw their canvases
    page.screenshot(path=str(IMAGES / f"tuning-{name}.png"), full_page=True)
    page.set_viewport_size(size)


def _section(page: Any, name: str) -> None:
    """Pick a section of the segmented control (the page reruns; wait until it is picked)."""
    page.get_by_role("radiogroup", name="Section").get_by_role("radio", name=name).click()
    page.get_by_role("radio", name=name, checked=True).wait_for()


def _open(page: Any, link: str, heading: str) -> None:
    """A console page from the sidebar (the same session: still signed in)."""
    page.get_by_role("link", name=link, exact=True).click()
    page.get_by_role("heading", name=heading).first.wait_for()


def _choose(page: Any, label: str, option: str | re.Pattern[str]) -> None:
    """Pick ``option`` in the selectbox labelled exactly ``label`` (a combobox whose input
    shows the choice)."""
    box = page.get_by_role("combobox", name=label, exact=True)
    box.click()
    page.get_by_role("option", name=option, exact=isinstance(option, str)).click()
    expect(box).to_have_value(option)


def _commit(field: Any, text: str, key: str = "Enter") -> None:
    field.fill(text)
    field.press(key)


def _table(page: Any, column: str) -> list[dict[str, str]]:
    """The rows of the dataframe with ``column`` — once the rerun has drawn it (the grid is a
    canvas; its accessible table holds the texts, the cells of a row drawn one by one)."""
    header = page.locator("table[role=grid] th", has_text=re.compile(f"^{re.escape(column)}$"))
    grid = page.get_by_test_id("stDataFrame").filter(has=header).locator("table[role=grid]")
    grid.locator("tbody tr td").first.wait_for(state="attached")
    for _ in range(50):
        names = [t.strip() for t in grid.locator("thead th").all_text_contents()]
        rows = [
            [t.strip() for t in row.locator("td").all_text_contents()]
            for row in grid.locator("tbody tr").all()
        ]
        if all(len(r) == len(names) for r in rows):
            break
        page.wait_for_timeout(200)
    else:
        raise AssertionError(f"the grid {names} has rows of other lengths: {rows}")
    return [dict(zip(names, r, strict=True)) for r in rows]


def _flash(page: Any, text: str, timeout: float = 30_000) -> None:
    page.get_by_test_id("stAlert").filter(has_text=text).first.wait_for(timeout=timeout)


def _chat_thumbs_down(page: Any, server: str) -> list[str]:
    """Ask each question, thumbs-down each answer (a comment on the first); the trace ids."""
    page.goto(server)
    page.get_by_text("Ask about LLMOps").wait_for()
    traces = []
    for i, question in enumerate(QUESTIONS):
        box = page.get_by_test_id("stChatInputTextArea")
        box.fill(question)
        box.press("Enter")
        answer = page.get_by_test_id("stChatMessage").nth(2 * i + 1)
        answer.get_by_test_id("stFeedback").wait_for()  # drawn once the answer is complete
        assert "[1]" in answer.inner_text()  # it cites its sources
        caption = answer.get_by_text(re.compile(r"trace [0-9a-f]{32}")).inner_text()
        traces.append(re.search(r"[0-9a-f]{32}", caption).group(0))  # type: ignore[union-attr]
        answer.get_by_test_id("stFeedback").get_by_role("radio").nth(1).click()
        comment = answer.get_by_label("What was wrong? (optional)")
        comment.wait_for()  # the thumbs-down is stored: it asks for a comment
        if i == 0:
            _commit(comment, COMMENT, "Control+Enter")
            answer.get_by_role("button", name="Send comment").click()
            answer.get_by_text("Thanks — your comment was recorded.").wait_for()
    return traces


def _sign_in(page: Any, server: str) -> None:
    page.goto(f"{server}/signin")
    page.get_by_label("Password", exact=True).fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("button", name="Sign out of the console").wait_for()


def _review_queue(page: Any, total: int, traces: list[str]) -> dict[str, str]:
    """Review every item of the queue; question → verdict. The canary answer is "wrong"
    (with a better answer), drift "partly", the rest "correct" (an item from another
    journey's thumbs-down too)."""
    asked = dict(zip(traces, QUESTIONS, strict=True))
    given: dict[str, str] = {}
    previous = "none"
    for done in range(total):
        page.get_by_text(f"{done} of {total} done").wait_for()
        # the next item's caption (while the rerun draws, the last item's may still show)
        caption = page.get_by_test_id("stCaptionContainer").filter(
            has_text=re.compile(rf"Item (?!{previous} )\d+ · held for you until")
        )
        caption.wait_for()
        previous = re.search(r"Item (\d+)", caption.inner_text()).group(1)  # type: ignore[union-attr]
        href = caption.get_by_role("link", name="trace").get_attribute("href") or ""
        trace = href.rsplit("=", 1)[-1]
        question = asked.get(trace, trace)
        verdict = {CANARY_Q: "wrong", QUESTIONS[2]: "partly"}.get(question, "correct")
        radio = page.get_by_test_id("stRadio")
        radio.get_by_text(verdict, exact=True).click()
        radio.get_by_role("radio", name=verdict, checked=True).wait_for()
        if verdict == "wrong":
            pick_option(page, page.get_by_test_id("stMultiSelect"), "missing facts")
            page.keyboard.press("Escape")
            page.get_by_test_id("stMultiSelect").get_by_text("missing facts").wait_for()
            _commit(page.get_by_label("A better answer (optional)"), BETTER, "Control+Enter")
            _commit(page.get_by_label("Note", exact=True), "does not say what is compared")
            page.get_by_test_id("stChatMessage").get_by_text(CANARY_Q, exact=True).wait_for()
            _shot(page, "review")
        page.get_by_role("button", name="Save and next").click()
        given[question] = verdict
    page.get_by_text(f"{total} of {total} done").wait_for()
    page.get_by_text("Nothing left for you in this queue.").wait_for()
    return given


def test_a_thumbs_down_becomes_a_promoted_release_through_the_improvement_loop(
    page: Any, tuning_server: str, store: Database
) -> None:
    server = tuning_server
    old_production = core.labels(store).production
    assert old_production

    # 1. a user gives three answers a thumbs-down
    traces = _chat_thumbs_down(page, server)
    with store.session() as s:
        rows = s.scalars(select(Feedback).where(Feedback.trace_id.in_(traces))).all()
        assert sorted((r.score, r.comment or "") for r in rows) == [
            (0.0, ""),
            (0.0, ""),
            (0.0, COMMENT),
        ]

    # 2. a review queue of today's thumbs-down turns, each item reviewed, then a dataset
    _sign_in(page, server)
    _open(page, "Review", "Review and improve")
    page.get_by_label("Name", exact=True).fill(QUEUE)
    _choose(page, "Time range", "last 24 hours")
    assert page.get_by_role("combobox", name="Feedback", exact=True).input_value() == "down"
    page.get_by_role("button", name="Create queue").click()
    created = page.get_by_text(re.compile(rf"Queue {QUEUE} created with \d+ item\(s\)\."))
    created.wait_for()
    # the home may hold an earlier journey's thumbs-down too: all of them are the queue
    total = int(re.search(r"with (\d+) item", created.inner_text()).group(1))  # type: ignore[union-attr]
    assert total >= len(QUESTIONS)
    queued = _table(page, "reviewers per item")
    assert [(q["queue"], q["items"], q["done"]) for q in queued] == [(QUEUE, str(total), "0")]

    _section(page, "Review")
    given = _review_queue(page, total, traces)
    assert {q: given[q] for q in QUESTIONS} == {
        CANARY_Q: "wrong",
        QUESTIONS[1]: "correct",
        QUESTIONS[2]: "partly",
    }

    _section(page, "Results")
    dataset = f"review-{QUEUE}"
    assert page.get_by_label("Dataset name").input_value() == dataset
    page.get_by_test_id("stMetricLabel").filter(has_text="Verdicts").wait_for()
    metrics = dict(
        zip(
            [t.strip() for t in page.get_by_test_id("stMetricLabel").all_inner_texts()],
            [t.strip() for t in page.get_by_test_id("stMetricValue").all_inner_texts()],
            strict=True,
        )
    )
    assert (metrics["Items"], metrics["Done"], metrics["Verdicts"]) == (str(total),) * 3
    page.get_by_test_id("stVegaLiteChart").first.wait_for()  # the verdicts
    page.get_by_role("button", name="Add reviewed items to the dataset").click()
    page.get_by_text(f"{total} case(s) added to {dataset}.").wait_for()
    assert ds.get_dataset(store, dataset).items == total
    # fine-tuning: the corrected answer and the correct ones, not "partly"
    examples = sum(v != "partly" for v in given.values())
    page.get_by_role("button", name=f"Fine-tuning JSONL ({examples} examples)").wait_for()
    _shot(page, "results")

    # 3. a candidate release: production with a wider retrieval
    _open(page, "Releases", "Releases")
    _section(page, "New release")
    page.get_by_text(f"0 field(s) changed from {old_production}: none").wait_for()
    _commit(page.get_by_label("Retrieval k"), "6")
    page.get_by_text(f"1 field(s) changed from {old_production}: retrieval.k").wait_for()
    _commit(page.get_by_label("Name", exact=True), "wider retrieval")
    _commit(
        page.get_by_label("Note", exact=True),
        "reviewers found answers missing facts",
        "Control+Enter",
    )
    page.get_by_role("button", name="Save release").click()
    saved = page.get_by_text(re.compile(r"Saved wider retrieval \(rel_\w+\)\."))
    saved.wait_for()
    candidate = re.search(r"rel_\w{12}", saved.inner_text()).group(0)  # type: ignore[union-attr]
    assert core.get_release(store, candidate).config.retrieval.k == 6

    # 4. the improvement: evidence → dataset → candidate → gate → canary → promote
    _open(page, "Review", "Review and improve")
    _section(page, "Improvements")
    _commit(page.get_by_label("What is wrong", exact=True), TITLE)
    _choose(page, "Evidence", "review")
    _commit(page.get_by_label("Reference (gap id, queue, run id)"), QUEUE)
    _commit(
        page.get_by_label("Where it shows"),
        f"{total} thumbs-down turns reviewed; the canary answer was wrong",
        "Control+Enter",
    )
    # (each selectbox holds an "Open" button of its own too)
    page.get_by_test_id("stButton").get_by_role("button", name="Open", exact=True).click()
    opened = page.get_by_text(re.compile(r"Improvement #\d+ opened\."))
    opened.wait_for()
    rid = int(re.search(r"#(\d+)", opened.inner_text()).group(1))  # type: ignore[union-attr]
    page.get_by_role("heading", name=f"#{rid} {TITLE}").wait_for()
    assert loop.get(store, rid).evidence == {
        "kind": "review",
        "ref": QUEUE,
        "summary": f"{total} thumbs-down turns reviewed; the canary answer was wrong",
    }

    _choose(page, "Dataset", dataset)
    page.get_by_role("button", name="Use this dataset").click()
    _flash(page, "Dataset chosen.")
    _choose(page, "Candidate release", f"wider retrieval · {candidate}")
    page.get_by_role("button", name="Use this candidate").click()
    _flash(page, "Candidate chosen.")
    assert page.get_by_role("button", name="Start canary at 10 %").is_disabled()  # no gate yet

    page.get_by_role("button", name="Evaluate against production (gate)").click()
    _flash(page, "Gate evaluated.", timeout=GATE_TIMEOUT_MS)
    rec = loop.get(store, rid)
    assert rec.status == "evaluated" and rec.baseline_release_id == old_production
    reports = rec.gate["reports"]  # type: ignore[index]
    assert [r["candidate"]["release_id"] for r in reports] == [candidate]
    assert reports[0]["baseline"]["release_id"] == old_production
    assert rec.gate_passed, [c["message"] for c in reports[0]["checks"] if not c["passed"]]
    page.get_by_text("Gate report").wait_for()
    start_canary = page.get_by_role("button", name="Start canary at 10 %")
    expect(start_canary).to_be_enabled()  # the gate passed
    assert page.get_by_role("checkbox", name="Override a gate that has not passed").is_disabled()

    start_canary.click()
    _flash(page, "Canary started.")
    now = core.labels(store)
    assert (now.production, now.canary, now.canary_weight) == (old_production, candidate, 0.1)

    promote = page.get_by_role("button", name="Promote to production")
    expect(promote).to_be_disabled()  # a confirmation first
    page.get_by_text(f"Confirm: production {old_production} → {candidate}").click()
    expect(promote).to_be_enabled()
    promote.click()
    _flash(page, "Promoted.")
    page.get_by_text("Promoted", exact=True).wait_for()  # the closed improvement
    steps = _table(page, "step")
    for _ in range(50):  # the grid may still show the rows of the run before the promotion
        if steps and steps[-1]["step"] == "promoted":
            break
        page.wait_for_timeout(200)
        steps = _table(page, "step")
    assert [s["step"] for s in steps] == [
        "evidence",
        "dataset",
        "candidate",
        "evaluated",
        "canary",
        "promoted",
    ]
    assert {s["by"] for s in steps} == {"admin"}
    rec = loop.get(store, rid)
    assert (rec.status, rec.overridden, rec.decision) == ("promoted", False, "promoted")
    _shot(page, "improvement")

    # 5. production is the candidate: in the store and in the Releases list
    now = core.labels(store)
    assert (now.production, now.canary) == (candidate, None)
    _open(page, "Releases", "Releases")
    page.get_by_text("This release is production.").wait_for()
    page.get_by_role("heading", name=f"wider retrieval · {candidate}").wait_for()
    listed = {r["id"]: r for r in _table(page, "traffic")}
    assert (listed[candidate]["labels"], listed[candidate]["traffic"]) == ("production", "100%")
    assert listed[old_production]["labels"] == ""

    # 6. Knowledge → Gaps: the thumbs-down questions become knowledge gaps
    _open(page, "Knowledge", "Knowledge")
    _section(page, "Gaps")
    page.get_by_role("button", name="Refresh").click()
    page.get_by_text(re.compile(r"new question\(s\) clustered .* from thumbs-down\)")).wait_for()
    page.get_by_test_id("stDataFrame").wait_for()
    gaps = page.get_by_test_id("stExpander").filter(has_text=re.compile(r"question\(s\) · "))
    gaps.first.wait_for()
    counts = [re.search(r"· (\d+) question", t) for t in gaps.all_inner_texts()]
    assert sum(int(m.group(1)) for m in counts if m) >= len(QUESTIONS)
    gaps.first.get_by_text(re.compile(r"question\(s\) · ")).click()
    page.get_by_test_id("stVegaLiteChart").first.wait_for()
    _shot(page, "gaps")
