"""``llmops review`` on the real store: a queue of thumbs-down traces, two reviewers taking
and labelling items, progress, agreement between them and with an evaluator, and the
verdicts exported as dataset cases and fine-tuning JSONL."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from typer.testing import CliRunner

from llmops import feedback
from llmops.chat import ChatService
from llmops.cli import app
from llmops.config import reset_settings
from llmops.evals.datasets import list_items
from llmops.store.db import Database
from llmops.store.models import TraceScore
from llmops.tracing import SpanWriter

QUESTIONS = ["What is LLMOps?", "How do canary releases work?", "What does monitoring track?",
             "How do I roll back a release?", "¿Qué es LLMOps?", "What is groundedness?"]  # fmt: skip
PLAN = {"ana": ["correct", "wrong", "correct", "partly"],
        "bo": ["correct", "wrong", "wrong", "partly"]}  # fmt: skip
BETTER = "A better answer."


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def store(db: Database, db_url: str, monkeypatch: pytest.MonkeyPatch) -> Database:
    """The command works on the test's store (SQLite, or PostgreSQL when configured)."""
    monkeypatch.setenv("LLMOPS_DATABASE_URL", db_url)
    reset_settings()
    return db


@pytest.fixture
def turns(store: Database, chat_service: ChatService, writer: SpanWriter) -> list[Any]:
    """Six live turns, the first four rated thumbs-down, plus evaluation traffic."""
    out = [chat_service.ask(q, session_id="live") for q in QUESTIONS]
    chat_service.ask("What is LLMOps?", session_id="eval:r1")  # never reviewed
    for t in out[:4]:
        feedback.record(store, t.trace_id, 0.0, tracer=chat_service.tracer)
    assert writer.flush()
    return out


def _ok(runner: CliRunner, *args: str) -> Result:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, (args, result.output)
    return result


def _json(runner: CliRunner, *args: str) -> Any:
    return json.loads(_ok(runner, *args, "--json").stdout)


