"""Comparison and the CI gate with a genuinely worse candidate: a release whose model is an
OpenAI-compatible server on 127.0.0.1 that always gives the same one-line answer."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from llmops.errors import InvalidInputError
from llmops.evals import datasets as ds
from llmops.evals.compare import compare_runs
from llmops.evals.gate import parse_mins, run_gate
from llmops.evals.runner import EvalRunner
from llmops.evals.stats import sign_test
from llmops.releases import ModelConfig, ReleaseConfig, ReleaseInfo, create_release
from llmops.store.db import Database
from tests.llm.openai_server import OpenAIServer

from .conftest import small

EVALS = ["contains_all", "groundedness", "context_recall", "latency"]


@pytest.fixture
def worse(db: Database) -> Iterator[ReleaseInfo]:
    with OpenAIServer() as server:
        model = ModelConfig(provider="openai-compatible", name="fixed", base_url=server.base_url,
                            max_retries=0, timeout_s=5)  # fmt: skip
        yield create_release(db, ReleaseConfig(model=model), name="fixed-answer")


def test_paired_comparison_finds_the_regression_and_links_both_traces(
    eval_runner: EvalRunner, db: Database, worse: ReleaseInfo, demo_cases: list[ds.Case]
) -> None:
    ds.add_cases(db, "cmp", small(demo_cases, 8))
    a = eval_runner.run(eval_runner.create("cmp", "production", evaluators=EVALS).id)
    b = eval_runner.run(eval_runner.create("cmp", worse.id, evaluators=EVALS).id)
    cmp = compare_runs(db, a.id, b.id)
    ca = cmp.metrics["contains_all"]
    assert ca.stats.n == 8 and ca.stats.losses >= 4 and ca.stats.wins == 0
    assert ca.stats.delta is not None and ca.stats.delta < -0.3
    # 8 pairs: too few for the bootstrap, so the exact sign test decides
    assert ca.stats.p_value == ca.stats.p_sign == sign_test(0, ca.stats.losses)
    assert ca.significant == (ca.stats.p_value < 0.05)
    assert cmp.items[0].delta is not None and cmp.items[0].delta < 0
    deltas = [i.delta for i in cmp.items if i.delta is not None]
    assert deltas == sorted(deltas)  # most regressed first
    first = cmp.items[0]
    assert first.trace_a and first.trace_b and first.trace_a != first.trace_b
    assert "LLMOps is the practice of operating LLM applications" in (first.output_b or "")
    assert cmp.unpaired_a == cmp.unpaired_b == 0
    d = cmp.as_dict()
    assert d["metrics"]["contains_all"]["p_value"] == ca.stats.p_sign
    assert len(d["items"]) == 8

    by_latency = compare_runs(db, a.id, b.id, metric="latency")
    assert by_latency.sort_metric == "latency"
    with pytest.raises(InvalidInputError, match="two different runs"):
        compare_runs(db, a.id, a.id)
    with pytest.raises(InvalidInputError, match="Both runs"):
        compare_runs(db, a.id, b.id, metric="semantic_similarity")


def test_runs_over_successive_versions_pair_the_unchanged_items(
    eval_runner: EvalRunner, db: Database, demo_cases: list[ds.Case]
) -> None:
    ds.add_cases(db, "vers", small(demo_cases, 4))
    a = eval_runner.run(eval_runner.create("vers", "production", evaluators=EVALS).id)
    first = ds.list_items(db, "vers")[0][0]
    edited = first.case()
    edited.must_include = ["something else"]
    ds.update_item(db, "vers", first.id, edited)
    b = eval_runner.run(eval_runner.create("vers", "production", evaluators=EVALS).id)
    cmp = compare_runs(db, a.id, b.id)
    assert len(cmp.items) == 3 and cmp.unpaired_a == cmp.unpaired_b == 1
    assert "dataset versions differ" in cmp.notes[0]
    assert cmp.metrics["contains_all"].stats.ties == 3  # the local model is deterministic


def test_gate_passes_production_and_fails_the_worse_candidate(
    eval_runner: EvalRunner, db: Database, worse: ReleaseInfo, demo_cases: list[ds.Case]
) -> None:
    ds.add_cases(db, "gate", small(demo_cases, 6))
    ok = run_gate(eval_runner, "gate", "production", evaluators=EVALS,
                  mins=parse_mins(["contains_all=0.3"]))  # fmt: skip
    assert ok.passed, ok.render()
    assert "baseline is the candidate" in ok.render()

    bad = run_gate(eval_runner, "gate", worse.id, evaluators=EVALS,
                   mins=parse_mins(["groundedness=0.5", "contains_all=0.3"]))  # fmt: skip
    assert not bad.passed
    failed = {(c.kind, c.metric) for c in bad.checks if not c.passed}
    assert ("regression", "contains_all") in failed and ("min", "contains_all") in failed
    assert ("regression", "latency") not in {(c.kind, c.metric) for c in bad.checks}
    text = bad.render()
    assert text.startswith("eval gate: FAILED") and "FAIL contains_all" in text
    assert "drop beyond 0.02" in text
    assert bad.baseline is not None
    baseline_run = bad.baseline.id
    # a second gate reuses the completed baseline run of the same dataset version
    again = run_gate(eval_runner, "gate", worse.id, evaluators=EVALS)
    assert again.baseline is not None and again.baseline.id == baseline_run
    assert not again.passed
    d = again.as_dict()
    assert d["passed"] is False and d["baseline"]["run_id"] == baseline_run


def test_gate_arguments_are_checked() -> None:
    with pytest.raises(InvalidInputError, match="METRIC=VALUE"):
        parse_mins(["contains_all"])
    with pytest.raises(InvalidInputError, match="not a number"):
        parse_mins(["contains_all=high"])
    with pytest.raises(InvalidInputError, match="between 0 and 1"):
        parse_mins(["contains_all=2"])
    with pytest.raises(InvalidInputError, match="Unknown evaluator"):
        parse_mins(["contians_all=0.8"])
    assert parse_mins(["contains_all=0.8", "groundedness=0.9"]) == {
        "contains_all": 0.8,
        "groundedness": 0.9,
    }
