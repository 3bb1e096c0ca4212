"""Human review queues on the real store: filters, locks, verdicts, agreement between
reviewers and with the automatic evaluators, reviewed items as dataset cases and
fine-tuning data."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from llmops import feedback
from llmops.chat import ChatService
from llmops.errors import InvalidInputError
from llmops.evals.datasets import list_items
from llmops.evals.stats import cohen_kappa, fleiss_kappa
from llmops.review import agreement, queues
from llmops.store.db import Database
from llmops.store.models import ReviewVerdict, TraceScore
from llmops.tracing import SpanWriter

QUESTIONS = ["What is LLMOps?", "How do canary releases work?", "What does monitoring track?",
             "How do I roll back a release?", "¿Qué es LLMOps?", "What is groundedness?"]  # fmt: skip


@pytest.fixture
def turns(chat_service: ChatService, db: Database, writer: SpanWriter) -> list[Any]:
    out = [chat_service.ask(q, session_id="live") for q in QUESTIONS]
    chat_service.ask("What is LLMOps?", session_id="eval:r1")  # never reviewed
    for t in out[:4]:
        feedback.record(db, t.trace_id, 0.0, tracer=chat_service.tracer)
    assert writer.flush()
    return out


def test_textbook_kappas() -> None:
    a = ["y"] * 25 + ["n"] * 25
    b = ["y"] * 20 + ["n"] * 5 + ["y"] * 10 + ["n"] * 15
    assert cohen_kappa(a, b) == pytest.approx(0.4)
    table = [[0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
             [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7]]  # fmt: skip
    assert fleiss_kappa(table) == pytest.approx(0.210, abs=0.001)


def test_a_queue_takes_what_its_filter_selects(db: Database, turns: list[Any]) -> None:
    q = queues.create_queue(db, "thumbs down", {"feedback": "down"}, actor="ana")
    assert q.items == 4
    sample = queues.create_queue(db, "sample", {"sample": 2, "seed": 1})
    assert sample.items == 2
    with pytest.raises(InvalidInputError):
        queues.create_queue(db, "thumbs down", {"feedback": "down"})  # name taken
    with pytest.raises(InvalidInputError):
        queues.create_queue(db, "none", {"release_id": "rel_nothing"})
    with pytest.raises(InvalidInputError):
        queues.create_queue(db, "bad", {"score_name": "groundedness"})  # no threshold


def test_reviewers_take_items_under_a_lock_and_never_twice(db: Database, turns: list[Any]) -> None:
    queues.create_queue(db, "q", {"feedback": "down"}, reviewers_per_item=2, lock_minutes=10)
    now = datetime.now(UTC)
    a = queues.next_item(db, "q", "ana", now=now)
    b = queues.next_item(db, "q", "bo", now=now)
    assert a and b and a.item_id != b.item_id  # ana's item is locked for bo
    assert queues.next_item(db, "q", "ana", now=now).item_id == a.item_id  # a reload keeps it
    assert a.question and a.answer and a.sources
    queues.label(db, a.item_id, "ana", "wrong", corrected="Write to me at ana@example.com",
                 categories=["Missing info"])  # fmt: skip
    with pytest.raises(InvalidInputError):
        queues.label(db, a.item_id, "ana", "correct")  # once per reviewer
    with pytest.raises(InvalidInputError):
        queues.label(db, b.item_id, "cy", "correct")  # bo holds it
    later = now + timedelta(minutes=11)  # bo's lock ran out
    assert queues.next_item(db, "q", "cy", now=later).item_id in (a.item_id, b.item_id)
    with db.session() as s:
        stored = s.scalars(select(ReviewVerdict)).one()
    assert stored.corrected == "Write to me at <EMAIL>" and stored.categories == ["missing info"]
    p = queues.progress(db, "q")
    assert (p.total, p.done, p.by_reviewer) == (4, 0, {"ana": 1})


def test_two_reviewers_at_once_never_hold_the_same_item(db: Database, turns: list[Any]) -> None:
    queues.create_queue(db, "race", {"feedback": "down"})
    got: list[int] = []
    other = Database(db.url)

    def take(d: Database, who: str) -> None:
        for _ in range(4):
            t = queues.next_item(d, "race", who)
            if t is None:
                return
            got.append(t.item_id)
            queues.label(d, t.item_id, who, "correct")

    threads = [threading.Thread(target=take, args=(d, w)) for d, w in ((db, "ana"), (other, "bo"))]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    other.dispose()
    assert sorted(got) == sorted(set(got)) and len(got) == 4


def test_agreement_and_reviewed_items_become_data(
    db: Database, turns: list[Any], chat_service: ChatService
) -> None:
    queues.create_queue(db, "agree", {"feedback": "down"}, reviewers_per_item=2)
    plan = {"ana": ["correct", "wrong", "correct", "partly"],
            "bo": ["correct", "wrong", "wrong", "partly"]}  # fmt: skip
    for who, verdicts in plan.items():
        for v in verdicts:
            t = queues.next_item(db, "agree", who)
            assert t is not None
            queues.label(
                db, t.item_id, who, v, corrected="A better answer." if v == "wrong" else None
            )
    result = agreement.reviewers(db, "agree")
    assert result.items == 4 and result.raters_per_item == 2 and result.fleiss_items == 4
    (pair,) = result.pairs
    assert pair.agreement == 0.75 and pair.kappa is not None and 0 < pair.kappa < 1
    assert queues.progress(db, "agree").done == 4
    # an evaluator that says "good" exactly where the reviewers say correct agrees perfectly
    items = queues.reviewed(db, "agree")
    with db.session() as s:
        for it in items:
            s.add(
                TraceScore(
                    trace_id=it.trace_id,
                    name="judge",
                    value=1.0 if it.consensus == "correct" else 0.0,
                )
            )
            s.add(TraceScore(trace_id=it.trace_id, name="always_good", value=1.0))
    ranked = agreement.evaluators(db, "agree")
    assert [e.evaluator for e in ranked] == ["judge", "always_good"]
    assert ranked[0].kappa == 1.0 and ranked[0].accuracy == 1.0
    added = queues.to_dataset(db, "agree", "reviewed", actor="ana")
    assert added == 4
    cases, _ = list_items(db, "reviewed")
    assert sum(c.expected == "A better answer." for c in cases) >= 1
    examples = queues.finetune_examples(db, "agree")
    assert examples and all(e["messages"][0]["role"] == "system" for e in examples)
    assert any(e["messages"][2]["content"] == "A better answer." for e in examples)
