"""Evaluation runs started in the background (what the console's Evaluations page uses)."""

from __future__ import annotations

from typing import Any

from llmops.evals import datasets as ds
from llmops.evals.jobs import BackgroundRuns
from llmops.evals.runner import EvalRunner
from llmops.evals.runs import get_run
from llmops.store.db import Database
from tests.evals.conftest import small


def test_a_background_run_completes_and_a_second_start_does_not_run_it_twice(
    eval_runner: EvalRunner, db: Database, writer: Any, demo_cases: list[ds.Case]
) -> None:
    ds.add_cases(db, "bg", small(demo_cases, 2))
    run = eval_runner.create("bg", "production", evaluators=["contains_all"], concurrency=1)
    jobs = BackgroundRuns(eval_runner)
    jobs.start(run.id)
    jobs.start(run.id)  # already running: ignored
    jobs.join(120)
    assert not jobs.alive(run.id)
    done = get_run(db, run.id)
    assert (done.status, done.done_items) == ("completed", 2)


def test_cancelling_marks_the_run_in_the_store(
    eval_runner: EvalRunner, db: Database, demo_cases: list[ds.Case]
) -> None:
    ds.add_cases(db, "bg-cancel", small(demo_cases, 2))
    run = eval_runner.create("bg-cancel", "production", evaluators=["contains_all"])
    jobs = BackgroundRuns(eval_runner)
    jobs.cancel(run.id)  # never started here: another process may be running it
    assert get_run(db, run.id).status in ("cancelling", "cancelled")
