"""An evaluator that raises is an error of the run, not "not applicable": counted per
evaluator, named on the item, shown by the CLI, and the CI gate does not pass over it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from llmops.cli import app
from llmops.evals import datasets as ds
from llmops.evals import evaluators as ev
from llmops.evals.compare import compare_runs
from llmops.evals.gate import run_gate
from llmops.evals.runner import EvalRunner
from llmops.evals.runs import list_results
from llmops.releases import ModelConfig, ReleaseConfig, create_release
from llmops.store.db import Database
from llmops.store.queries import get_trace

from .conftest import small

FLAKY = "flaky_check"


@pytest.fixture
def flaky() -> Iterator[set[str]]:
    """A registered evaluator that raises on the questions in the returned set, else 1.0."""
    fail_on: set[str] = set()

    @ev.evaluator(FLAKY, description="Fails on chosen questions.")
    def flaky_check(case: ev.EvalInput) -> float:
        if case.question in fail_on:
            raise RuntimeError("the scorer is down")
        return 1.0

    yield fail_on
    ev.REGISTRY.pop(FLAKY, None)


def test_a_raising_evaluator_is_an_error_not_a_skip() -> None:
    @ev.evaluator("always_raises")
    def always_raises(case: ev.EvalInput) -> float:
        raise ValueError("bad\ninput")

    try:
        score = ev.get_evaluator("always_raises")(ev.EvalInput("q", "a"), ev.EvalContext())
    finally:
        ev.REGISTRY.pop("always_raises", None)
    assert score.value is None and score.error == "ValueError: bad input"
    assert ev.error_of(score.value, score.explanation) == "ValueError: bad input"
    not_applicable = ev.get_evaluator("exact_match")(ev.EvalInput("q", "a"), ev.EvalContext())
    assert not_applicable.value is None and not_applicable.error is None
    assert ev.error_of(not_applicable.value, not_applicable.explanation) is None


def test_run_metrics_count_errors_apart_and_the_item_says_which_evaluator_failed(
    eval_runner: EvalRunner, db: Database, demo_cases: list[ds.Case], flaky: set[str]
) -> None:
    cases = small(demo_cases, 4)
    ds.add_cases(db, "flaky", cases)
    flaky.add(cases[0].input)
    created = eval_runner.create("flaky", "production", evaluators=["contains_all", FLAKY])
    run = eval_runner.run(created.id)
    assert run.status == "completed"
    m = run.metrics["scores"][FLAKY]
    assert (m["n"], m["not_applicable"], m["errors"], m["mean"]) == (3, 0, 1, 1.0)
    assert m["first_error"] == "RuntimeError: the scorer is down"
    assert run.errors() == {FLAKY: 1}
    assert run.metrics["scores"]["contains_all"]["errors"] == 0

    rows, _ = list_results(db, run.id)
    failed = [r for r in rows if r.errors]
    assert [r.input for r in failed] == [cases[0].input]
    assert failed[0].errors == {FLAKY: "RuntimeError: the scorer is down"}
    assert failed[0].scores[FLAKY] is None

    # the item's trace shows the failure on its evaluate span
    assert eval_runner.sink.flush()
    span = next(s for s in get_trace(db, failed[0].trace_id or "").spans if s["name"] == "evaluate")
    assert span["status"] == "error" and FLAKY in (span["error"] or "")
    assert span["attributes"][f"llmops.eval.error.{FLAKY}"] == "RuntimeError: the scorer is down"


def test_the_gate_fails_checks_over_a_metric_whose_evaluator_errored(
    eval_runner: EvalRunner, db: Database, demo_cases: list[ds.Case], flaky: set[str]
) -> None:
    cases = small(demo_cases, 4)
    ds.add_cases(db, "gated", cases)
    # answers exactly like production, as a release of its own
    same = create_release(db, ReleaseConfig(model=ModelConfig(timeout_s=59)), name="same")
    flaky.add(cases[1].input)
    evals = ["contains_all", FLAKY]
    report = run_gate(eval_runner, "gated", same.id, evaluators=evals, mins={FLAKY: 0.9})
    checks = {(c.kind, c.metric): c for c in report.checks}
    # the three items that worked score 1.0: without the rule both checks would pass
    assert checks[("min", FLAKY)].value == 1.0 and not checks[("min", FLAKY)].passed
    assert "failed on 1 item(s) of the candidate run" in checks[("min", FLAKY)].message
    assert "RuntimeError: the scorer is down" in checks[("min", FLAKY)].message
    assert not checks[("regression", FLAKY)].passed
    assert checks[("regression", "contains_all")].passed
    assert not report.passed and f"FAIL {FLAKY}" in report.render()
    assert report.comparison is not None
    assert any(f"{FLAKY} failed on 1 item(s) of run A" in n for n in report.comparison.notes)

    # an errored baseline run is not reused: once the evaluator works, the gate passes
    flaky.clear()
    again = run_gate(eval_runner, "gated", same.id, evaluators=evals, mins={FLAKY: 0.9})
    assert again.passed, again.render()
    assert again.baseline is not None and report.baseline is not None
    assert again.baseline.id != report.baseline.id

    # an evaluator that failed on every item still fails its regression check
    flaky.update(c.input for c in cases)
    worst = run_gate(eval_runner, "gated", same.id, evaluators=evals)
    assert [c.metric for c in worst.checks if not c.passed] == [FLAKY]
    cmp = compare_runs(db, again.baseline.id, worst.candidate.id)
    assert FLAKY not in cmp.metrics and any("failed on 4 item(s) of run B" in n for n in cmp.notes)


KB = """# Releases

