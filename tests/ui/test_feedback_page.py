"""Feedback page (AppTest): numbers against the store, filters, paging, the trace behind a
rating, "add to dataset", and the exports behind the download buttons."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from streamlit.runtime.media_file_manager import MediaFileManager
from streamlit.testing.v1 import AppTest

from llmops import demo
from llmops.evals import datasets
from llmops.monitoring.feedback import FeedbackFilter
from llmops.store.models import AuditLog, Feedback, Trace
from llmops.ui import feedback as page
from llmops.ui.deps import runtime

pytestmark = pytest.mark.ui

END = (datetime.now(UTC) - timedelta(hours=2)).replace(minute=0, second=0, microsecond=0)


def _open(at: AppTest) -> AppTest:
    at.run()
    demo.seed(runtime().db, traces=2000, days=3, seed=5, end=END)
    at.switch_page("pages/feedback.py").run()
    assert not at.exception, at.exception
    return at


def _table(at: AppTest) -> object:
    return next(d.value for d in at.dataframe if "comment" in d.value.columns)


def test_counts_and_rates_match_the_store(admin_app: AppTest) -> None:
    at = _open(admin_app)
    with runtime().db.session() as s:
        n = s.scalar(select(func.count()).select_from(Feedback))
        up = s.scalar(select(func.count()).select_from(Feedback).where(Feedback.score >= 0.5))
    shown = {m.label: m.value for m in at.metric}
    assert shown["Feedback count"] == f"{n:,}"
    assert shown["Thumbs-up rate"] == f"{up / n:.1%}"
    by_release = next(d.value for d in at.dataframe if "thumbs down" in d.value.columns)
    assert by_release["ratings"].sum() == n and by_release["thumbs up"].sum() == up
    assert len(at.get("arrow_vega_lite_chart") or at.get("vega_lite_chart")) == 2


def test_filters_page_and_link_each_rating_to_its_trace(admin_app: AppTest) -> None:
    at = _open(admin_app)
    assert len(_table(at)) == page.PAGE_SIZE
    at.button(key="fb_page_next").click().run()
    assert at.session_state["fb_page"] == 1
    at.toggle(key="fb_down").set_value(True)
    at.toggle(key="fb_comment").set_value(True).run()
    assert at.session_state["fb_page"] == 0  # new filters start at the first page
    rows = _table(at)
    assert set(rows[""]) == {"👎"} and all(rows["comment"])
    first_page = list(rows["trace"])
    at.button(key="fb_page_next").click().run()
    assert not at.exception, at.exception
    assert not set(_table(at)["trace"]) & set(first_page)
    link = first_page[0]
    assert link.startswith("/traces?trace=")
    with runtime().db.session() as s:
        assert s.get(Trace, link.split("=", 1)[1]) is not None


def test_selected_turns_are_added_to_a_dataset(admin_app: AppTest) -> None:
    assert page.datasets_available()
    at = _open(admin_app)
    at.toggle(key="fb_down").set_value(True).run()
    options = at.multiselect(key="fb_pick").options
    assert len(options) == page.PAGE_SIZE
    chosen = [_table(at)["trace"].iloc[i].split("=", 1)[1] for i in (0, 1, 2)]
    at.multiselect(key="fb_pick").set_value(chosen)
    at.text_input(key="fb_dataset").input("thumbs-down review").run()
    at.button(key="fb_add").click().run()
    assert not at.exception, at.exception
    assert any("Added 3 case(s)" in s.value for s in at.success)
    info = datasets.get_dataset(runtime().db, "thumbs-down review")
    assert info.items == 3
    at.button(key="fb_add").click().run()  # again: nothing new
    assert any("already there" in s.value for s in at.success)


def test_download_buttons_stream_the_filtered_exports(
    admin_app: AppTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each button's callable is run the way Streamlit runs it on a click
    (``MediaFileManager.execute_deferred``), so a return type Streamlit cannot serve fails here."""
    registered: dict[str, tuple[MediaFileManager, str]] = {}
    add_deferred = MediaFileManager.add_deferred

    def record(self: MediaFileManager, *args: Any, **kwargs: Any) -> str:
        file_id = add_deferred(self, *args, **kwargs)
        registered[kwargs.get("file_name") or ""] = (self, file_id)
        return file_id

    monkeypatch.setattr(MediaFileManager, "add_deferred", record)
    at = _open(admin_app)
    labels = [b.proto.label for b in at.get("download_button")]
    assert labels == [label for label, *_ in page.EXPORTS]
    assert set(registered) == {"llmops-feedback.csv", "llmops-feedback.jsonl",
                               "llmops-finetune.jsonl"}  # fmt: skip

    def download(name: str) -> bytes:
        mgr, file_id = registered[name]
        url = mgr.execute_deferred(file_id)  # what a click does; raised before the fix
        return mgr._storage.get_file(url.rsplit("/", 1)[1]).content  # type: ignore[attr-defined]

    db = runtime().db
    with db.session() as s:  # the seed spans 3 days: "Last 7 days" holds every rating
        total = s.scalar(select(func.count()).select_from(Feedback))
    rows = list(csv.DictReader(io.StringIO(download("llmops-feedback.csv").decode())))
    assert len(rows) == total and {r["thumb"] for r in rows} == {"up", "down"}
    lines = [json.loads(x) for x in download("llmops-feedback.jsonl").decode().splitlines()]
    assert len(lines) == total
    first = json.loads(download("llmops-finetune.jsonl").decode().splitlines()[0])
    assert [m["role"] for m in first["messages"]] == ["system", "user", "assistant"]

    flt = FeedbackFilter(since=datetime.now(UTC) - timedelta(days=7), down_only=True)
    data = page.export_file(db, "feedback", "jsonl", flt, "admin")()
    lines = [json.loads(x) for x in data.decode().splitlines()]
    with db.session() as s:
        downs = s.scalar(select(func.count()).select_from(Feedback).where(Feedback.score < 0.5))
        audits = s.scalars(select(AuditLog).where(AuditLog.action == "feedback.export")).all()
    assert len(lines) == downs and {x["thumb"] for x in lines} == {"down"}
    assert audits[-1].target == "feedback.jsonl" and audits[-1].details["rows"] == downs
    assert len(audits) == 4