def test_create_review_export_and_agreement(
    runner: CliRunner, store: Database, turns: list[Any], tmp_path: Path
) -> None:
    down = {t.trace_id for t in turns[:4]}
    q = _json(runner, "review", "create", "thumbs down", "--feedback", "down", "--since", "1d",
              "--reviewers", "2")  # fmt: skip
    assert (q["name"], q["items"], q["reviewers_per_item"]) == ("thumbs down", 4, 2)
    assert q["filter"]["feedback"] == "down" and q["filter"]["since"] is not None
    sample = _json(runner, "review", "create", "sample", "--sample", "2", "--release",
                   "production")  # fmt: skip
    assert sample["items"] == 2 and sample["filter"]["release_id"] == turns[0].release
    listed = {x["name"]: x for x in _json(runner, "review", "queues")}
    assert (listed["thumbs down"]["items"], listed["sample"]["items"]) == (4, 2)

    text = _ok(runner, "review", "next", "thumbs down", "--reviewer", "ana").stdout
    assert "question:" in text and "answer:" in text and "sources:" in text
    seen: dict[str, set[str]] = {}
    for who, verdicts in PLAN.items():
        for verdict in verdicts:
            task = _json(runner, "review", "next", "thumbs down", "--reviewer", who)
            assert task["trace_id"] in down and task["question"] and task["answer"]
            assert task["sources"] and task["locked_until"] is not None
            assert task["question"] in QUESTIONS
            seen.setdefault(who, set()).add(task["trace_id"])
            extra = (
                ["--correction", BETTER, "--category", "Missing info"] if verdict == "wrong" else []
            )
            done = _json(runner, "review", "label", str(task["item_id"]), "--reviewer", who,
                         "--verdict", verdict, *extra)  # fmt: skip
            assert done["item_id"] == task["item_id"]
            assert done["status"] == ("done" if who == "bo" else "pending")
    assert seen == {"ana": down, "bo": down}  # each reviewer saw every item once
    assert _json(runner, "review", "next", "thumbs down", "--reviewer", "ana") is None
    empty = _ok(runner, "review", "next", "thumbs down", "--reviewer", "ana").stdout
    assert empty.strip() == "nothing to review in queue 'thumbs down' for ana"

    p = _json(runner, "review", "progress", "thumbs down")
    assert (p["total"], p["done"], p["pending"], p["locked"]) == (4, 4, 0, 0)
    assert p["by_reviewer"] == {"ana": 4, "bo": 4}
    assert p["verdicts"] == {"correct": 3, "wrong": 3, "partly": 2}

    # an evaluator that passes exactly what the reviewers agree is correct
    consensus_correct = {tid for tid in down if _verdicts(store, tid) == {"correct"}}
    assert len(consensus_correct) == 1
    with store.session() as s:
        for tid in down:
            s.add(TraceScore(trace_id=tid, name="judge", value=float(tid in consensus_correct)))
    agree = _json(runner, "review", "agreement", "thumbs down")
    people = agree["reviewers"]
    assert (people["items"], people["raters_per_item"], people["fleiss_items"]) == (4, 2, 4)
    (pair,) = people["pairs"]
    assert (pair["a"], pair["b"], pair["items"], pair["agreement"]) == ("ana", "bo", 4, 0.75)
    assert 0 < pair["kappa"] < 1
    (judge,) = agree["evaluators"]
    assert (judge["evaluator"], judge["items"], judge["accuracy"], judge["kappa"]) == (
        "judge",
        4,
        1.0,
        1.0,
    )

    shown = _ok(runner, "review", "progress", "thumbs down").stdout
    assert shown.startswith("4/4 done, 0 pending (0 held now)") and "correct 3" in shown
    shown = _ok(runner, "review", "agreement", "thumbs down").stdout
    assert "ana vs bo: 4 items, agree 75%" in shown and "judge" in shown
    shown = _ok(runner, "review", "queues").stdout
    assert "thumbs down" in shown and "4/4" in shown and "feedback=down" in shown

    out = tmp_path / "exports" / "finetune.jsonl"
    out.parent.mkdir()
    exported = _json(runner, "review", "export", "thumbs down", "--dataset", "reviewed",
                     "--finetune", str(out))  # fmt: skip
    assert exported["cases"] == 4 and exported["dataset"] == "reviewed"
    lines = out.read_text(encoding="utf-8").splitlines()
    # the item both judged correct, and the two with a correction
    assert exported["examples"] == len(lines) == 3
    examples = [json.loads(line) for line in lines]
    for ex in examples:
        assert [m["role"] for m in ex["messages"]] == ["system", "user", "assistant"]
        assert ex["messages"][1]["content"] in QUESTIONS
    assert sum(ex["messages"][2]["content"] == BETTER for ex in examples) == 2
    assert [p.name for p in out.parent.iterdir()] == ["finetune.jsonl"]  # no temp file left
    cases, _ = list_items(store, "reviewed")
    assert len(cases) == 4 and sum(c.expected == BETTER for c in cases) >= 1
    text = _ok(runner, "review", "export", "thumbs down", "--dataset", "reviewed").stdout
    assert text.strip() == "added 0 cases to dataset 'reviewed'"  # already there


def _verdicts(db: Database, trace_id: str) -> set[str]:
    from sqlalchemy import select

    from llmops.store.models import ReviewItem, ReviewVerdict

    with db.session() as s:
        return set(
            s.scalars(
                select(ReviewVerdict.verdict)
                .join(ReviewItem, ReviewItem.id == ReviewVerdict.item_id)
                .where(ReviewItem.trace_id == trace_id)
            )
        )


@pytest.mark.parametrize(
    "args",
    [
        ["review", "next", "no such queue", "--reviewer", "ana"],
        ["review", "next", "99999999999999999999999", "--reviewer", "ana"],
        ["review", "next", "q", "--reviewer", "  "],
        ["review", "progress", "no such queue"],
        ["review", "export", "no such queue"],
        ["review", "label", "1", "--reviewer", "ana", "--verdict", "meh"],
        ["review", "label", "12345", "--reviewer", "ana", "--verdict", "correct"],
        ["review", "create", "q", "--feedback", "sideways"],
        ["review", "create", "q", "--since", "last week"],
        ["review", "create", "q", "--release", "no-such-release"],
        ["review", "create", "q"],  # an empty store: nothing to review
    ],
)
def test_bad_input_is_one_line_and_exit_2(runner: CliRunner, args: list[str]) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: ") and result.stdout == ""
