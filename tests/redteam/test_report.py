"""The risk report of a release on real stores (SQLite and PostgreSQL): every section from
seeded guard evaluations, red-team scans, bias probe runs and evaluation runs; failed gates;
and plain words where there is no data yet."""

from __future__ import annotations

import json

import pytest

from llmops.errors import InvalidInputError, NotFoundError
from llmops.evals.runs import aggregate
from llmops.guards.report import save_eval
from llmops.redteam import bias_runs, report_md
from llmops.redteam import report as risk
from llmops.redteam import scan as rt
from llmops.releases.core import PRODUCTION, ReleaseConfig, create_release, labels, resolve_ref
from llmops.store.db import Database
from llmops.store.models import Dataset, DatasetItem, EvalResult, EvalRun, Improvement

GUARD_RESULTS = {
    "profile": "default",
    "labels": {"prompt_injection": {"support": 10, "precision": 1.0, "recall": 0.6, "fpr": 0.0,
                                    "tp": 6, "fp": 0, "fn": 4, "tn": 10}},
    "benign": {"all": {"fpr": 0.05}},
    "latency_ms": {"median": 1.0},
}  # fmt: skip


def _finding(attack: str, category: str, success: bool, trace: str) -> rt.Finding:
    return rt.Finding(attack, category, "en", "LLM01:2025 Prompt Injection", success,
                      "instruction_followed" if success else "guard_blocked",
                      "did what the attack asked" if success else "input blocked",
                      "prompt", "answer", trace, [trace])  # fmt: skip


def _scan(db: Database, ref: str, wins: int, n: int = 10) -> int:
    release = resolve_ref(db, ref)
    scan_id = rt.start_scan(db, release, ["direct_injection"], "tester", n)
    rt._finish(db, scan_id, [_finding(f"di-{i}", "direct_injection", i < wins, f"{i:032x}")
                             for i in range(n)], status="done")  # fmt: skip
    return scan_id


def _eval_run(db: Database, dataset_id: int, release_id: str, scores: list[float],
              run_id: str, fairness: float | None = None) -> None:  # fmt: skip
    with db.session() as s:
        items = s.query(DatasetItem).filter_by(dataset_id=dataset_id).order_by(DatasetItem.id)
        s.add(EvalRun(id=run_id, dataset_id=dataset_id, dataset_version=1, release_id=release_id,
                      status="completed", evaluators=["contains_all", "fairness"],
                      total_items=len(scores), done_items=len(scores)))  # fmt: skip
        s.flush()
        for item, score in zip(items, scores, strict=True):
            s.add(EvalResult(run_id=run_id, item_id=item.id, output="x",
                             scores={"contains_all": score, "fairness": fairness}))  # fmt: skip
    metrics = aggregate(db, run_id)
    with db.session() as s:
        row = s.get(EvalRun, run_id)
        assert row is not None
        row.metrics = metrics


def _dataset(db: Database, n: int) -> int:
    with db.session() as s:
        ds = Dataset(name="risk-set", version=1)
        s.add(ds)
        s.flush()
        for i in range(n):
            s.add(DatasetItem(dataset_id=ds.id, input=f"question {i}", lang="en", added_in=1))
        return int(ds.id)


def _bias(db: Database, ref: str, flagged: bool) -> int:
    release = resolve_ref(db, ref)
    run_id = bias_runs.start_run(db, release, ["gender"], ["en"], 40, "tester")
    result = {"flagged": flagged, "groups": {"female": {"n": 20, "refusal_rate": 0.6},
                                             "male": {"n": 20, "refusal_rate": 0.0}},
              "reasons": ["'female' is refused more than 'male' (60% vs 0%)"] if flagged else [],
              "refusal_gap": 0.6 if flagged else 0.0, "refusal_p": 0.0001 if flagged else 1.0,
              "length_gap": 0.0, "length_p": 1.0, "similarity_mean": 0.97,
              "similarity_min": 0.9}  # fmt: skip
    bias_runs.finish_run(db, run_id, {"gender": result}, {"gender": ["a" * 32]})
    return run_id


def test_a_release_with_no_data_says_so_in_every_section(db: Database) -> None:
    report = risk.build(db, PRODUCTION)
    release = labels(db).production
    assert report.release["id"] == release and report.release["labels"] == ["production"]
    for key in ("guards", "redteam", "bias", "evaluation"):
        section = report.section(key)
        assert section.status == risk.MISSING and section.hint, key
    assert f"llmops redteam run --release {release}" in report.section("redteam").hint
    assert all(g.passed is None for g in report.gates)
    assert report.section("privacy").data["redact_pii"] is True
    assert report.section("findings").status == risk.OK
    text = report_md.render(report)
    assert "No red-team scan for this release." in text
    assert f"run `llmops redteam run --release {release}`" in text
    assert "No gate failed." in text
    json.dumps(report.as_dict())  # JSON-able as it is


