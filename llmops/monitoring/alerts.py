"""Alert rules: a threshold on a metric over a trailing window, kept in the store.

``evaluate`` computes every enabled rule's metric (``llmops.monitoring.metrics.window``),
records a transition (``firing`` / ``resolved``) in ``alert_events`` when a rule's state
changes, and notifies the rule's webhook (or the default one) about it. It runs from
``llmops monitor check`` (cron; exit code 1 while any rule fires) and when the Overview
opens. Changing state is a compare-and-set on ``alert_rules.state``, so two evaluators at
the same moment record and notify one transition, not two.

Rates and percentiles need ``min_samples`` traces (or ratings, for the thumbs-up rate) in the
window before they can fire: one failed turn out of two is not an incident. Counts (traces,
feedback, tokens, cost) fire on their value alone, so "fewer than 1 trace in 30 minutes"
works as a dead-man's switch.
"""

from __future__ import annotations

import json
import logging
import math
import operator
import re
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from urllib.parse import urlencode, urlsplit

from pydantic import BaseModel, Field, ValidationError, field_validator
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from llmops.errors import InvalidInputError, NotFoundError
from llmops.governance.roles import Actor, Capability, require
from llmops.monitoring.metrics import METRICS, Stats, format_value, window
from llmops.store.db import Database
from llmops.store.models import AlertEvent, AlertRule, AuditLog, utcnow
from llmops.types import JSONDict, JSONValue

log = logging.getLogger(__name__)

COMPARISONS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}
MAX_WINDOW_MINUTES = 30 * 24 * 60
MAX_RANGE_MINUTES = 3660 * 24 * 60  # ten years: the longest trailing range of the metrics
_WINDOW = re.compile(r"^\s*(\d{1,12})\s*(m|min|h|d)?\s*$", re.I)


def parse_window(text: str | int, *, limit: int = MAX_RANGE_MINUTES) -> int:
    """``15m``, ``2h``, ``1d`` or a number of minutes → minutes, at most ``limit``."""
    if isinstance(text, int):
        return text
    m = _WINDOW.match(text or "")
    if not m:
        raise InvalidInputError(f"A window looks like 15m, 2h or 1d, not {text!r}.")
    n = int(m.group(1))
    unit = (m.group(2) or "m").lower()
    minutes = n * {"m": 1, "min": 1, "h": 60, "d": 1440}[unit]
    if minutes > limit:
        raise InvalidInputError(f"A window is at most {_fmt_window(limit)}, not {text!r}.")
    return minutes


MAX_ID = 2**63 - 1  # the largest integer key the store can hold


def _rule_id(rule_id: int) -> int:
    """A rule id that can exist: a larger one is reported as missing, not sent to SQL."""
    if not 1 <= rule_id <= MAX_ID:
        raise NotFoundError(f"Alert rule {rule_id} does not exist.")
    return rule_id


def _fmt_value(metric: str, value: float | None) -> str:
    return "no data" if value is None else format_value(metric, value)


def _fmt_window(minutes: int) -> str:
    if minutes % 1440 == 0:
        return f"{minutes // 1440} d"
    if minutes % 60 == 0:
        return f"{minutes // 60} h"
    return f"{minutes} min"


