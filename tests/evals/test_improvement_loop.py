"""The improvement loop end to end on the real pipeline: evidence → dataset → candidate →
gate against production → canary → promote (or abandon); a failed gate blocks promotion
unless overridden with a reason, and every step is recorded."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from llmops.errors import InvalidInputError
from llmops.evals import datasets as ds
from llmops.evals.runner import EvalRunner
from llmops.improve import loop
from llmops.releases import core
from llmops.store.db import Database
from llmops.store.models import AuditLog

from .conftest import small


def _candidate(db: Database, **changes: Any) -> str:
    base = core.resolve_ref(db, "production").config
    cfg = base.model_copy(update=changes)
    return core.create_release(db, cfg, name="candidate").id


def test_a_good_candidate_goes_from_evidence_to_production(
    eval_runner: EvalRunner, db: Database, demo_cases: list[ds.Case]
) -> None:
    ds.add_cases(db, "canary questions", small(demo_cases, 4))
    rec = loop.start(db, "Answers about canaries are thin", kind="gap", ref=3, actor="ana")
    rec = loop.set_dataset(db, rec.id, "canary questions", actor="ana")
    cand = _candidate(db, retrieval=core.RetrievalConfig(k=5))
    rec = loop.set_candidate(db, rec.id, cand, actor="ana")
    assert rec.baseline_release_id == core.labels(db).production
    rec = loop.evaluate(eval_runner, rec.id, max_regression=0.2, actor="ana")
    assert rec.status == "evaluated" and rec.gate_passed is True, rec.gate
    rec = loop.start_canary(db, rec.id, 0.2, actor="ana")
    assert core.labels(db).canary == cand
    rec = loop.promote(db, rec.id, actor="bo")
    assert rec.status == "promoted" and not rec.overridden
    assert core.labels(db).production == cand and core.labels(db).canary is None
    steps = [e.step for e in loop.events(db, rec.id)]
    assert steps == ["evidence", "dataset", "candidate", "evaluated", "canary", "promoted"]
    with pytest.raises(InvalidInputError):
        loop.abandon(db, rec.id, "too late")  # closed


def test_a_failed_gate_blocks_promotion_unless_overridden(db: Database) -> None:
    ds.add_cases(db, "d", [ds.Case("What is LLMOps?")])
    rec = loop.start(db, "Try a shorter prompt", kind="note")
    loop.set_dataset(db, rec.id, "d")
    cand = _candidate(db, system_prompt="Be terse.")
    loop.set_candidate(db, rec.id, cand)

    class Failed:
        passed = False
        candidate = type("Run", (), {"id": "run1"})()

        def as_dict(self) -> dict[str, Any]:
            return {"passed": False, "checks": [{"message": "answer_relevance dropped"}]}

    loop.record_gate(db, rec.id, [Failed()])
    with pytest.raises(InvalidInputError, match="failed"):
        loop.promote(db, rec.id)
    with pytest.raises(InvalidInputError):
        loop.start_canary(db, rec.id, 0.1)
    with pytest.raises(InvalidInputError, match="reason"):
        loop.promote(db, rec.id, override=True)
    done = loop.promote(db, rec.id, override=True, reason="legal asked for it today", actor="bo")
    assert done.overridden and done.reason == "legal asked for it today"
    with db.session() as s:
        audit = s.scalars(select(AuditLog).where(AuditLog.action == "improvement.promoted")).one()
    assert audit.actor == "bo" and audit.details["override"] is True


def test_abandoning_stops_its_canary_and_keeps_the_reason(db: Database) -> None:
    ds.add_cases(db, "d2", [ds.Case("What is LLMOps?")])
    rec = loop.start(db, "Model swap", kind="eval_run", ref="run9")
    loop.set_dataset(db, rec.id, "d2")
    cand = _candidate(db, system_prompt="Another prompt.")
    loop.set_candidate(db, rec.id, cand)
    with db.session() as s:  # as if its gate had passed
        from llmops.store.models import Improvement

        s.get(Improvement, rec.id).gate_passed = True  # type: ignore[union-attr]
    loop.start_canary(db, rec.id, 0.1)
    gone = loop.abandon(db, rec.id, "no better than production")
    assert gone.status == "abandoned" and core.labels(db).canary is None
    assert [r.id for r in loop.list_improvements(db, status="abandoned")] == [rec.id]
    with pytest.raises(InvalidInputError):
        loop.set_candidate(db, rec.id, cand)