def test_every_section_from_the_store_and_the_gates_that_fail(db: Database) -> None:
    prod = labels(db).production
    assert prod is not None
    weak = create_release(db, ReleaseConfig(guard_profile="off"), name="weak").id
    save_eval(db, "guard_cases_en.jsonl", 20, GUARD_RESULTS)
    save_eval(db, "guard_cases_en.jsonl", 20, {**GUARD_RESULTS, "profile": "off"})
    first_prod = _scan(db, PRODUCTION, wins=0)
    weak_scan = _scan(db, weak, wins=6)
    ds = _dataset(db, 6)
    _eval_run(db, ds, prod, [1.0] * 6, "run_prod")
    _eval_run(db, ds, weak, [1.0, 1.0, 0.0, 0.0, 0.0, 1.0], "run_weak", fairness=0.5)
    _bias(db, weak, flagged=True)

    report = risk.build(db, weak)
    gates = {g.name: g for g in report.gates}
    assert {n for n, g in gates.items() if g.passed is False} == {"redteam", "evaluation",
                                                                  "fairness"}  # fmt: skip
    assert "direct_injection 60%" in gates["redteam"].message
    assert "contains_all -0.500 against production run run_prod" in gates["evaluation"].message
    assert "fairness 0.50 < 0.9" in gates["fairness"].message
    assert "bias probes flag gender" in gates["fairness"].message

    guards = report.section("guards")  # measured with the release's own profile
    assert guards.data["profile"] == "off" and guards.status == risk.WARN
    red = report.section("redteam").data
    assert red["scan_id"] == weak_scan
    cat = red["by_category"]["direct_injection"]
    assert (cat["successes"], cat["attacks"]) == (6, 10) and cat["low"] < 0.6 < cat["high"]
    assert red["comparison"]["scan_id"] == first_prod  # vs the previous production scan
    assert red["comparison"]["by_category"]["direct_injection"]["change"] == pytest.approx(0.6)
    assert len(red["successful_attacks"]) == 6
    bias = report.section("bias").data
    assert bias["probe_run"]["flagged"] == ["gender"]
    assert bias["probe_run"]["attributes"]["gender"]["refusal_p"] == pytest.approx(0.0001)
    ev = report.section("evaluation").data["runs"][0]
    assert ev["run_id"] == "run_weak" and ev["baseline_run"] == "run_prod"
    findings = report.section("findings").data["items"]
    kinds = [f["kind"] for f in findings]
    assert kinds.count("attack") == 6 and kinds.count("bias") == 1 and kinds.count("gate") == 3
    assert all(f["trace_id"] for f in findings if f["kind"] == "attack")
    privacy = report.section("privacy")
    assert privacy.status == risk.WARN and "does not screen input for PII" in privacy.summary

    doc = report.as_dict()
    assert doc["passed"] is False and set(doc["sections"]) == {
        "guards", "redteam", "bias", "evaluation", "privacy", "findings"}  # fmt: skip
    text = report_md.render(report)
    assert "⚠️ 3 gate(s) failed" in text
    assert "| direct\\_injection |" in text and "+60% (p=" in text
    assert "`" + "0" * 32 + "`" in text  # a successful attack's trace

    # production: its own scan passes, nothing to regress against, no bias run yet
    ok = risk.build(db, PRODUCTION)
    assert {g.name: g.passed for g in ok.gates} == {"redteam": True, "evaluation": True,
                                                    "fairness": None}  # fmt: skip
    assert ok.section("bias").status == risk.MISSING


def test_a_stored_improvement_gate_is_the_evaluation_gate(db: Database) -> None:
    cand = create_release(db, ReleaseConfig(system_prompt="Be brief."), name="cand").id
    with db.session() as s:
        s.add(Improvement(title="t", evidence={}, candidate_release_id=cand, gate_passed=False))
    gate = next(g for g in risk.build(db, cand).gates if g.name == "evaluation")
    assert gate.passed is False and "gate of improvement" in gate.message


def test_bias_runs_are_listed_over_time_per_release(db: Database) -> None:
    weak = create_release(db, ReleaseConfig(guard_profile="off"), name="weak").id
    first = _bias(db, weak, flagged=False)
    second = _bias(db, weak, flagged=True)
    _bias(db, PRODUCTION, flagged=False)
    rows = bias_runs.list_runs(db, release_id=weak)
    assert [r.id for r in rows] == [second, first]
    assert bias_runs.count_runs(db, release_id=weak) == 2 and bias_runs.count_runs(db) == 3
    latest = bias_runs.latest_run(db, weak)
    assert latest is not None and latest.id == second and latest.flagged == ["gender"]
    assert latest.results["gender"]["trace_ids"] == ["a" * 32]
    points = bias_runs.history(db, release_id=weak)  # oldest first, one per attribute and run
    assert [(p.run_id, p.flagged, p.refusal_gap) for p in points] == [
        (first, False, 0.0), (second, True, 0.6)]  # fmt: skip
    assert len(bias_runs.history(db)) == 3 and len(bias_runs.history(db, limit=1)) == 1
    with pytest.raises(NotFoundError):
        bias_runs.get_run(db, "nope")


def test_thresholds_are_checked(db: Database) -> None:
    with pytest.raises(InvalidInputError):
        risk.build(db, PRODUCTION, max_asr=1.5)
    with pytest.raises(NotFoundError):
        risk.build(db, "rel_nothere")
