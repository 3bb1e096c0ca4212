"""Overview in a real browser: tiles and charts render, and clicking a chart drills into the
Traces page filtered to that bucket."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from llmops import demo
from llmops.store.db import Database

from .conftest import ADMIN_PASSWORD

pytestmark = pytest.mark.e2e


def _sign_in(page: Any) -> None:
    page.get_by_label("Password", exact=True).fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def test_overview_click_a_chart_then_open_that_buckets_traces(
    page: Any, server: str, e2e_home: Path
) -> None:
    db = Database(f"sqlite:///{e2e_home / 'llmops.db'}")
    demo.seed(db, traces=3000, days=2, seed=3, end=datetime.now(UTC))
    db.dispose()

    page.goto(server)  # the router runs first (see the report on pages/ served directly)
    page.get_by_text("Ask about LLMOps").wait_for()
    page.goto(f"{server}/overview")
    _sign_in(page)
    page.get_by_role("heading", name="Overview").wait_for()
    page.get_by_test_id("stMetricValue").nth(9).wait_for()
    charts = page.get_by_test_id("stVegaLiteChart")
    charts.nth(7).wait_for()
    assert charts.count() == 8
    assert page.get_by_text("Traces", exact=True).count() >= 1

    error_chart = charts.nth(4)  # DOM order: the left column's four, then the right's
    error_chart.scroll_into_view_if_needed()
    box = error_chart.bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.6, box["y"] + box["height"] * 0.4)
    link = page.get_by_role("link", name=re.compile(r"Traces of \d{4}-\d\d-\d\d"))
    link.wait_for()
    link.click()
    page.get_by_role("heading", name="Traces").wait_for()
    page.get_by_text(re.compile(r"\d\d:\d\d → \d{4}-\d\d-\d\d \d\d:\d\d UTC")).wait_for()
    page.get_by_role("button", name="Clear window").wait_for()
    assert "since=" in page.url and "status=error" in page.url