## Rollback
A rollback moves the production label back to the previous release.

## Canary
A canary deployment sends a small share of conversations to a candidate release.
"""


def _json(result: Any) -> Any:
    assert result.exit_code in (0, 1), (result.stdout, result.stderr)
    return json.loads(result.stdout)


def test_the_cli_shows_evaluator_errors_and_the_gate_exits_1(
    tmp_path: Path, flaky: set[str]
) -> None:
    cli = CliRunner()
    kb = tmp_path / "kb" / "en"
    kb.mkdir(parents=True)
    (kb / "releases.md").write_text(KB, encoding="utf-8")
    assert cli.invoke(app, ["kb", "ingest", str(kb.parent)]).exit_code == 0
    cases = [{"input": "What is a rollback?", "must_include": ["previous release"]},
             {"input": "What does a canary send?", "must_include": ["small share"]}]  # fmt: skip
    path = tmp_path / "ops.jsonl"
    path.write_text("".join(json.dumps(c) + "\n" for c in cases), encoding="utf-8")
    flaky.add("What is a rollback?")

    res = cli.invoke(app, ["eval", "run", str(path), "-e", f"contains_all,{FLAKY}", "--json"])
    out = _json(res)
    assert res.exit_code == 0 and out["errors"] == {FLAKY: 1}
    by_input = {i["input"]: i for i in out["items"]}
    assert by_input["What is a rollback?"]["errors"] == {FLAKY: "RuntimeError: the scorer is down"}
    assert by_input["What does a canary send?"]["errors"] == {}

    shown = cli.invoke(app, ["eval", "show", out["run_id"]])
    assert shown.exit_code == 0
    line = next(x for x in shown.stdout.splitlines() if x.strip().startswith(FLAKY))
    assert "n=1" in line and "1 error(s)" in line
    assert f"error: {FLAKY} failed on 1 item(s): RuntimeError: the scorer is down" in shown.stderr
    detail = _json(cli.invoke(app, ["eval", "show", out["run_id"], "--json"]))
    assert detail["errors"] == {FLAKY: 1}

    gate = cli.invoke(app, ["eval", "gate", "-d", str(path), "-r", "production", "--min",
                            f"{FLAKY}=0.5", "-e", f"contains_all,{FLAKY}"])  # fmt: skip
    assert gate.exit_code == 1, gate.stdout + gate.stderr
    assert "eval gate: FAILED" in gate.stdout and "a check cannot pass over evaluator errors" in (
        gate.stdout
    )
