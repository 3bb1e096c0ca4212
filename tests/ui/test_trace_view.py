"""The trace view (AppTest): release name and model, the turn's guard violations, chat
messages as messages, a waterfall with a row per span, and an operator's review stored as
reviewer feedback apart from the users' thumbs."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from llmops import console
from llmops.releases import resolve_release
from llmops.store.models import Feedback, GuardEvent, Span, Trace
from llmops.ui.deps import runtime

pytestmark = pytest.mark.ui

TID = "ab" * 16
PROMPT = json.dumps([["system: Answer from the context.", "human: What is a canary release?"]])
ANSWER = "AIMessageChunk: A canary release serves a new version to a small share [1]."


def _seed() -> str:
    db = runtime().db
    release = resolve_release(db)
    t0 = datetime.now(UTC) - timedelta(minutes=5)
    spans = [
        Span(trace_id=TID, id=f"{i:016x}", parent_id=None if i == 0 else f"{0:016x}",
             name=f"step {i}", kind="llm" if i == 5 else "chain",
             started_at=t0 + timedelta(milliseconds=10 * i),
             ended_at=t0 + timedelta(milliseconds=10 * i + 8), duration_ms=8,
             input=PROMPT if i == 5 else None, output=ANSWER if i == 5 else None)
        for i in range(12)
    ]  # fmt: skip
    with db.session() as s:
        s.add(Trace(id=TID, session_id="s-1", release_id=release.id, model="local-extractive",
                    started_at=t0, input="What is a canary release?", output="A canary…"))  # fmt: skip
        s.add_all(spans)
        s.add(GuardEvent(trace_id=TID, validator="pii", direction="input", action="fixed",
                         message="Personal data redacted", excerpt="mail <EMAIL>"))  # fmt: skip
        s.add(Feedback(trace_id=TID, score=1.0, source="user"))
    return str(release.name)


def test_trace_view_panels_and_a_reviewer_score(admin_app: AppTest) -> None:
    at = admin_app
    at.run()
    name = _seed()
    at.query_params["trace"] = TID
    at.switch_page("pages/traces.py").run()
    assert not at.exception, at.exception
    shown = {m.label: m.value for m in at.metric}
    assert shown["Release"] == name and shown["Model"] == "local-extractive"
    violations = next(d.value for d in at.dataframe if "validator" in d.value.columns)
    assert list(violations["validator"]) == ["pii"] and list(violations["action"]) == ["fixed"]
    texts = [t.value for t in at.text]
    assert "What is a canary release?" in texts
    assert "A canary release serves a new version to a small share [1]." in texts
    assert not any("AIMessageChunk" in t for t in texts)
    assert "assistant" in [c.value for c in at.caption]
    links = [(p.proto.page, p.proto.query_string) for p in at.get("page_link")]
    assert links == [("sessions", "session=s-1")]

    at.slider(key="tr_review_score").set_value(0.25)
    at.text_area(key="tr_review_comment").input("Cites the wrong source")
    at.button(key="FormSubmitter:tr_review_" + TID + "-Save review").click().run()
    assert not at.exception, at.exception
    with runtime().db.session() as s:
        rows = s.scalars(select(Feedback).where(Feedback.trace_id == TID)).all()
        assert sorted((r.source, r.score, r.comment) for r in rows) == [
            ("reviewer", 0.25, "Cites the wrong source"), ("user", 1.0, None)]  # fmt: skip
    assert any("Cites the wrong source" in m.value for m in at.markdown)


def test_waterfall_rows_have_a_fixed_step_and_messages_parse() -> None:
    rows = [{"order": i, "label": f"span {i}", "kind": "chain", "start_ms": i, "end_ms": i + 1,
             "duration_ms": 1, "status": "ok"} for i in range(12)]  # fmt: skip
    spec = console.waterfall(rows).to_dict()
    assert spec["height"] == {"step": 26}  # 12 rows: 312 px, labels apart
    assert console.as_messages(PROMPT) == [
        ("system", "Answer from the context."), ("user", "What is a canary release?")]  # fmt: skip
    assert console.as_messages(ANSWER) == [("assistant", ANSWER.split(": ", 1)[1])]
    assert console.as_messages('{"query": "x"}') is None
    assert console.as_messages("plain text") is None


def test_traces_list_filters_by_guard_and_sorts(admin_app: AppTest) -> None:
    at = admin_app
    at.run()
    _seed()
    at.switch_page("pages/traces.py").run()
    at.selectbox(key="tr_validator").set_value("pii").run()
    assert not at.exception, at.exception
    assert list(at.dataframe[0].value["trace"]) == [TID]
    at.selectbox(key="tr_action").set_value("blocked").run()
    assert any("No traces match" in i.value for i in at.info)
    at.selectbox(key="tr_action").set_value("any")
    at.selectbox(key="tr_validator").set_value("any")
    at.text_input(key="tr_comment").input("nothing like this").run()
    assert any("No traces match" in i.value for i in at.info)
    at.text_input(key="tr_comment").input("").run()
    at.selectbox(key="tr_sort").set_value("latency").run()
    assert not at.exception, at.exception
    assert list(at.dataframe[0].value["trace"]) == [TID]


def test_traces_list_rows_are_readable(admin_app: AppTest) -> None:
    """Release names instead of ids, the model, numbers kept numeric (they sort) and
    formatted by the column config, the question given the widest column."""
    at = admin_app
    at.run()
    _seed()
    at.switch_page("pages/traces.py").run()
    assert not at.exception, at.exception
    table = at.dataframe[0]
    row = table.value.iloc[0]
    assert row["release"] == resolve_release(runtime().db).name
    assert row["model"] == "local-extractive"
    assert row["input"] == "What is a canary release?"
    config = json.loads(table.proto.columns)
    assert config["input"]["width"] == "large" and config["input"]["label"] == "question"
    assert config["latency"]["type_config"]["format"] == "%.0f ms"
    assert config["cost"]["type_config"]["format"] == "$%.5f"
    assert config["session"]["width"] == "small"
