"""Runs through the real pipeline: traces tagged with the run, scores, cancel and resume."""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from llmops.errors import InvalidInputError, NotFoundError
from llmops.evals import datasets as ds
from llmops.evals.runner import EvalRunner
from llmops.evals.runs import cancel_run, get_run, list_results, list_runs
from llmops.releases import resolve_ref_or_file
from llmops.store.db import Database
from llmops.store.models import EvalResult, EvalRun, Trace, utcnow
from llmops.store.queries import get_trace

from .conftest import small

CHEAP = ["contains_all", "groundedness", "context_recall", "guard_pass", "latency"]


def _traces_of(db: Database, run_id: str) -> int:
    with db.session() as s:
        return int(
            s.scalar(
                select(func.count()).select_from(Trace).where(Trace.session_id == f"eval:{run_id}")
            )
            or 0
        )


def _trace_ids(s: Any, run_id: str) -> dict[int, str]:
    stmt = select(EvalResult.item_id, EvalResult.trace_id).where(EvalResult.run_id == run_id)
    return {i: t for i, t in s.execute(stmt)}


def test_a_run_answers_every_item_through_the_pipeline_and_records_scores(
    eval_runner: EvalRunner, db: Database, writer: Any, demo_cases: list[ds.Case]
) -> None:
    info = ds.add_cases(db, "mini", small(demo_cases, 4))
    created = eval_runner.create("mini", "production", actor="ana")
    assert created.status == "pending" and created.dataset_version == info.version == 1
    assert "semantic_similarity" in created.evaluators  # embeddings available
    seen: list[tuple[int, int]] = []
    run = eval_runner.run(created.id, progress=lambda d, t: seen.append((d, t)))
    assert run.status == "completed" and run.done_items == run.total_items == 4
    assert seen[0] == (0, 4) and seen[-1] == (4, 4)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)

    scores = run.metrics["scores"]
    ca = scores["contains_all"]
    assert ca["n"] == 4 and ca["low"] <= ca["mean"] <= ca["high"]
    assert set(run.metrics["by_lang"]) == {"en", "es"}
    assert run.metrics["items"] == {"done": 4, "ok": 4}
    assert run.metrics["latency_ms"]["p50"] > 0

    rows, total = list_results(db, run.id)
    assert total == 4 and all(r.trace_id and r.output for r in rows)
    assert writer.flush()
    detail = get_trace(db, rows[0].trace_id)  # type: ignore[arg-type]
    assert detail.trace["session_id"] == f"eval:{run.id}"
    assert f"eval_run:{run.id}" in detail.trace["tags"] and "eval" in detail.trace["tags"]
    assert detail.trace["input"] == rows[0].input
    evaluate = next(s for s in detail.spans if s["kind"] == "evaluator")
    root = next(s for s in detail.spans if s["parent_id"] is None)
    assert evaluate["name"] == "evaluate" and evaluate["parent_id"] == root["id"]
    assert evaluate["attributes"]["llmops.eval.score.contains_all"] in (0.0, 1.0)
    scored = {n for n, v in rows[0].scores.items() if v is not None}
    assert {sc["name"] for sc in detail.scores} == scored and "contains_all" in scored
    assert all(sc["run_id"] == run.id for sc in detail.scores)

    # a finished run is not run again
    assert eval_runner.run(run.id).done_items == 4
    assert _traces_of(db, run.id) == 4


def test_cancel_then_resume_does_not_redo_finished_items(
    eval_runner: EvalRunner, db: Database, writer: Any, demo_cases: list[ds.Case]
) -> None:
    ds.add_cases(db, "resume", small(demo_cases, 8))
    run = eval_runner.create("resume", "production", evaluators=CHEAP, concurrency=1)
    stop = threading.Event()

    def progress(done: int, total: int) -> None:
        if done >= 3:
            stop.set()

    first = eval_runner.run(run.id, progress=progress, cancel=stop)
    assert first.status == "cancelled"
    assert 3 <= first.done_items < 8
    with db.session() as s:
        before = _trace_ids(s, run.id)
    assert first.metrics["items"]["done"] == len(before)

    resumed = eval_runner.run(run.id)
    assert resumed.status == "completed" and resumed.done_items == 8
    with db.session() as s:
        after = _trace_ids(s, run.id)
    assert len(after) == 8 and all(after[i] == t for i, t in before.items())
    assert writer.flush()
    assert _traces_of(db, run.id) == 8  # each item answered exactly once


def test_cancel_requested_through_the_store_stops_a_run(
    eval_runner: EvalRunner, db: Database, demo_cases: list[ds.Case]
) -> None:
    cases = [c for c in demo_cases if c.must_include] * 2
    ds.add_cases(db, "long", cases)
    run = eval_runner.create("long", "production", evaluators=["contains_all"], concurrency=1)
    asked = []

    def progress(done: int, total: int) -> None:
        if done >= 1 and not asked:
            asked.append(done)
            cancel_run(db, run.id)  # as the console or `llmops eval cancel` would
            assert get_run(db, run.id).status == "cancelling"

    out = eval_runner.run(run.id, progress=progress)
    assert out.status == "cancelled" and out.done_items < len(cases)
    with pytest.raises(InvalidInputError, match="already cancelled"):
        cancel_run(db, run.id)


