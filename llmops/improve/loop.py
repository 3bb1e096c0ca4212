"""The guided improvement loop, as a record anyone can read later.

    evidence → dataset → candidate release → gate (vs production) → canary → promote | abandon

Each step is a function here (the console's Improvements page and ``llmops improve`` call
them) and an ``improvement_events`` row (who, when, what). Evidence is a knowledge gap, a
cluster of thumbs-down turns, failed review items or a failing evaluation run; the dataset
is built from it (or chosen); the candidate is any release (made in the Releases page or
playground); the gate is the existing evaluation gate — candidate vs the production release
on the improvement's dataset and, if given, a regression dataset. Promotion is refused
while the gate has not passed unless the operator overrides it, and the override is audited.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from llmops.errors import InvalidInputError, NotFoundError
from llmops.governance.roles import Actor, Capability, require
from llmops.releases import core, deploy
from llmops.store.db import Database
from llmops.store.models import AuditLog, Improvement, ImprovementEvent, utcnow
from llmops.types import JSONDict

EVIDENCE_KINDS = ("gap", "thumbs_down", "review", "eval_run", "note")
STEPS = ("evidence", "dataset", "candidate", "evaluated", "canary", "promoted", "abandoned")
CLOSED = ("promoted", "abandoned")


@dataclass
class Record:
    id: int
    title: str
    status: str
    evidence: dict[str, Any]
    dataset: str | None
    regression_dataset: str | None
    candidate_release_id: str | None
    baseline_release_id: str | None
    gate: dict[str, Any] | None
    gate_passed: bool | None
    decision: str | None
    reason: str
    overridden: bool
    created_at: datetime
    created_by: str
    updated_at: datetime

    def as_dict(self) -> JSONDict:
        d = asdict(self)
        d["created_at"] = self.created_at.isoformat(timespec="seconds")
        d["updated_at"] = self.updated_at.isoformat(timespec="seconds")
        return d


def _record(row: Improvement) -> Record:
    return Record(row.id, row.title, row.status, row.evidence or {}, row.dataset,
                  row.regression_dataset, row.candidate_release_id, row.baseline_release_id,
                  row.gate, row.gate_passed, row.decision, row.reason or "", row.overridden,
                  row.created_at, row.created_by, row.updated_at)  # fmt: skip


def _step(s: Any, row: Improvement, actor: str, step: str, **details: Any) -> None:
    row.updated_at = utcnow()
    s.add(ImprovementEvent(improvement_id=row.id, actor=actor, step=step, details=details or None))
    s.add(AuditLog(actor=actor, action=f"improvement.{step}", target=str(row.id),
                   details=details or None))  # fmt: skip


def _open(s: Any, improvement_id: int) -> Improvement:
    row = s.get(Improvement, improvement_id)
    if row is None:
        raise NotFoundError(f"Improvement {improvement_id} does not exist.")
    if row.status in CLOSED:
        raise InvalidInputError(f"Improvement {improvement_id} is {row.status}: it is closed.")
    return row


def start(
    db: Database,
    title: str,
    *,
    kind: str,
    ref: str | int | None = None,
    summary: str = "",
    actor: Actor | str = "system",
) -> Record:
    """Open an improvement from a piece of evidence (what is wrong and where it shows)."""
    actor = require(db, actor, Capability.IMPROVEMENTS, action="improvement.evidence")
    title = title.strip()
    if not title or len(title) > 200:
        raise InvalidInputError("An improvement needs a title of 1 to 200 characters.")
    if kind not in EVIDENCE_KINDS:
        raise InvalidInputError(f"Evidence is one of {', '.join(EVIDENCE_KINDS)}, not {kind!r}.")
    evidence = {"kind": kind, "ref": ref, "summary": summary.strip()[:2000]}
    with db.session() as s:
        row = Improvement(title=title, evidence=evidence, created_by=actor, status="evidence")
        s.add(row)
        s.flush()
        _step(s, row, actor, "evidence", **evidence)
        return _record(row)


def set_dataset(
    db: Database,
    improvement_id: int,
    dataset: str,
    *,
    regression_dataset: str | None = None,
    actor: Actor | str = "system",
) -> Record:
    actor = require(db, actor, Capability.IMPROVEMENTS, action="improvement.dataset")
    from llmops.evals.datasets import get_dataset

    info = get_dataset(db, dataset)  # raises NotFoundError for a missing dataset
    if info.items == 0:
        raise InvalidInputError(f"Dataset {info.name!r} has no cases yet.")
    if regression_dataset:
        get_dataset(db, regression_dataset)
    with db.session() as s:
        row = _open(s, improvement_id)
        row.dataset, row.regression_dataset = info.name, regression_dataset or None
        row.status = "dataset"
        _step(s, row, actor, "dataset", dataset=info.name, version=info.version,
              regression_dataset=regression_dataset)  # fmt: skip
        return _record(row)


def set_candidate(
    db: Database, improvement_id: int, ref: str, *, actor: Actor | str = "system"
) -> Record:
    """The release meant to fix it; the baseline is production as it is now."""
    actor = require(db, actor, Capability.IMPROVEMENTS, action="improvement.candidate")
    candidate = core.resolve_ref(db, ref)
    production = core.labels(db).production
    if candidate.id == production:
        raise InvalidInputError("The candidate is the production release; make a new release.")
    with db.session() as s:
        row = _open(s, improvement_id)
        if row.dataset is None:
            raise InvalidInputError("Choose the improvement's dataset first.")
        row.candidate_release_id, row.baseline_release_id = candidate.id, production
        row.status, row.gate, row.gate_passed = "candidate", None, None
        _step(s, row, actor, "candidate", release_id=candidate.id, baseline=production)
        return _record(row)


def record_gate(
    db: Database, improvement_id: int, reports: list[Any], *, actor: Actor | str = "system"
) -> Record:
    """Store the gate reports (``llmops.evals.gate.GateReport``: the improvement's dataset,
    then the regression dataset); passed when every one passed."""
    actor = require(db, actor, Capability.IMPROVEMENTS, action="improvement.evaluated")
    passed = bool(reports) and all(r.passed for r in reports)
    with db.session() as s:
        row = _open(s, improvement_id)
        row.gate = {"reports": [r.as_dict() for r in reports]}
        row.gate_passed, row.status = passed, "evaluated"
        _step(s, row, actor, "evaluated", passed=passed,
              runs=[r.candidate.id for r in reports])  # fmt: skip
        return _record(row)


def evaluate(
    runner: Any, improvement_id: int, *, max_regression: float = 0.02, actor: Actor | str = "system"
) -> Record:
    """Run the gate: the candidate against the baseline on the dataset (and the regression
    dataset), with the runner (``llmops.evals.runner.EvalRunner``)."""
    actor = require(runner.db, actor, Capability.IMPROVEMENTS, action="improvement.evaluated")
    from llmops.evals.gate import run_gate

    rec = get(runner.db, improvement_id)
    if rec.candidate_release_id is None or rec.dataset is None:
        raise InvalidInputError("An improvement needs a dataset and a candidate to evaluate.")
    reports = []
    for dataset in [rec.dataset, rec.regression_dataset]:
        if dataset:
            reports.append(
                run_gate(runner, dataset, rec.candidate_release_id,
                         baseline=rec.baseline_release_id or "production",
                         max_regression=max_regression, actor=actor)
            )  # fmt: skip
    return record_gate(runner.db, improvement_id, reports, actor=actor)


def start_canary(
    db: Database, improvement_id: int, weight: float, *, actor: Actor | str = "system"
) -> Record:
    actor = require(db, actor, Capability.IMPROVEMENTS, action="improvement.canary")
    rec = get(db, improvement_id)
    if rec.candidate_release_id is None:
        raise InvalidInputError("Choose a candidate release first.")
    if rec.gate_passed is not True:
        raise InvalidInputError("Evaluate the candidate (and pass its gate) before a canary.")
    deploy.start_canary(db, rec.candidate_release_id, weight, actor=actor,
                        note=f"improvement #{improvement_id}: {rec.title}")  # fmt: skip
    with db.session() as s:
        row = _open(s, improvement_id)
        row.status = "canary"
        _step(s, row, actor, "canary", release_id=row.candidate_release_id, weight=weight)
        return _record(row)


def promote(
    db: Database,
    improvement_id: int,
    *,
    actor: Actor | str = "system",
    override: bool = False,
    reason: str = "",
) -> Record:
    """Make the candidate production. Refused while its gate has not passed, unless
    ``override`` with a reason (audited)."""
    actor = require(db, actor, Capability.IMPROVEMENTS, action="improvement.promoted")
    rec = get(db, improvement_id)
    if rec.status in CLOSED:
        raise InvalidInputError(f"Improvement {improvement_id} is {rec.status}: it is closed.")
    if rec.candidate_release_id is None:
        raise InvalidInputError("Choose a candidate release first.")
    if rec.gate_passed is not True:
        if not override:
            state = "failed" if rec.gate_passed is False else "not been run"
            raise InvalidInputError(
                f"The candidate's gate has {state}; promote only with an override and a reason."
            )
        if not reason.strip():
            raise InvalidInputError("An override needs a reason; it is kept with the record.")
    deploy.promote(db, rec.candidate_release_id, actor=actor,
                   note=f"improvement #{improvement_id}: {rec.title}")  # fmt: skip
    with db.session() as s:
        row = _open(s, improvement_id)
        row.status, row.decision, row.reason = "promoted", "promoted", reason.strip()
        row.overridden = rec.gate_passed is not True
        _step(s, row, actor, "promoted", release_id=row.candidate_release_id,
              override=row.overridden, reason=reason.strip() or None)  # fmt: skip
        return _record(row)


def abandon(
    db: Database, improvement_id: int, reason: str, *, actor: Actor | str = "system"
) -> Record:
    actor = require(db, actor, Capability.IMPROVEMENTS, action="improvement.abandoned")
    if not reason.strip():
        raise InvalidInputError("Say why the improvement is abandoned; it is kept with the record.")
    with db.session() as s:
        row = _open(s, improvement_id)
        row.status, row.decision, row.reason = "abandoned", "abandoned", reason.strip()
        _step(s, row, actor, "abandoned", reason=reason.strip())
    labels = core.labels(db)
    if row.candidate_release_id and labels.canary == row.candidate_release_id:
        deploy.stop_canary(db, actor=actor, note=f"improvement #{improvement_id} abandoned")
    return get(db, improvement_id)


def get(db: Database, improvement_id: int) -> Record:
    with db.session() as s:
        row = s.get(Improvement, improvement_id)
        if row is None:
            raise NotFoundError(f"Improvement {improvement_id} does not exist.")
        return _record(row)


def list_improvements(
    db: Database, *, status: str | None = None, limit: int = 50, offset: int = 0
) -> list[Record]:
    stmt = select(Improvement).order_by(Improvement.updated_at.desc(), Improvement.id.desc())
    if status:
        stmt = stmt.where(Improvement.status == status)
    with db.session() as s:
        return [_record(r) for r in s.scalars(stmt.limit(limit).offset(offset))]


@dataclass
class Step:
    at: datetime
    actor: str
    step: str
    details: dict[str, Any]

    def as_dict(self) -> JSONDict:
        return {**asdict(self), "at": self.at.isoformat(timespec="seconds")}


def events(db: Database, improvement_id: int) -> list[Step]:
    with db.session() as s:
        rows = s.scalars(
            select(ImprovementEvent).where(ImprovementEvent.improvement_id == improvement_id)
            .order_by(ImprovementEvent.at, ImprovementEvent.id)
        ).all()  # fmt: skip
        return [Step(r.at, r.actor, r.step, r.details or {}) for r in rows]
