"""Roles on the real store (SQLite and PostgreSQL): every state-changing library action the
console calls refuses a role without the capability — with an ``access.denied`` audit row and
nothing changed — and lets the right role through. Called directly, as a page that forgot to
hide a button would call them."""

from __future__ import annotations

import io
import itertools
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import func, select

from llmops.config import Settings
from llmops.evals import datasets as ds
from llmops.evals.runs import cancel_run
from llmops.governance import erasure, retention
from llmops.governance.roles import (
    DENIED,
    ROLES,
    Actor,
    Capability,
    PermissionDeniedError,
    Role,
    capabilities,
    local_actor,
    parse_role,
    require,
)
from llmops.improve import loop
from llmops.monitoring import alerts, pricing
from llmops.monitoring import feedback as fbm
from llmops.releases import core, deploy, rollback
from llmops.review import queues
from llmops.store.db import Database
from llmops.store.models import AuditLog, Dataset, EvalRun, Improvement, ReleaseLabel

VIEWER = Actor("vera", Role.VIEWER)
REVIEWER = Actor("rita", Role.REVIEWER)
OPERATOR = Actor("otto", Role.OPERATOR)
ADMIN = Actor("ada", Role.ADMIN)


def test_roles_are_ordered_and_each_holds_the_capabilities_below_it() -> None:
    assert ROLES == ("viewer", "reviewer", "operator", "admin")
    chain = [capabilities(r) for r in Role]
    assert all(a < b for a, b in itertools.pairwise(chain))
    assert capabilities(Role.VIEWER) == {Capability.DASHBOARDS, Capability.TRACES}
    assert Capability.REVIEW in capabilities(Role.REVIEWER)
    for cap in ("datasets", "evaluations", "releases", "canary", "improvements", "redteam"):
        assert Capability(cap) in capabilities(Role.OPERATOR)
        assert Capability(cap) not in capabilities(Role.REVIEWER)
    for cap in ("accounts", "settings", "retention", "erasure", "exports"):
        assert Capability(cap) in capabilities(Role.ADMIN)
        assert Capability(cap) not in capabilities(Role.OPERATOR)
    assert parse_role(" Operator ") is Role.OPERATOR
    with pytest.raises(Exception, match="Unknown role"):
        parse_role("root")


def test_the_cli_identity_is_a_trusted_admin_named_after_the_os_user() -> None:
    me = local_actor()
    assert me.role is Role.ADMIN and me.name.startswith("cli:") and len(me.name) > 4


def _denied(db: Database) -> list[AuditLog]:
    with db.session() as s:
        return list(s.scalars(select(AuditLog).where(AuditLog.action == DENIED)))


def _release(db: Database, prompt: str = "You are a careful assistant.") -> core.ReleaseInfo:
    return core.create_release(db, core.ReleaseConfig(system_prompt=prompt), name="candidate")


def _labels(db: Database) -> list[tuple[str, str]]:
    with db.session() as s:
        return sorted((r.label, r.release_id) for r in s.scalars(select(ReleaseLabel)))


def _count(db: Database, model: Any) -> int:
    with db.session() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


# every action: (name, what the call does with an actor, the capability it needs)
Action = Callable[[Database, Settings, Actor], Any]


def _promote(db: Database, _: Settings, who: Actor) -> Any:
    return deploy.promote(db, _release(db).id, actor=who)


def _canary(db: Database, _: Settings, who: Actor) -> Any:
    return deploy.start_canary(db, _release(db).id, 0.1, actor=who)


def _rollback(db: Database, _: Settings, who: Actor) -> Any:
    deploy.promote(db, _release(db).id)
    return deploy.rollback(db, actor=who)


def _rollback_rule(db: Database, _: Settings, who: Actor) -> Any:
    return rollback.add_rule(db, name="errors", metric="error_rate", actor=who)


def _dataset(db: Database, _: Settings, who: Actor) -> Any:
    return ds.add_cases(db, "cases", [ds.Case(input="What is a canary?")], actor=who)


def _improvement(db: Database, _: Settings, who: Actor) -> Any:
    return loop.start(db, "Declines canary questions", kind="gap", actor=who)


def _alert(db: Database, _: Settings, who: Actor) -> Any:
    spec = alerts.RuleSpec(name="errors", metric="error_rate", threshold=0.5)
    return alerts.create_rule(db, spec, actor=who)


def _queue(db: Database, _: Settings, who: Actor) -> Any:
    from llmops.demo import seed

    seed(db, traces=3, days=1, seed=5)
    return queues.create_queue(db, "q", {}, actor=who)


def _price(db: Database, _: Settings, who: Actor) -> Any:
    return pricing.set_price(db, "gpt-x", 1.0, 2.0, actor=who)


def _erase(db: Database, settings: Settings, who: Actor) -> Any:
    return erasure.erase(db, user="someone", actor=who, settings=settings)


def _retention(db: Database, settings: Settings, who: Actor) -> Any:
    return retention.apply(db, settings=settings, actor=who)


def _export(db: Database, _: Settings, who: Actor) -> Any:
    return fbm.export(db, io.StringIO(), actor=who)


def _pending_run(db: Database) -> str:
    info, _added = ds.import_cases(db, "runs", [ds.Case(input="What is a canary?")])
    with db.session() as s:
        s.add(EvalRun(id="run-to-cancel", dataset_id=info.id, dataset_version=info.version,
                      release_id=core.resolve_ref(db, "production").id))  # fmt: skip
    return "run-to-cancel"


def _run_status(db: Database, run_id: str) -> str | None:
    with db.session() as s:
        return s.scalar(select(EvalRun.status).where(EvalRun.id == run_id))


def _cancel_run(db: Database, _: Settings, who: Actor) -> Any:
    run_id = _pending_run(db)
    cancel_run(db, run_id, actor=who)
    assert _run_status(db, run_id) == "cancelled"


