"""Console journeys in a real browser on their own seeded store: the Feedback page's exports
download real files.

The server runs on a copy of the e2e home with demo traffic, so the other journeys' counts
stay untouched. Screenshots go to tests/artifacts/console-*.png.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from llmops import demo
from llmops.config import Settings
from llmops.store.db import Database
from llmops.store.models import Feedback

from .conftest import ADMIN_PASSWORD, ARTIFACTS, _streamlit

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def console_home(e2e_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("console-home") / "home"
    shutil.copytree(e2e_home, home, ignore=shutil.ignore_patterns("streamlit-*.log"))
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
    page.get_by_label("Admin password").fill(ADMIN_PASSWORD)
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
