"""Automatic rollback of a bad canary.

Rules (``rollback_rules``) say when the canary must leave traffic: its error rate, guard
violation rate, latency or cost is worse than production's by at least a threshold with
p < a significance level over at least N canary turns (``worse``), or past an absolute limit
(``limit``, e.g. latency p95 above 4,000 ms). ``check`` evaluates them on the trailing
window; when one fires, the canary's weight goes to 0 in one compare-and-set (so two
processes checking at once roll back once), and a label event, an audit row, a
``rollback_events`` row and a webhook notification record why.

``check`` runs in the app's background worker (``Runtime.start_background``) and in
``llmops monitor check`` (cron), whichever comes first. A canary started while no rule
exists gets the default rules (``DEFAULT_RULES``).
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import TypedDict

from sqlalchemy import select, update

from llmops.errors import InvalidInputError, NotFoundError
from llmops.governance.roles import Actor, Capability, require
from llmops.releases.compare import SPECS, Comparison, MetricDiff, compare, format_diff
from llmops.releases.core import CANARY, _event, labels
from llmops.store.db import Database
from llmops.store.models import LabelEvent, ReleaseLabel, RollbackEvent, RollbackRule, utcnow
from llmops.types import JSONDict

log = logging.getLogger(__name__)

KINDS = ("worse", "limit")


class RuleSpec(TypedDict):
    """A rule as ``add_rule`` takes it (``DEFAULT_RULES``)."""

    name: str
    metric: str
    kind: str
    threshold: float
    p_value: float
    min_samples: int
    window_minutes: int


DEFAULT_RULES: tuple[RuleSpec, ...] = (
    {"name": "Error rate worse than production", "metric": "error_rate", "kind": "worse",
     "threshold": 0.02, "p_value": 0.05, "min_samples": 20, "window_minutes": 60},
    {"name": "Guard violation rate worse than production", "metric": "violation_rate",
     "kind": "worse", "threshold": 0.05, "p_value": 0.01, "min_samples": 50,
     "window_minutes": 60},
)  # fmt: skip


@dataclass
class Rule:
    id: int
    name: str
    metric: str
    kind: str
    threshold: float
    p_value: float
    min_samples: int
    window_minutes: int
    enabled: bool
    webhook_url: str | None

    def describe(self) -> str:
        spec = SPECS[self.metric]
        unit = {"ratio": " points", "ms": " ms", "usd": " USD"}.get(spec.unit, "")
        amount = self.threshold * 100 if spec.unit == "ratio" else self.threshold
        if self.kind == "worse":
            return (
                f"{spec.label} worse than production by ≥ {amount:g}{unit} "
                f"(p < {self.p_value:g}, ≥ {self.min_samples} canary turns, "
                f"last {self.window_minutes} min)"
            )
        side = "above" if spec.higher_is_worse else "below"
        shown = f"{amount:g}{' %' if spec.unit == 'ratio' else unit}"
        return (
            f"{spec.label} {side} {shown} (≥ {self.min_samples} canary turns, "
            f"last {self.window_minutes} min)"
        )

    def as_dict(self) -> JSONDict:
        return {**asdict(self), "description": self.describe()}


def _rule(row: RollbackRule) -> Rule:
    return Rule(row.id, row.name, row.metric, row.kind, row.threshold, row.p_value,
                row.min_samples, row.window_minutes, row.enabled, row.webhook_url)  # fmt: skip


def validate(
    *, metric: str, kind: str, threshold: float, p_value: float, min_samples: int,
    window_minutes: int,
) -> None:  # fmt: skip
    if metric not in SPECS:
        raise InvalidInputError(f"Unknown metric {metric!r}; one of {', '.join(SPECS)}.")
    if kind not in KINDS:
        raise InvalidInputError(f"A rule's kind is 'worse' or 'limit', not {kind!r}.")
    if not threshold == threshold or threshold < 0 or threshold > 1e9:  # NaN, negative
        raise InvalidInputError("The threshold must be a number ≥ 0.")
    if SPECS[metric].unit == "ratio" and threshold > 1:
        raise InvalidInputError("Rates are fractions: 0.05 is 5 points (or 5 %).")
    if not 0 < p_value < 1:
        raise InvalidInputError("The significance level must be between 0 and 1, e.g. 0.05.")
    if not 1 <= min_samples <= 1_000_000:
        raise InvalidInputError("min samples must be between 1 and 1,000,000.")
    if not 1 <= window_minutes <= 7 * 24 * 60:
        raise InvalidInputError("The window must be between 1 minute and 7 days.")


def add_rule(
    db: Database,
    *,
    name: str,
    metric: str,
    kind: str = "worse",
    threshold: float = 0.0,
    p_value: float = 0.05,
    min_samples: int = 20,
    window_minutes: int = 60,
    webhook_url: str | None = None,
    actor: Actor | str = "system",
) -> Rule:
    actor = require(db, actor, Capability.CANARY, action="rollback_rule.add")
    validate(metric=metric, kind=kind, threshold=threshold, p_value=p_value,
             min_samples=min_samples, window_minutes=window_minutes)  # fmt: skip
    if webhook_url:
        from llmops.monitoring.alerts import check_webhook_url

        webhook_url = check_webhook_url(webhook_url)
    name = name.strip() or metric
    with db.session() as s:
        row = RollbackRule(name=name[:200], metric=metric, kind=kind, threshold=threshold,
                           p_value=p_value, min_samples=min_samples,
                           window_minutes=window_minutes, webhook_url=webhook_url or None,
                           created_by=actor)  # fmt: skip
        s.add(row)
        s.flush()
        from llmops.store.models import AuditLog

        s.add(AuditLog(actor=actor, action="rollback_rule.create", target=str(row.id),
                       details={"metric": metric, "kind": kind, "threshold": threshold}))  # fmt: skip
        return _rule(row)


def list_rules(db: Database) -> list[Rule]:
    with db.session() as s:
        return [_rule(r) for r in s.scalars(select(RollbackRule).order_by(RollbackRule.id))]


def delete_rule(db: Database, rule_id: int, *, actor: Actor | str = "system") -> None:
    actor = require(db, actor, Capability.CANARY, action="rollback_rule.delete")
    from llmops.store.models import AuditLog

    with db.session() as s:
        row = s.get(RollbackRule, rule_id)
        if row is None:
            raise NotFoundError(f"Rollback rule {rule_id} does not exist.")
        s.delete(row)
        s.add(AuditLog(actor=actor, action="rollback_rule.delete", target=str(rule_id)))


def set_enabled(
    db: Database, rule_id: int, enabled: bool, *, actor: Actor | str = "system"
) -> None:
    actor = require(db, actor, Capability.CANARY, action="rollback_rule.set_enabled")
    with db.session() as s:
        row = s.get(RollbackRule, rule_id)
        if row is None:
            raise NotFoundError(f"Rollback rule {rule_id} does not exist.")
        row.enabled = enabled
        from llmops.store.models import AuditLog

        s.add(AuditLog(actor=actor, action="rollback_rule.enable" if enabled
                       else "rollback_rule.disable", target=str(rule_id)))  # fmt: skip


def ensure_default_rules(db: Database, *, actor: str = "system") -> list[Rule]:
    """Give a first canary a safety net: the default rules, when no rule exists yet."""
    if list_rules(db):
        return []
    return [add_rule(db, actor=actor, **spec) for spec in DEFAULT_RULES]


def add_default_rules(db: Database, *, actor: Actor | str = "system") -> list[Rule]:
    """Add each default rule that is not there yet (same metric, kind and threshold)."""
    actor = require(db, actor, Capability.CANARY, action="rollback_rule.add")
    present = {(r.metric, r.kind, r.threshold) for r in list_rules(db)}
    return [
        add_rule(db, actor=actor, **spec)
        for spec in DEFAULT_RULES
        if (spec["metric"], spec["kind"], spec["threshold"]) not in present
    ]


# -- evaluation ----------------------------------------------------------------------------------
@dataclass
class Decision:
    rule: Rule
    fires: bool
    reason: str
    metric: MetricDiff | None


def decide(rule: Rule, comparison: Comparison) -> Decision:
    m = comparison.metric(rule.metric)
    canary = comparison.canary
    spec = SPECS[rule.metric]
    if canary is None or m is None:
        return Decision(rule, False, "no canary traffic", m)
    samples = canary.feedback if rule.metric == "thumbs_up_rate" else canary.turns
    if samples < rule.min_samples:
        return Decision(rule, False, f"{samples} of {rule.min_samples} canary samples", m)
    if rule.kind == "limit":
        value = m.canary
        if value is None:
            return Decision(rule, False, "no value", m)
        past = value > rule.threshold if spec.higher_is_worse else value < rule.threshold
        return Decision(rule, past, f"canary {spec.label.lower()} {value:g}", m)
    if m.diff is None or m.p_value is None:
        return Decision(rule, False, "no difference measured", m)
    worse_by = m.diff if spec.higher_is_worse else -m.diff
    fires = worse_by >= rule.threshold and m.p_value < rule.p_value and worse_by > 0
    return Decision(rule, fires, f"{format_diff(m)}, p = {m.p_value:.3g}", m)


@dataclass
class RolledBack:
    rule: Rule
    release_id: str
    message: str
    delivery: str


def _take_out(db: Database, canary_id: str, decision: Decision, production: str | None) -> str:
    """Weight → 0 if the canary is still this release and still serving (compare-and-set).
    Returns the event message, or "" if another process got there first."""
    m = decision.metric
    message = (
        f"Canary {canary_id} rolled back automatically: {decision.rule.describe()} — "
        f"{decision.reason}."
    )
    actor = f"rollback-rule:{decision.rule.id}"
    with db.session() as s:
        done = s.execute(
            update(ReleaseLabel)
            .where(
                ReleaseLabel.label == CANARY,
                ReleaseLabel.release_id == canary_id,
                ReleaseLabel.weight > 0,
            )
            .values(weight=0.0, updated_at=utcnow(), updated_by=actor)
        )
        if not done.rowcount:  # type: ignore[attr-defined]
            return ""
        _event(s, label=CANARY, action="auto_rollback", release_id=canary_id,
               previous=canary_id, weight=0.0, actor=actor, note=message)  # fmt: skip
        s.add(
            RollbackEvent(
                rule_id=decision.rule.id, release_id=canary_id, production_id=production,
                metric=decision.rule.metric, canary_value=m.canary if m else None,
                production_value=m.production if m else None,
                p_value=m.p_value if m else None,
                samples=m.n_canary if m else 0, message=message,
            )
        )  # fmt: skip
    return message


def check(
    db: Database,
    *,
    now: datetime | None = None,
    default_webhook: str | None = None,
    timeout_s: float = 3.0,
    console_url: str | None = None,
) -> list[RolledBack]:
    """Evaluate the enabled rules against the running canary; roll it back on the first that
    fires. Cheap when no canary runs (one read of the labels)."""
    current = labels(db)
    if current.canary is None:
        return []
    rules = [r for r in list_rules(db) if r.enabled]
    now = now or datetime.now(UTC)
    comparisons: dict[int, Comparison] = {}
    for rule in rules:
        if rule.window_minutes not in comparisons:
            comparisons[rule.window_minutes] = compare(
                db, window=timedelta(minutes=rule.window_minutes), until=now,
                canary_id=current.canary,
            )  # fmt: skip
        decision = decide(rule, comparisons[rule.window_minutes])
        if not decision.fires:
            continue
        message = _take_out(db, current.canary, decision, current.production)
        if not message:
            return []  # another process rolled it back a moment ago
        log.warning("%s", message)
        delivery = "none"
        url = rule.webhook_url or default_webhook
        if url:
            delivery = _notify(db, url, rule, current.canary, message, timeout_s, console_url)
        return [RolledBack(rule, current.canary, message, delivery)]
    return []


def _notify(
    db: Database,
    url: str,
    rule: Rule,
    canary_id: str,
    message: str,
    timeout_s: float,
    console_url: str | None,
) -> str:
    from llmops.monitoring.alerts import send_webhook

    body: JSONDict = {
        "event": "canary.rollback",
        "release_id": canary_id,
        "rule": rule.as_dict(),
        "message": message,
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    if console_url:
        body["url"] = f"{console_url.rstrip('/')}/releases"
    delivery, error = send_webhook(url, body, timeout_s)
    with db.session() as s:
        row = s.scalars(
            select(RollbackEvent)
            .where(RollbackEvent.release_id == canary_id)
            .order_by(RollbackEvent.id.desc())
            .limit(1)
        ).first()
        if row is not None:
            row.delivery, row.delivery_error = delivery, error
    return delivery


@dataclass
class RollbackRow:
    id: int
    at: datetime
    rule_id: int | None
    release_id: str
    metric: str
    canary_value: float | None
    production_value: float | None
    p_value: float | None
    samples: int
    message: str
    delivery: str

    def as_dict(self) -> JSONDict:
        return {**asdict(self), "at": self.at.isoformat(timespec="seconds")}


def events(db: Database, *, limit: int = 20) -> list[RollbackRow]:
    with db.session() as s:
        rows = s.scalars(
            select(RollbackEvent).order_by(RollbackEvent.at.desc(), RollbackEvent.id.desc())
            .limit(limit)
        ).all()  # fmt: skip
        return [
            RollbackRow(r.id, r.at, r.rule_id, r.release_id, r.metric, r.canary_value,
                        r.production_value, r.p_value, r.samples, r.message, r.delivery)
            for r in rows
        ]  # fmt: skip


def ended_by_rollback(db: Database) -> RollbackRow | None:
    """The automatic rollback that took the last canary out of traffic, if that is the last
    thing that happened to the canary label (None once a canary runs again)."""
    with db.session() as s:
        last = s.scalars(
            select(LabelEvent)
            .where(LabelEvent.label == CANARY)
            .order_by(LabelEvent.at.desc(), LabelEvent.id.desc())
            .limit(1)
        ).first()
        if last is None or last.action != "auto_rollback":
            return None
        release_id = last.release_id
    return next((e for e in events(db, limit=20) if e.release_id == release_id), None)
