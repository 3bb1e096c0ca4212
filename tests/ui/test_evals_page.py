"""AppTest: the Evaluations page — datasets, a run with progress, run detail, compare,
and thumbs-down traces suggested as cases."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from llmops import feedback
from llmops.evals import datasets as ds
from llmops.evals.runs import get_run, list_runs
from llmops.ui.deps import runtime

pytestmark = pytest.mark.ui

CASES = [
    {"input": "What does p95 latency mean?", "must_include": ["95 percent"]},
    {"input": "¿Qué es la deriva (drift)?", "must_include": ["cambio gradual"], "lang": "es"},
    {"input": "What is a rollback?", "must_include": ["previous release"]},
]


def _page(at: AppTest, section: str | None = None, **params: str) -> AppTest:
    at.run()
    if section:
        at.session_state["ev_section"] = section
    for k, v in params.items():
        at.query_params[k] = v
    at.switch_page("pages/evals.py").run()
    assert not at.exception, at.exception
    return at


def _table(at: AppTest, column: str) -> Any:
    """The first dataframe with ``column`` (display-only dataframes carry no key)."""
    for df in at.dataframe:
        if column in df.value.columns:
            return df.value
    raise AssertionError(f"no table with a {column!r} column")


def _wait_for_run(run_id: str, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = get_run(runtime().db, run_id)
        if run.status not in ("pending", "running", "cancelling"):
            return run
        time.sleep(0.1)
    raise AssertionError(f"run {run_id} did not finish")


def _run_demo(n: int = 3) -> str:
    from llmops.ui.evals import background

    rt = runtime()
    ds.add_cases(rt.db, "ui", ds.parse_jsonl("\n".join(json.dumps(c) for c in CASES[:n])))
    run = background().runner.create("ui", "production", evaluators=["contains_all", "latency"])
    background().runner.run(run.id)
    return run.id


@pytest.mark.parametrize("section", ["Datasets", "New run", "Runs", "Compare", "Suggestions"])
def test_every_section_renders_on_an_empty_store(admin_app: AppTest, section: str) -> None:
    _page(admin_app, section)
    assert admin_app.title[0].value == "Evaluations"


def test_import_pasted_cases_browse_edit_and_bad_lines(admin_app: AppTest) -> None:
    at = _page(admin_app, "Datasets")
    at.text_area(key="ev_paste").input("\n".join(json.dumps(c) for c in CASES))
    at.text_input(key="ev_import_name").input("support")
    at.button(key="ev_import").click().run()
    assert not at.exception, at.exception
    assert any("Imported 3 case(s) into support" in s.value for s in at.success)
    table = _table(at, "must include")
    assert list(table["input"]) == [c["input"] for c in CASES]

    first_id = int(table["id"][0])
    info = ds.get_dataset(runtime().db, "support")
    at.selectbox(key=f"ev_edit_pick_{info.id}").set_value(first_id).run()
    at.text_area(key=f"ev_edit_{first_id}_expected").input("The value 95 percent stay under.")
    at.button(key=f"FormSubmitter:ev_edit_{first_id}-Save").click().run()
    assert not at.exception, at.exception
    info = ds.get_dataset(runtime().db, "support")
    assert info.version == 2 and info.items == 3
    assert any(i.expected == "The value 95 percent stay under." for i in ds.list_items(
        runtime().db, "support")[0])  # fmt: skip

    at.text_area(key="ev_paste").input('{"input": "fine"}\n{"expected": "no input"}\nnot json')
    at.text_input(key="ev_import_name").input("broken")
    at.button(key="ev_import").click().run()
    assert not at.exception
    assert any("2 invalid line(s): nothing was imported" in e.value for e in at.error)
    errors = _table(at, "problem")
    assert list(errors["line"]) == [2, 3]
    assert ds.find_dataset(runtime().db, "broken") is None


def test_start_a_run_from_the_form_and_read_its_detail(admin_app: AppTest) -> None:
    at = _page(admin_app, "Datasets")
    at.button(key="ev_demo").click().run()
    assert any("demo:" in s.value for s in at.success)
    at.session_state["ev_section"] = "New run"
    at.run()
    assert not at.exception, at.exception
    assert any("disabled here" in e.label for e in at.expander)  # the LLM judges
    at.multiselect(key="ev_run_evaluators").set_value(["contains_all", "groundedness"])
    at.button(key="FormSubmitter:ev_new_run-Start run").click().run()
    assert not at.exception, at.exception
    run_id = at.query_params["run"]
    run_id = run_id[0] if isinstance(run_id, list) else run_id
    done = _wait_for_run(run_id)
    assert done.status == "completed" and done.done_items == done.total_items >= 30
    at.run()
    assert not at.exception, at.exception
    assert run_id in at.caption[0].value
    scores = _table(at, "95% CI")
    assert set(scores["evaluator"]) == {"contains_all", "groundedness"}
    assert set(scores.columns) >= {"mean", "95% CI", "en", "es"}
    assert at.get("vega_lite_chart") or at.get("arrow_vega_lite_chart")
    results = _table(at, "why")
    assert len(results) == 25 and results["trace"].str.startswith("/traces?trace=").all()
    worst = list(results["contains_all"].dropna())
    assert worst == sorted(worst) or at.selectbox(key="ev_sort").value == "(dataset order)"

    # each case's trace shows its scores on the Traces page
    trace_id = results["trace"][0].split("=", 1)[1]
    runtime().tracer.flush()
    at.query_params.clear()
    at.query_params["trace"] = trace_id
    at.switch_page("pages/traces.py").run()
    assert not at.exception, at.exception
    shown = _table(at, "evaluator")
    assert set(shown["evaluator"]) <= {"contains_all", "groundedness"}
    assert all(src == f"run {run_id}" for src in shown["source"])


def test_runs_list_and_compare_view(admin_app: AppTest) -> None:
    first, second = _run_demo(), _run_demo()
    assert first != second
    at = _page(admin_app, "Runs")
    runs = _table(at, "created")
    assert len(runs) == 2
    at.multiselect(key="ev_runs_pick").set_value([first, second]).run()
    at.button(key="ev_compare_selected").click().run()
    assert not at.exception, at.exception
    metrics = _table(at, "significant")
    assert set(metrics["evaluator"]) == {"contains_all", "latency"}
    contains = metrics[metrics["evaluator"] == "contains_all"].iloc[0]
    assert contains["Δ"] == 0 and contains["worse"] == 0  # the local model is deterministic
    items = _table(at, "A trace")
    assert len(items) == 3 and items["A trace"].str.startswith("/traces?trace=").all()

    at.query_params["compare"] = "run_x,run_y"
    at.run()
    assert not at.exception and any("does not exist" in e.value for e in at.error)


def test_a_stopped_run_offers_resume(admin_app: AppTest) -> None:
    from llmops.ui.evals import background

    rt = runtime()
    ds.add_cases(rt.db, "ui", ds.parse_jsonl("\n".join(json.dumps(c) for c in CASES)))
    runner = background().runner
    run = runner.create("ui", "production", evaluators=["contains_all"])
    import threading

    stop = threading.Event()
    stop.set()  # cancelled before the first item
    runner.run(run.id, cancel=stop)
    at = _page(admin_app, run=run.id)
    assert any("cancelled" in w.value for w in at.warning)
    at.button(key="ev_resume").click().run()
    assert not at.exception
    background().join()  # the resumed run's thread, started by the click
    assert get_run(runtime().db, run.id).status == "completed"


def test_thumbs_down_traces_become_cases_in_one_click(admin_app: AppTest) -> None:
    rt = runtime()
    turn = rt.chat.ask("What is a canary release?", session_id="user-1")
    rt.tracer.flush()
    feedback.record(rt.db, turn.trace_id, 0.0, comment="No mention of the sticky hash")
    at = _page(admin_app, "Suggestions")
    table = _table(at, "comment")
    assert list(table["comment"]) == ["No mention of the sticky hash"]
    at.multiselect(key="ev_sugg_pick").set_value([turn.trace_id])
    at.selectbox(key="ev_sugg_target").set_value("(new dataset)").run()
    at.text_input(key="ev_sugg_new").input("from-feedback")
    at.text_area(key="ev_sugg_fix").input("A canary uses a sticky hash of the session.")
    at.button(key="ev_sugg_add").click().run()
    assert not at.exception, at.exception
    assert any("Added 1 case(s) to from-feedback" in s.value for s in at.success)
    (item,), _ = ds.list_items(rt.db, "from-feedback")
    assert item.origin_trace_id == turn.trace_id
    assert item.expected == "A canary uses a sticky hash of the session."
    at.run()
    assert any("No traces waiting" in i.value for i in at.info)
    at.selectbox(key="ev_sugg_fb").set_value("any")
    at.toggle(key="ev_sugg_guard").set_value(True).run()
    assert any("No traces waiting" in i.value for i in at.info)  # no guard events at all
    assert list_runs(rt.db)[1] == 0
