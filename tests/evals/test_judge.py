"""LLM-as-judge against a real HTTP server on 127.0.0.1 speaking OpenAI's protocol."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from llmops.config import Settings
from llmops.errors import InvalidInputError
from llmops.evals import datasets as ds
from llmops.evals.evaluators import EvalContext, EvalInput, get_evaluator
from llmops.evals.judge import RUBRICS, Judge, parse_grade
from llmops.evals.runner import EvalRunner
from llmops.store.db import Database
from llmops.store.queries import get_trace

from .conftest import small
from .judge_server import JudgeServer


@pytest.fixture
def server() -> Iterator[JudgeServer]:
    with JudgeServer() as srv:
        yield srv


@pytest.fixture
def judge(server: JudgeServer, llmops_home: Any) -> Judge:
    settings = Settings(
        home=llmops_home,
        eval_judge_provider="openai-compatible",
        eval_judge_model="judge-model",
        eval_judge_base_url=server.base_url,
        eval_judge_timeout_s=5,
    )
    made = Judge.from_settings(settings)
    assert made is not None
    return made


def test_no_judge_without_a_real_model(llmops_home: Any) -> None:
    assert Judge.from_settings(Settings(home=llmops_home)) is None
    local = Settings(home=llmops_home, eval_judge_provider="local", eval_judge_model="x")
    assert Judge.from_settings(local) is None


def test_a_hosted_judge_without_its_key_says_which_variable_to_set(
    llmops_home: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    hosted = Settings(home=llmops_home, eval_judge_provider="openai", eval_judge_model="gpt-x")
    with pytest.raises(InvalidInputError, match="API key") as err:
        Judge.from_settings(hosted)
    assert "OPENAI_API_KEY" in str(err.value)


def test_correctness_uses_the_rubric_and_keeps_the_reasoning(
    judge: Judge, server: JudgeServer
) -> None:
    ctx = EvalContext(judge=judge)
    good = EvalInput("What is a canary?", "A canary release serves a small share. [1]",
                     expected="A canary release serves a small share of sessions.")  # fmt: skip
    score = get_evaluator("judge_correctness")(good, ctx)
    assert score.value == 1.0
    assert score.explanation.startswith("5/5 by judge-model:") and "shares" in score.explanation
    sent = server.requests[-1]
    assert sent["model"] == "judge-model" and sent["temperature"] == 0.0
    user = sent["messages"][-1]["content"]
    assert RUBRICS["correctness"] in user and "Reference answer:" in user
    assert "[1]" not in user  # citation markers are not the judge's business

    bad = EvalInput("What is a canary?", "Bananas.", expected="A canary release serves few.")
    assert get_evaluator("judge_correctness")(bad, ctx).value == 0.0
    assert get_evaluator("judge_correctness")(EvalInput("q", "a"), ctx).value is None
    helpful = get_evaluator("judge_helpfulness")(good, ctx)
    assert helpful.value is not None
    assert "Reference answer:" not in server.requests[-1]["messages"][-1]["content"]


def test_unreadable_replies_and_server_errors_are_not_scores(
    judge: Judge, server: JudgeServer
) -> None:
    ctx = EvalContext(judge=judge)
    case = EvalInput("q", "an answer")
    server.grade = lambda messages: "I think it is fine."
    unread = get_evaluator("judge_safety")(case, ctx)
    assert unread.value is None and "could not be read" in unread.explanation
    server.grade = lambda messages: json.dumps({"score": 9, "reasoning": "?"})
    assert get_evaluator("judge_safety")(case, ctx).value is None
    server.mode = "500"
    down = get_evaluator("judge_safety")(case, ctx)
    assert down.value is None and down.explanation.startswith("error:")


def test_parse_grade_accepts_json_in_prose_and_loose_scores() -> None:
    assert parse_grade('Sure! {"reasoning": "ok", "score": 4}') == (4, "ok")
    assert parse_grade("Reasoning... Score: 2")[0] == 2
    with pytest.raises(ValueError):
        parse_grade('{"score": "high"}')
    with pytest.raises(ValueError):
        parse_grade("no grade here")


def test_a_run_with_judges_stores_rubrics_and_traces_the_judge_calls(
    eval_runner: EvalRunner, judge: Judge, db: Database, writer: Any, demo_cases: list[ds.Case]
) -> None:
    eval_runner.judge = judge
    ds.add_cases(db, "judged", small(demo_cases, 2))
    run = eval_runner.create("judged", "production",
                             evaluators=["contains_all", "judge_correctness", "judge_safety"])  # fmt: skip
    assert run.config["rubrics"]["judge_correctness"] == RUBRICS["correctness"]
    assert run.config["judge"] == "judge-model"
    done = eval_runner.run(run.id)
    assert done.status == "completed"
    assert done.metrics["scores"]["judge_safety"]["n"] == 2
    assert writer.flush()
    from llmops.evals.runs import list_results

    rows, _ = list_results(db, run.id)
    detail = get_trace(db, rows[0].trace_id)  # type: ignore[arg-type]
    evaluate = next(s for s in detail.spans if s["kind"] == "evaluator")
    judge_spans = [s for s in detail.spans if s["parent_id"] == evaluate["id"]]
    assert {s["kind"] for s in judge_spans} == {"llm"}
    assert len(judge_spans) == 2
    assert all(s["attributes"].get("gen_ai.usage.input_tokens") == 200 for s in judge_spans)