def test_an_interrupt_records_what_was_done_and_reraises(
    eval_runner: EvalRunner, db: Database, demo_cases: list[ds.Case]
) -> None:
    ds.add_cases(db, "ctrlc", small(demo_cases, 6))
    run = eval_runner.create("ctrlc", "production", evaluators=CHEAP, concurrency=1)

    def progress(done: int, total: int) -> None:
        if done == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        eval_runner.run(run.id, progress=progress)
    state = get_run(db, run.id)
    assert state.status == "cancelled" and state.error == "interrupted"
    assert 2 <= state.done_items < 6
    assert eval_runner.run(run.id).status == "completed"


def test_a_run_keeps_its_dataset_version_when_the_dataset_changes(
    eval_runner: EvalRunner, db: Database, demo_cases: list[ds.Case]
) -> None:
    ds.add_cases(db, "pinned", small(demo_cases, 3))
    run = eval_runner.create("pinned", "production", evaluators=["contains_all"])
    ds.add_cases(db, "pinned", small(demo_cases, 6)[3:])
    done = eval_runner.run(run.id)
    assert done.dataset_version == 1 and done.done_items == 3
    again = eval_runner.create("pinned", "production", evaluators=["contains_all"])
    assert again.dataset_version == 2 and again.total_items == 6


def test_create_validates_its_inputs(
    eval_runner: EvalRunner, db: Database, tmp_path: Path, demo_cases: list[ds.Case]
) -> None:
    ds.create_dataset(db, "empty")
    with pytest.raises(InvalidInputError, match="no items"):
        eval_runner.create("empty", "production")
    ds.add_cases(db, "ok", small(demo_cases, 2))
    with pytest.raises(NotFoundError, match="No release or label"):
        eval_runner.create("ok", "rel_doesnotexist")
    with pytest.raises(InvalidInputError, match="Unknown evaluator"):
        eval_runner.create("ok", "production", evaluators=["nope"])
    with pytest.raises(InvalidInputError, match="disabled"):
        eval_runner.create("ok", "production", evaluators=["judge_safety"])
    with pytest.raises(InvalidInputError, match="Concurrency"):
        eval_runner.create("ok", "production", concurrency=500)
    with pytest.raises(NotFoundError):
        eval_runner.create("missing", "production")

    cfg = tmp_path / "candidate.json"
    cfg.write_text(json.dumps({"retrieval": {"k": 2}}), encoding="utf-8")
    rel = resolve_ref_or_file(db, str(cfg))
    assert rel.name == "candidate" and rel.config.retrieval.k == 2
    assert resolve_ref_or_file(db, str(cfg)).id == rel.id  # idempotent by content
    cfg.write_text(json.dumps({"retrieval": {"k": 0}}), encoding="utf-8")
    with pytest.raises(InvalidInputError, match=r"retrieval\.k"):
        resolve_ref_or_file(db, str(cfg))
    cfg.write_text("{nope", encoding="utf-8")
    with pytest.raises(InvalidInputError, match="not a JSON"):
        resolve_ref_or_file(db, str(cfg))


def test_a_live_run_is_not_run_twice_but_a_stalled_one_resumes(
    eval_runner: EvalRunner, db: Database, demo_cases: list[ds.Case]
) -> None:
    ds.add_cases(db, "busy", small(demo_cases, 2))
    run = eval_runner.create("busy", "production", evaluators=["contains_all"])
    with db.session() as s:
        row = s.get(EvalRun, run.id)
        assert row is not None
        row.status, row.updated_at = "running", utcnow()
    with pytest.raises(InvalidInputError, match="already running"):
        eval_runner.run(run.id)
    with db.session() as s:
        row = s.get(EvalRun, run.id)
        assert row is not None
        row.updated_at = utcnow() - timedelta(minutes=5)
    assert get_run(db, run.id).stalled
    assert eval_runner.run(run.id).status == "completed"


def test_results_sort_worst_first_and_runs_list_pages(
    eval_runner: EvalRunner, db: Database, demo_cases: list[ds.Case]
) -> None:
    ds.add_cases(db, "sorted", small(demo_cases, 6))
    run = eval_runner.run(eval_runner.create("sorted", "production", evaluators=CHEAP).id)
    rows, _ = list_results(db, run.id, sort_by="groundedness")
    values = [r.scores["groundedness"] for r in rows if r.scores["groundedness"] is not None]
    assert values == sorted(values)
    best, _ = list_results(db, run.id, sort_by="groundedness", worst_first=False)
    assert best[0].scores["groundedness"] == max(values)
    runs, total = list_runs(db, dataset_id=run.dataset_id)
    assert total == 1 and runs[0].id == run.id and runs[0].dataset == "sorted"
