"""AppTest: a run whose evaluator failed on some items says so on the Evaluations page — a
warning, an ``errors`` count next to the mean, and which evaluator failed on which item;
importing the same cases twice adds nothing the second time."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from llmops.evals import datasets as ds
from llmops.evals import evaluators as ev
from llmops.ui.deps import runtime

pytestmark = pytest.mark.ui

CASES = [
    {"input": "What is a rollback?", "must_include": ["previous release"]},
    {"input": "What does p95 latency mean?", "must_include": ["95 percent"]},
]


@pytest.fixture
def flaky() -> Iterator[None]:
    @ev.evaluator("flaky_ui", description="Fails on the rollback question.")
    def flaky_ui(case: ev.EvalInput) -> float:
        if "rollback" in case.question:
            raise RuntimeError("the scorer is down")
        return 1.0

    yield
    ev.REGISTRY.pop("flaky_ui", None)


def _table(at: AppTest, column: str) -> Any:
    for df in at.dataframe:
        if column in df.value.columns:
            return df.value
    raise AssertionError(f"no table with a {column!r} column")


def _page(at: AppTest, section: str | None = None, **params: str) -> AppTest:
    at.run()
    if section:
        at.session_state["ev_section"] = section
    for k, v in params.items():
        at.query_params[k] = v
    at.switch_page("pages/evals.py").run()
    assert not at.exception, at.exception
    return at


def test_run_detail_shows_evaluator_errors(admin_app: AppTest, flaky: None) -> None:
    from llmops.ui.evals import background

    admin_app.run()  # the page's runtime, on this test's home
    ds.add_cases(runtime().db, "ui", ds.parse_jsonl("\n".join(json.dumps(c) for c in CASES)))
    runner = background().runner
    run = runner.run(runner.create("ui", "production", evaluators=["contains_all", "flaky_ui"]).id)
    assert run.status == "completed"
    at = _page(admin_app, run=run.id)
    assert any(
        "flaky_ui" in w.value and "failed on 1 item(s)" in w.value and "scorer is down" in w.value
        for w in at.warning
    )
    scores = _table(at, "95% CI")
    row = scores[scores["evaluator"] == "flaky_ui"].iloc[0]
    assert (row["n"], row["n/a"], row["errors"]) == (1, 0, 1)
    results = _table(at, "evaluator errors")
    failed = results[results["input"] == "What is a rollback?"].iloc[0]
    assert failed["evaluator errors"] == "flaky_ui: RuntimeError: the scorer is down"
    assert results[results["input"] != "What is a rollback?"]["evaluator errors"].isna().all()


def test_pasting_the_same_cases_twice_adds_them_once(admin_app: AppTest) -> None:
    at = _page(admin_app, "Datasets")
    for expected in ("Imported 2 case(s) into twice (version 1).",
                     "Imported 0 case(s) into twice (version 1); 2 already in the dataset."):  # fmt: skip
        at.text_area(key="ev_paste").input("\n".join(json.dumps(c) for c in CASES))
        at.text_input(key="ev_import_name").input("twice")
        at.button(key="ev_import").click().run()
        assert not at.exception, at.exception
        assert any(expected == s.value for s in at.success), [s.value for s in at.success]
    assert ds.get_dataset(runtime().db, "twice").items == 2
