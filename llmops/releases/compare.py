"""Production vs canary over a trailing window of live traffic, with the statistics to tell a
real difference from noise.

For each release: turns, error rate, latency p50 / p95, thumbs-up rate, guard violation rate,
cost per turn and the online-evaluation scores. Each metric gets the canary's difference from
production, a 95 % confidence interval and a p-value — the two-proportion z-test for rates,
Mann-Whitney with a bootstrap interval for latencies, Welch for means — and the comparison a
plain verdict ("canary worse on error rate (+12.0 points, p < 0.01)").

The queries are indexed aggregates on ``traces (release_id, started_at)`` plus, for the
distributions, the latest ``SAMPLE`` turns of each release in the window (a bounded list).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import case, distinct, func, select

from llmops.evals.stats import Difference, quantile_difference, two_proportions, welch
from llmops.releases.core import labels
from llmops.store.db import Database
from llmops.store.models import Feedback, GuardEvent, Release, Trace, TraceScore, live_filter
from llmops.types import JSONDict

SAMPLE = 20_000
ALPHA = 0.05
MIN_TURNS = 20  # canary turns before a verdict is given


@dataclass(frozen=True)
class MetricSpec:
    key: str
    label: str
    unit: str  # ratio | ms | usd | score
    higher_is_worse: bool


SPECS: dict[str, MetricSpec] = {
    m.key: m
    for m in (
        MetricSpec("error_rate", "Error rate", "ratio", True),
        MetricSpec("latency_p50", "Latency p50", "ms", True),
        MetricSpec("latency_p95", "Latency p95", "ms", True),
        MetricSpec("thumbs_up_rate", "Thumbs-up rate", "ratio", False),
        MetricSpec("violation_rate", "Guard violation rate", "ratio", True),
        MetricSpec("cost_per_turn", "Cost per turn", "usd", True),
    )
}


@dataclass
class Arm:
    """One release's live traffic in the window."""

    release_id: str
    name: str
    turns: int = 0
    errors: int = 0
    violating: int = 0
    feedback: int = 0
    thumbs_up: int = 0
    latencies: list[float] = field(default_factory=list)
    costs: list[float] = field(default_factory=list)
    scores: dict[str, list[float]] = field(default_factory=dict)

    def summary(self) -> JSONDict:
        return {
            "release_id": self.release_id,
            "name": self.name,
            "turns": self.turns,
            "errors": self.errors,
            "feedback": self.feedback,
            "violating": self.violating,
        }


@dataclass
class MetricDiff:
    key: str
    label: str
    unit: str
    production: float | None
    canary: float | None
    diff: float | None
    low: float | None
    high: float | None
    p_value: float | None
    n_production: int
    n_canary: int
    worse: bool | None  # the canary is worse (None: no difference could be measured)
    significant: bool

    def as_dict(self) -> JSONDict:
        return asdict(self)


@dataclass
class Comparison:
    since: datetime
    until: datetime
    production: Arm | None
    canary: Arm | None
    weight: float
    metrics: list[MetricDiff]
    verdict: str

    def metric(self, key: str) -> MetricDiff | None:
        return next((m for m in self.metrics if m.key == key), None)

    def as_dict(self) -> JSONDict:
        return {
            "since": self.since.isoformat(timespec="seconds"),
            "until": self.until.isoformat(timespec="seconds"),
            "production": self.production.summary() if self.production else None,
            "canary": self.canary.summary() if self.canary else None,
            "weight": self.weight,
            "metrics": [m.as_dict() for m in self.metrics],
            "verdict": self.verdict,
        }


def _arm(db: Database, release_id: str, since: datetime, until: datetime) -> Arm:
    t = Trace
    in_window = (
        t.release_id == release_id,
        t.started_at >= since,
        t.started_at < until,
        live_filter(t.session_id),
    )
    with db.session() as s:
        name = s.scalar(select(Release.name).where(Release.id == release_id)) or release_id
        turns, errors = s.execute(
            select(func.count(), func.coalesce(func.sum(case((t.status == "error", 1), else_=0)), 0))
            .where(*in_window)
        ).one()  # fmt: skip
        rows = s.execute(
            select(t.latency_ms, t.cost)
            .where(*in_window)
            .order_by(t.started_at.desc())
            .limit(SAMPLE)
        ).all()
        fb_n, fb_up = s.execute(
            select(func.count(), func.coalesce(func.sum(case((Feedback.score >= 0.5, 1), else_=0)), 0))
            .join(t, t.id == Feedback.trace_id)
            .where(*in_window)
        ).one()  # fmt: skip
        violating = s.scalar(
            select(func.count(distinct(GuardEvent.trace_id)))
            .join(t, t.id == GuardEvent.trace_id)
            .where(*in_window)
        )
        score_rows = s.execute(
            select(TraceScore.name, TraceScore.value)
            .join(t, t.id == TraceScore.trace_id)
            .where(*in_window)
            .order_by(t.started_at.desc())
            .limit(SAMPLE)
        ).all()
    arm = Arm(release_id, name, int(turns), int(errors), int(violating or 0), int(fb_n),
              int(fb_up))  # fmt: skip
    arm.latencies = [float(lat) for lat, _ in rows if lat is not None]
    arm.costs = [float(c or 0.0) for _, c in rows]
    for score_name, value in score_rows:
        arm.scores.setdefault(score_name, []).append(float(value))
    return arm


