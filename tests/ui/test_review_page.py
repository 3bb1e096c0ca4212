"""AppTest: the Review page — a queue from thumbs-down turns, reviewing item by item under a
lock, progress and exports, and one improvement from evidence to production."""

from __future__ import annotations

import json
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from llmops import feedback
from llmops.evals import datasets as ds
from llmops.improve import loop
from llmops.releases import core
from llmops.review import queues
from llmops.ui.deps import runtime

pytestmark = pytest.mark.ui

QUESTIONS = ["What is a canary release?", "How do I roll back?", "What is drift?"]


def _page(at: AppTest, section: str) -> AppTest:
    at.run()
    at.session_state["rv_section"] = section
    at.switch_page("pages/review.py").run()
    assert not at.exception, at.exception
    return at


def _thumbs_down() -> list[str]:
    rt = runtime()
    ids = []
    for i, q in enumerate(QUESTIONS):
        turn = rt.chat.respond(q, session_id=f"user-{i}").collect()
        feedback.record(rt.db, turn.trace_id, 0.0, tracer=rt.chat.tracer)
        ids.append(turn.trace_id)
    return ids


def _texts(at: AppTest) -> str:
    return "\n".join(str(e.value) for e in (*at.error, *at.success, *at.info))


def test_a_queue_is_reviewed_item_by_item_and_exported(admin_app: AppTest) -> None:
    traces = _thumbs_down()
    at = _page(admin_app, "Queues")
    at.text_input(key="rv_name").set_value("thumbs-down")
    at.selectbox(key="rv_range").set_value("last 24 hours")
    at.button[0].click()  # the form's submit button
    at.run()
    assert "created with 3 item(s)" in _texts(at), _texts(at)

    at.session_state["rv_section"] = "Review"
    at.run()
    seen = []
    for verdict in ("wrong", "correct", "partly"):
        caption = next(c.value for c in at.caption if "held for you" in c.value)
        seen.append(caption.split("trace=")[1].rstrip(")"))
        at.radio(key="rv_verdict").set_value(verdict)
        if verdict == "wrong":
            at.text_area(key="rv_corrected").set_value("Roll back with `llmops release rollback`.")
        at.button(key="rv_save").click().run()
        assert not at.exception, at.exception
    assert sorted(seen) == sorted(traces)  # each item once, then the queue is done
    assert "Nothing left for you" in _texts(at)

    at.session_state["rv_section"] = "Results"
    at.run()
    metrics = {m.label: m.value for m in at.metric}
    assert (metrics["Items"], metrics["Done"]) == ("3", "3")
    at.text_input(key="rv_ds").set_value("reviewed")
    at.button(key="rv_to_ds").click().run()
    assert "3 case(s) added to reviewed" in _texts(at)
    assert ds.get_dataset(runtime().db, "reviewed").items == 3
    examples = queues.finetune_examples(runtime().db, "thumbs-down")
    assert len(examples) == 2  # the corrected one and the correct one, not "partly"
    assert any("llmops release rollback" in e["messages"][-1]["content"] for e in examples), (
        json.dumps(examples)[:500]
    )


def test_an_improvement_is_driven_to_production_with_an_audited_override(
    admin_app: AppTest,
) -> None:
    db = runtime().db
    ds.add_cases(db, "canary", [ds.Case(q) for q in QUESTIONS])
    cand = core.create_release(
        db, core.ReleaseConfig(retrieval=core.RetrievalConfig(k=6)), name="k6"
    ).id
    at = _page(admin_app, "Improvements")
    at.text_input(key="rv_im_title").set_value("Canary answers are thin")
    at.selectbox(key="rv_im_kind").set_value("gap")
    at.text_input(key="rv_im_ref").set_value("7")
    at.button(key="rv_im_open").click().run()
    assert "opened" in _texts(at)
    rec: Any = loop.list_improvements(db)[0]
    assert rec.evidence["ref"] == "7"

    at.selectbox(key=f"rv_im_ds.{rec.id}").set_value("canary")
    at.run()
    at.button(key="rv_im_set_ds").click().run()
    at.selectbox(key=f"rv_im_cand.{rec.id}").set_value(cand)
    at.run()
    at.button(key="rv_im_set_cand").click().run()
    assert at.button(key="rv_im_canary").disabled  # no passed gate, no canary
    assert at.button(key="rv_im_promote").disabled  # not confirmed yet
    at.checkbox(key=f"rv_im_confirm.{rec.id}").check().run()
    at.button(key="rv_im_promote").click().run()
    assert "override" in _texts(at) and core.labels(db).production != cand  # refused
    at.checkbox(key="rv_im_override").check()
    at.text_input(key="rv_im_reason").set_value("hotfix, gate later")
    at.run()
    at.button(key="rv_im_promote").click().run()
    assert core.labels(db).production == cand
    rec = loop.get(db, rec.id)
    assert rec.status == "promoted" and rec.overridden and rec.reason == "hotfix, gate later"
    steps = [s.step for s in loop.events(db, rec.id)]
    assert steps == ["evidence", "dataset", "candidate", "promoted"]


def test_the_improvement_pickers_start_at_what_the_record_holds(admin_app: AppTest) -> None:
    db = runtime().db
    ds.add_cases(db, "first", [ds.Case(q) for q in QUESTIONS])
    ds.add_cases(db, "second", [ds.Case(q) for q in QUESTIONS])
    cand = core.create_release(
        db, core.ReleaseConfig(retrieval=core.RetrievalConfig(k=6)), name="k6"
    ).id
    one = loop.start(db, "thin answers", kind="gap", ref="1")
    loop.set_dataset(db, one.id, "second")
    loop.set_candidate(db, one.id, cand)
    two = loop.start(db, "other problem", kind="gap", ref="2")
    at = _page(admin_app, "Improvements")
    at.selectbox(key="rv_im_pick").set_value(one.id).run()
    assert at.selectbox(key=f"rv_im_ds.{one.id}").value == "second"
    assert at.selectbox(key=f"rv_im_cand.{one.id}").value == cand
    at.selectbox(key="rv_im_pick").set_value(two.id).run()
    assert at.selectbox(key=f"rv_im_ds.{two.id}").value == ""  # nothing carried over