class RuleSpec(BaseModel):
    """What an operator may set on a rule (validated; errors name the field)."""

    name: str = Field(min_length=1, max_length=200)
    metric: str
    comparison: Literal[">", ">=", "<", "<="] = ">"
    threshold: float
    window_minutes: int = Field(60, ge=1, le=MAX_WINDOW_MINUTES)
    release_id: str | None = Field(None, max_length=32)
    model: str | None = Field(None, max_length=200)
    min_samples: int = Field(20, ge=0, le=1_000_000)
    webhook_url: str | None = Field(None, max_length=2000)
    enabled: bool = True

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        v = v.strip()
        if not v:
            raise ValueError("must not be blank")
        return v

    @field_validator("metric")
    @classmethod
    def _metric(cls, v: str) -> str:
        if v not in METRICS:
            raise ValueError(f"unknown metric {v!r}; one of {', '.join(METRICS)}")
        return v

    @field_validator("threshold")
    @classmethod
    def _threshold(cls, v: float) -> float:
        if not math.isfinite(v):
            raise ValueError("must be a finite number")
        return v

    @field_validator("release_id", "model", "webhook_url", mode="before")
    @classmethod
    def _blank_is_none(cls, v: object) -> object:
        return None if isinstance(v, str) and not v.strip() else v

    @field_validator("webhook_url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        if v is None:
            return None
        check_webhook_url(v)
        return v.strip()


def check_webhook_url(url: str) -> str:
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InvalidInputError(f"A webhook URL must start with http:// or https://, not {url!r}.")
    return url.strip()


def make_spec(**fields: Any) -> RuleSpec:
    """A ``RuleSpec`` or an ``InvalidInputError`` that says which field is wrong and why."""
    try:
        return RuleSpec(**fields)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "rule"
        message = str(first["msg"]).removeprefix("Value error, ")
        raise InvalidInputError(f"Alert rule {where}: {message}.") from None


@dataclass
class Rule:
    id: int
    name: str
    metric: str
    comparison: str
    threshold: float
    window_minutes: int
    release_id: str | None
    model: str | None
    min_samples: int
    webhook_url: str | None
    enabled: bool
    state: str
    state_since: datetime | None
    last_value: float | None
    last_checked_at: datetime | None

    def describe(self) -> str:
        scope = "".join(
            f" · {k} {v}" for k, v in (("release", self.release_id), ("model", self.model)) if v
        )
        return (
            f"{METRICS[self.metric].label} {self.comparison} "
            f"{_fmt_value(self.metric, self.threshold)} over {_fmt_window(self.window_minutes)}"
            f"{scope}"
        )

    def as_dict(self) -> JSONDict:
        d = asdict(self)
        for key in ("state_since", "last_checked_at"):
            d[key] = d[key].isoformat() if d[key] else None
        d["description"] = self.describe()
        return d


def _rule(row: AlertRule) -> Rule:
    return Rule(
        row.id, row.name, row.metric, row.comparison, row.threshold, row.window_minutes,
        row.release_id, row.model, row.min_samples, row.webhook_url, row.enabled, row.state,
        row.state_since, row.last_value, row.last_checked_at,
    )  # fmt: skip


def _audit(s: Session, actor: str, action: str, target: int, **details: JSONValue) -> None:
    s.add(AuditLog(actor=actor, action=action, target=str(target), details=details or None))


def create_rule(db: Database, spec: RuleSpec, *, actor: Actor | str = "system") -> Rule:
    actor = require(db, actor, Capability.ALERTS, action="alert.create")
    with db.session() as s:
        row = AlertRule(**spec.model_dump(), created_by=actor, state="ok")
        s.add(row)
        s.flush()
        _audit(s, actor, "alert.create", row.id, **spec.model_dump())
        return _rule(row)


def update_rule(
    db: Database, rule_id: int, spec: RuleSpec, *, actor: Actor | str = "system"
) -> Rule:
    """Replace a rule's settings; its state starts over (the old one was for other settings)."""
    actor = require(db, actor, Capability.ALERTS, action="alert.update")
    with db.session() as s:
        row = s.get(AlertRule, _rule_id(rule_id))
        if row is None:
            raise NotFoundError(f"Alert rule {rule_id} does not exist.")
        for key, value in spec.model_dump().items():
            setattr(row, key, value)
        row.state, row.state_since, row.last_value = "ok", None, None
        row.updated_at = utcnow()
        _audit(s, actor, "alert.update", rule_id, **spec.model_dump())
        return _rule(row)


def delete_rule(db: Database, rule_id: int, *, actor: Actor | str = "system") -> None:
    actor = require(db, actor, Capability.ALERTS, action="alert.delete")
    with db.session() as s:
        row = s.get(AlertRule, _rule_id(rule_id))
        if row is None:
            raise NotFoundError(f"Alert rule {rule_id} does not exist.")
        s.delete(row)
        _audit(s, actor, "alert.delete", rule_id, name=row.name)


def get_rule(db: Database, rule_id: int) -> Rule:
    with db.session() as s:
        row = s.get(AlertRule, _rule_id(rule_id))
        if row is None:
            raise NotFoundError(f"Alert rule {rule_id} does not exist.")
        return _rule(row)


def list_rules(db: Database) -> list[Rule]:
    with db.session() as s:
        return [_rule(r) for r in s.scalars(select(AlertRule).order_by(AlertRule.id))]


@dataclass
class Evaluation:
    """One rule checked now: the value, whether it fires, and what changed."""

    rule: Rule
    value: float | None
    samples: int
    firing: bool
    reason: str
    window_start: datetime
    window_end: datetime
    changed: str | None = None  # "fired" | "resolved"
    delivery: str = "none"  # none | sent | failed
    delivery_error: str | None = None

    @property
    def message(self) -> str:
        state = "FIRING" if self.firing else "resolved"
        return (
            f"[llmops] {state}: {self.rule.name} — {self.rule.describe()}; "
            f"now {_fmt_value(self.rule.metric, self.value)} ({self.samples:,} samples)"
        )

    def traces_path(self) -> str:
        return "/traces?" + urlencode(self.traces_params())

    def traces_params(self) -> dict[str, str]:
        """The Traces page filtered to the window (and to errors for error-rate rules)."""
        params = {
            "since": self.window_start.isoformat(timespec="seconds"),
            "until": self.window_end.isoformat(timespec="seconds"),
        }
        if self.rule.metric == "error_rate":
            params["status"] = "error"
        elif self.rule.metric == "blocked_rate":
            params["status"] = "blocked"
        if self.rule.release_id:
            params["release"] = self.rule.release_id
        if self.rule.model:
            params["model"] = self.rule.model
        return params

    def as_dict(self) -> JSONDict:
        return {
            "rule": self.rule.as_dict(),
            "value": self.value,
            "samples": self.samples,
            "firing": self.firing,
            "reason": self.reason,
            "changed": self.changed,
            "delivery": self.delivery,
            "delivery_error": self.delivery_error,
            "window_start": self.window_start.isoformat(),
            "window_end": self.window_end.isoformat(),
            "message": self.message,
            "traces_path": self.traces_path(),
            "traces_params": self.traces_params(),
        }


def check(rule: Rule, stats: Stats) -> tuple[float | None, int, bool, str]:
    """(value, samples, firing, reason) of a rule against a window's stats."""
    value = stats.value(rule.metric)
    samples = stats.samples(rule.metric)
    if value is None:
        return None, samples, False, "no data in the window"
    needs_samples = METRICS[rule.metric].unit in ("ratio", "ms")
    if needs_samples and samples < rule.min_samples:
        return value, samples, False, f"too few samples ({samples} < {rule.min_samples})"
    firing = COMPARISONS[rule.comparison](value, rule.threshold)
    shown = _fmt_value(rule.metric, value)
    return value, samples, firing, f"{shown} {'breaches' if firing else 'within'} threshold"


def evaluate(
    db: Database,
    *,
    now: datetime | None = None,
    notify: bool = True,
    default_webhook: str | None = None,
    timeout_s: float = 3.0,
    console_url: str | None = None,
) -> list[Evaluation]:
    """Check every enabled rule; record and notify the ones whose state changed."""
    now = now or datetime.now(UTC)
    out = []
    for rule in list_rules(db):
        if not rule.enabled:
            continue
        since = now - timedelta(minutes=rule.window_minutes)
        stats, _ = window(db, since, now, release_id=rule.release_id, model=rule.model)
        value, samples, firing, reason = check(rule, stats)
        ev = Evaluation(rule, value, samples, firing, reason, since, now)
        ev.changed = _transition(db, ev, now)
        if ev.changed and notify:
            url = rule.webhook_url or default_webhook
            if url:
                ev.delivery, ev.delivery_error = send_webhook(
                    url, payload(ev, console_url), timeout_s
                )
                _record_delivery(db, rule.id, ev)
        out.append(ev)
    return out


def _transition(db: Database, ev: Evaluation, now: datetime) -> str | None:
    new_state = "firing" if ev.firing else "ok"
    with db.session() as s:
        result = s.execute(
            update(AlertRule)
            .where(AlertRule.id == ev.rule.id, AlertRule.state != new_state)
            .values(state=new_state, state_since=now, last_value=ev.value, last_checked_at=now)
        )
        changed = getattr(result, "rowcount", 0) == 1
        if not changed:
            s.execute(
                update(AlertRule)
                .where(AlertRule.id == ev.rule.id)
                .values(last_value=ev.value, last_checked_at=now)
            )
            return None
        ev.rule.state, ev.rule.state_since = new_state, now
        s.add(
            AlertEvent(
                rule_id=ev.rule.id,
                state="firing" if ev.firing else "resolved",
                value=ev.value,
                threshold=ev.rule.threshold,
                samples=ev.samples,
                window_start=ev.window_start,
                window_end=ev.window_end,
                message=ev.message,
                at=now,
            )
        )
    return "fired" if ev.firing else "resolved"


def _record_delivery(db: Database, rule_id: int, ev: Evaluation) -> None:
    with db.session() as s:
        last = s.scalar(
            select(AlertEvent)
            .where(AlertEvent.rule_id == rule_id)
            .order_by(AlertEvent.at.desc(), AlertEvent.id.desc())
            .limit(1)
        )
        if last is not None:
            last.delivery, last.delivery_error = ev.delivery, ev.delivery_error


def payload(ev: Evaluation, console_url: str | None = None) -> JSONDict:
    """What a webhook receives: ``text`` for chat tools (Slack, Mattermost, Teams via
    connectors), ``alert`` for anything else."""
    path = ev.traces_path()
    link = f"{console_url.rstrip('/')}{path}" if console_url else path
    return {
        "text": f"{ev.message} — {link}",
        "alert": {
            "rule_id": ev.rule.id,
            "name": ev.rule.name,
            "state": "firing" if ev.firing else "resolved",
            "metric": ev.rule.metric,
            "comparison": ev.rule.comparison,
            "threshold": ev.rule.threshold,
            "value": ev.value,
            "samples": ev.samples,
            "window_minutes": ev.rule.window_minutes,
            "window_start": ev.window_start.isoformat(),
            "window_end": ev.window_end.isoformat(),
            "release_id": ev.rule.release_id,
            "model": ev.rule.model,
            "traces_url": link,
        },
    }


def send_webhook(
    url: str, body: Mapping[str, JSONValue], timeout_s: float = 3.0
) -> tuple[str, str | None]:
    """POST ``body`` as JSON; ("sent", None) on a 2xx answer, else ("failed", why)."""
    data = json.dumps(body, ensure_ascii=False).encode()
    req = urllib.request.Request(
        url,
        data=data,
        method="POST",
        headers={"Content-Type": "application/json", "User-Agent": "llmops-alerts"},
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as resp:
            status = resp.status
    except urllib.error.HTTPError as exc:
        return "failed", f"HTTP {exc.code} {exc.reason}"
    except (OSError, ValueError) as exc:
        log.warning("alert webhook %s failed: %s", url, exc)
        return "failed", f"{type(exc).__name__}: {exc}"
    if 200 <= status < 300:
        return "sent", None
    return "failed", f"HTTP {status}"


@dataclass
class HistoryRow:
    id: int
    at: datetime
    rule_id: int
    rule: str
    state: str
    value: float | None
    threshold: float
    samples: int
    message: str
    delivery: str
    delivery_error: str | None
    window_start: datetime
    window_end: datetime

    def as_dict(self) -> JSONDict:
        d = asdict(self)
        for key in ("at", "window_start", "window_end"):
            d[key] = d[key].isoformat()
        return d


def history(
    db: Database, *, limit: int = 50, offset: int = 0, rule_id: int | None = None
) -> tuple[list[HistoryRow], int]:
    """Transitions, newest first, paged; with the total count."""
    e, r = AlertEvent, AlertRule
    stmt = (
        select(
            e.id, e.at, e.rule_id, r.name.label("rule"), e.state, e.value, e.threshold, e.samples,
            e.message, e.delivery, e.delivery_error, e.window_start, e.window_end,
        )
        .join(r, r.id == e.rule_id)
        .order_by(e.at.desc(), e.id.desc())
    )  # fmt: skip
    count = select(func.count()).select_from(e)
    if rule_id is not None:
        stmt = stmt.where(e.rule_id == rule_id)
        count = count.where(e.rule_id == rule_id)
    with db.session() as s:
        rows = [HistoryRow(**row._mapping) for row in s.execute(stmt.limit(limit).offset(offset))]
        return rows, int(s.scalar(count) or 0)