def _diff(spec: MetricSpec, d: Difference, alpha: float) -> MetricDiff:
    worse = None
    if d.diff is not None and d.diff != 0:
        worse = d.diff > 0 if spec.higher_is_worse else d.diff < 0
    significant = d.p_value is not None and d.p_value < alpha and worse is not None
    return MetricDiff(spec.key, spec.label, spec.unit, d.a, d.b, d.diff, d.low, d.high,
                      d.p_value, d.n_a, d.n_b, worse, significant)  # fmt: skip


def differences(prod: Arm, canary: Arm, alpha: float = ALPHA) -> list[MetricDiff]:
    out = [
        _diff(SPECS["error_rate"],
              two_proportions(prod.errors, prod.turns, canary.errors, canary.turns), alpha),
        _diff(SPECS["latency_p50"],
              quantile_difference(prod.latencies, canary.latencies, 0.5), alpha),
        _diff(SPECS["latency_p95"],
              quantile_difference(prod.latencies, canary.latencies, 0.95), alpha),
        _diff(SPECS["thumbs_up_rate"],
              two_proportions(prod.thumbs_up, prod.feedback, canary.thumbs_up, canary.feedback),
              alpha),
        _diff(SPECS["violation_rate"],
              two_proportions(prod.violating, prod.turns, canary.violating, canary.turns), alpha),
        _diff(SPECS["cost_per_turn"], welch(prod.costs, canary.costs), alpha),
    ]  # fmt: skip
    for name in sorted(set(prod.scores) | set(canary.scores)):
        spec = MetricSpec(f"score:{name}", f"Online eval: {name}", "score", False)
        out.append(
            _diff(spec, welch(prod.scores.get(name, []), canary.scores.get(name, [])), alpha)
        )
    return out


def format_diff(m: MetricDiff) -> str:
    if m.diff is None:
        return "—"
    if m.unit == "ratio":
        return f"{m.diff * 100:+.1f} points"
    if m.unit == "ms":
        return f"{m.diff:+,.0f} ms"
    if m.unit == "usd":
        return f"{m.diff:+.5f} USD"
    return f"{m.diff:+.3f}"


def _p(p: float | None) -> str:
    if p is None:
        return "p n/a"
    return "p < 0.001" if p < 0.001 else "p < 0.01" if p < 0.01 else f"p = {p:.2f}"


def verdict(metrics: list[MetricDiff], canary: Arm | None, min_turns: int = MIN_TURNS) -> str:
    if canary is None:
        return "No canary is running."
    if canary.turns < min_turns:
        return f"Not enough canary traffic yet ({canary.turns} turns; {min_turns} needed)."
    worse = [m for m in metrics if m.significant and m.worse]
    better = [m for m in metrics if m.significant and m.worse is False]
    parts = []
    if worse:
        parts.append("canary worse on " + ", ".join(
            f"{m.label.lower()} ({format_diff(m)}, {_p(m.p_value)})" for m in worse))  # fmt: skip
    if better:
        parts.append("better on " + ", ".join(
            f"{m.label.lower()} ({format_diff(m)}, {_p(m.p_value)})" for m in better))  # fmt: skip
    if not parts:
        return f"No significant difference over {canary.turns} canary turns."
    text = "; ".join(parts)
    return text[0].upper() + text[1:] + "."


def compare(
    db: Database,
    *,
    window: timedelta = timedelta(hours=1),
    until: datetime | None = None,
    canary_id: str | None = None,
    alpha: float = ALPHA,
) -> Comparison:
    """Production vs the running canary (or ``canary_id``) over the trailing ``window``."""
    until = until or datetime.now(UTC)
    since = until - window
    current = labels(db)
    prod = _arm(db, current.production, since, until) if current.production else None
    candidate = canary_id or current.canary
    canary = _arm(db, candidate, since, until) if candidate else None
    metrics = differences(prod, canary, alpha) if prod and canary else []
    return Comparison(since, until, prod, canary, current.canary_weight, metrics,
                      verdict(metrics, canary))  # fmt: skip
