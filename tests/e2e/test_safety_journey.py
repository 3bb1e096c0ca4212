"""The Safety page in a real browser: sign in, run a red-team scan of a weak release (guard
profile ``off``) from the page, watch it finish, see its successful attacks with links to
their traces, follow one to the trace view, and read the release's risk report.

Screenshots go to tests/artifacts/ (safety-*.png).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from llmops.config import Settings
from llmops.redteam import scan as rt
from llmops.releases import core
from llmops.store.db import Database

from .conftest import ADMIN_PASSWORD, ARTIFACTS, _streamlit, copy_home, pick_option

pytestmark = pytest.mark.e2e


@pytest.fixture
def safety_home(e2e_home: Path, tmp_path: Path) -> Path:
    return copy_home(e2e_home, tmp_path / "home")


@pytest.fixture
def store(safety_home: Path) -> Iterator[Database]:
    db = Database(Settings(home=safety_home).db_url)
    yield db
    db.dispose()


@pytest.fixture
def weak(store: Database) -> str:
    return core.create_release(store, core.ReleaseConfig(guard_profile="off"), name="weak").id


@pytest.fixture
def safety_server(safety_home: Path, weak: str) -> Iterator[str]:
    with _streamlit(safety_home) as url:
        yield url


def _sign_in(page: Any) -> None:
    page.get_by_label("Password", exact=True).fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def _shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"safety-{name}.png"), full_page=True)


def _section(page: Any, name: str) -> None:
    page.get_by_role("radiogroup", name="Section").get_by_role("radio", name=name).click()
    page.get_by_role("radio", name=name, checked=True).wait_for()


def _grid_rows(page: Any, column: str) -> list[dict[str, str]]:
    header = page.locator("table[role=grid] th", has_text=re.compile(f"^{re.escape(column)}$"))
    grid = page.get_by_test_id("stDataFrame").filter(has=header).locator("table[role=grid]")
    grid.locator("tbody tr td").first.wait_for(state="attached")
    names = [t.strip() for t in grid.locator("thead th").all_text_contents()]
    return [
        dict(zip(names, (t.strip() for t in row.locator("td").all_text_contents()), strict=True))
        for row in grid.locator("tbody tr").all()
    ]


def test_a_scan_from_the_safety_page_links_its_findings_to_traces(
    page: Any, safety_server: str, store: Database, weak: str
) -> None:
    from playwright.sync_api import expect

    page.goto(safety_server)  # the router runs first
    page.get_by_text("Ask about LLMOps").wait_for()
    page.goto(f"{safety_server}/safety")
    _sign_in(page)
    page.get_by_role("heading", name="Safety").wait_for()
    page.get_by_text("No red-team scan yet").wait_for()

    # run a scan of the weak release from the page; it runs in the background
    _section(page, "Run a scan")
    pick_option(
        page,
        page.get_by_test_id("stSelectbox").filter(has_text="Release"),
        re.compile(f"weak · {weak}"),
    )
    page.get_by_test_id("stMultiSelect").filter(has_text="Categories").click()
    page.get_by_role("option", name=re.compile("^Toxic")).click()
    page.keyboard.press("Escape")
    page.get_by_role("button", name="Run scan").click()
    heading = page.get_by_role("heading", name=re.compile(r"Scan \d+ · weak"))
    heading.wait_for(timeout=120_000)
    page.get_by_text("Successful attacks").first.wait_for(timeout=120_000)
    scan_id = int(re.search(r"Scan (\d+)", heading.inner_text()).group(1))  # type: ignore[union-attr]
    _shot(page, "scan")

    report = rt.get_scan(store, scan_id, successes_only=True)
    assert report.status == "done" and report.release == weak and report.findings
    rows = _grid_rows(page, "trace")
    assert len(rows) == len(report.findings)
    links = {f["attack_id"]: f"/traces?trace={f['trace_id']}" for f in report.findings}
    assert {r["attack"]: r["trace"] for r in rows} == links  # each row links to its trace

    # follow a row's link: the finding's trace opens in the trace view
    trace_id = report.findings[0]["trace_id"]
    page.goto(safety_server + links[report.findings[0]["attack_id"]])  # a new session: sign in
    _sign_in(page)
    page.get_by_text(f"Trace {trace_id}").first.wait_for()

    # the release's risk report names the failed red-team gate
    page.goto(f"{safety_server}/safety")
    _sign_in(page)
    page.get_by_role("heading", name="Safety").wait_for()
    page.get_by_role("button", name="Sign out of the console").wait_for()
    for _ in range(3):  # a click during the sign-in's rerun can be undone by it: click again
        _section(page, "Risk report")
        try:
            page.get_by_role("button", name="Markdown").wait_for(timeout=10_000)
            break
        except Exception:  # noqa: BLE001 - retried, then the next wait fails with a message
            continue
    picker = page.get_by_test_id("stSelectbox").filter(has_text="Release")
    expect(picker).to_have_count(1)  # the previous section's picker is gone
    pick_option(page, picker, re.compile(f"weak · {weak}"))
    page.get_by_role("heading", name=re.compile("Risk report — weak")).wait_for()
    page.get_by_text(re.compile("gate\\(s\\) failed: Red-team gate")).wait_for()
    assert page.get_by_role("heading", name=re.compile("Red-team scan — ❌ failed")).count() == 1
    _shot(page, "report")