ACTIONS: list[tuple[str, Action, Capability]] = [
    ("promote", _promote, Capability.RELEASES),
    ("canary", _canary, Capability.CANARY),
    ("rollback", _rollback, Capability.RELEASES),
    ("rollback rule", _rollback_rule, Capability.CANARY),
    ("dataset", _dataset, Capability.DATASETS),
    ("improvement", _improvement, Capability.IMPROVEMENTS),
    ("alert rule", _alert, Capability.ALERTS),
    ("review queue", _queue, Capability.REVIEW),
    ("model price", _price, Capability.SETTINGS),
    ("erasure", _erase, Capability.ERASURE),
    ("retention", _retention, Capability.RETENTION),
    ("raw export", _export, Capability.EXPORTS),
    ("cancel an evaluation run", _cancel_run, Capability.EVALUATIONS),
]
BY_ROLE = {Role.VIEWER: VIEWER, Role.REVIEWER: REVIEWER, Role.OPERATOR: OPERATOR,
           Role.ADMIN: ADMIN}  # fmt: skip


def _lowest(cap: Capability) -> Role:
    return min(r for r in Role if cap in capabilities(r))


@pytest.mark.parametrize(("name", "action", "cap"), ACTIONS, ids=[a[0] for a in ACTIONS])
def test_a_role_below_the_capability_is_refused_and_audited(
    db: Database, settings: Settings, name: str, action: Action, cap: Capability
) -> None:
    below = Role(_lowest(cap) - 1)
    who = BY_ROLE[below]
    labels, datasets_, improvements = _labels(db), _count(db, Dataset), _count(db, Improvement)
    with pytest.raises(PermissionDeniedError) as caught:
        if name == "rollback":  # the promotion it rolls back is the trusted set-up
            deploy.promote(db, _release(db).id)
            labels = _labels(db)
            deploy.rollback(db, actor=who)
        elif name in ("promote", "canary"):
            rel = _release(db)
            labels = _labels(db)
            (deploy.promote if name == "promote" else deploy.start_canary)(
                db, rel.id, *([0.1] if name == "canary" else []), actor=who
            )
        elif name == "cancel an evaluation run":  # the run it cancels is the trusted set-up
            run_id = _pending_run(db)
            datasets_ = _count(db, Dataset)
            try:
                cancel_run(db, run_id, actor=who)
            finally:
                assert _run_status(db, run_id) == "pending"
        else:
            action(db, settings, who)
    assert caught.value.capability is cap
    assert below.label in caught.value.message and cap.value in caught.value.message
    rows = _denied(db)
    assert [(r.actor, r.details) for r in rows] == [
        (who.name, {"role": below.label, "needs": cap.value})
    ]
    assert _labels(db) == labels  # nothing changed
    assert (_count(db, Dataset), _count(db, Improvement)) == (datasets_, improvements)


@pytest.mark.parametrize(("name", "action", "cap"), ACTIONS, ids=[a[0] for a in ACTIONS])
def test_the_lowest_role_with_the_capability_succeeds(
    db: Database, settings: Settings, name: str, action: Action, cap: Capability
) -> None:
    action(db, settings, BY_ROLE[_lowest(cap)])
    assert _denied(db) == []


def test_a_viewer_is_refused_every_action(db: Database, settings: Settings) -> None:
    for _name, action, _ in ACTIONS:
        with pytest.raises(PermissionDeniedError):
            action(db, settings, VIEWER)
    assert len(_denied(db)) == len(ACTIONS)


def test_review_verdicts_need_the_reviewer_role(db: Database) -> None:
    from llmops.demo import seed
    from llmops.feedback import record

    seed(db, traces=3, days=1, seed=5)
    with db.session() as s:
        from llmops.store.models import Trace

        tid = s.scalars(select(Trace.id).limit(1)).one()
    record(db, tid, 0.0, comment="wrong")
    queues.create_queue(db, "q", {}, actor=OPERATOR)
    with pytest.raises(PermissionDeniedError):
        queues.next_item(db, "q", VIEWER)
    task = queues.next_item(db, "q", REVIEWER)
    assert task is not None
    with pytest.raises(PermissionDeniedError):
        queues.label(db, task.item_id, VIEWER, "wrong")
    done = queues.label(db, task.item_id, REVIEWER, "wrong")
    assert done.item_id == task.item_id
    assert [r.actor for r in _denied(db)] == ["vera", "vera"]


def test_scoring_a_trace_from_the_trace_view_needs_the_reviewer_role(db: Database) -> None:
    from llmops.demo import seed
    from llmops.feedback import review
    from llmops.store.models import Feedback, Trace

    seed(db, traces=2, days=1, seed=5)
    with db.session() as s:
        tid = s.scalars(select(Trace.id).limit(1)).one()
        before = s.scalar(select(func.count()).select_from(Feedback))
    with pytest.raises(PermissionDeniedError):
        review(db, tid, 0.2, comment="off topic", actor=VIEWER)
    review(db, tid, 0.2, comment="off topic", actor=REVIEWER)
    with db.session() as s:
        rows = s.scalars(select(Feedback).order_by(Feedback.id.desc()).limit(1)).all()
        assert s.scalar(select(func.count()).select_from(Feedback)) == (before or 0) + 1
    assert (rows[0].source, rows[0].user_id is not None) == ("reviewer", True)
    assert [r.actor for r in _denied(db)] == ["vera"]


def test_a_plain_name_is_a_trusted_server_side_caller(db: Database) -> None:
    assert require(db, "cron", Capability.RETENTION) == "cron"
    assert require(db, ADMIN, Capability.ACCOUNTS) == "ada"
    assert _denied(db) == []
