"""Monitoring metrics, computed in SQL on SQLite and PostgreSQL alike.

Every dashboard range reads the rollups kept at write time (``metric_rollups``,
``latency_histograms``), never the ``traces`` table:

- up to ``RAW_LIMIT`` (6 hours) by minute, from the minute rows (a series may also ask for
  ``grain="minute"`` over a day);
- up to ``HOUR_LIMIT`` (8 days) by hour, and by day beyond.

Percentiles come from cumulative histogram counts and are within ±2 % of the exact
nearest-rank ones (``llmops.monitoring.histogram``). A range total over minutes (KPIs,
breakdowns) reads the whole hours inside it from the hour rows and only its ragged ends
from the minute rows. Alert windows up to ``RAW_LIMIT`` are exact: they read the raw traces
of the window to the second (``window``), as does ``series(..., exact=True)``.

A range is widened to whole buckets: "the last 7 days" at 14:20 starts at 14:00 seven days
ago and ends with the current hour so far. Buckets are UTC.

Feedback and guard violations count against the bucket of the *trace* they are about, so a
bucket's thumbs-up rate is "of the turns in this hour, how many rated ones were rated up".
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    and_,
    case,
    exists,
    func,
    literal_column,
    or_,
    select,
    text,
)
from sqlalchemy.engine import Row
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement, SQLColumnExpression

from llmops.errors import InvalidInputError
from llmops.monitoring.histogram import QUANTILES, bin_value
from llmops.store.db import Database
from llmops.store.models import (
    Feedback,
    GuardEvent,
    LatencyHistogram,
    MetricRollup,
    Release,
    Trace,
    live_filter,
)
from llmops.store.sql import epoch as epoch_of
from llmops.types import JSONDict

GROUPS = ("none", "release", "model")
GRAIN_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}
RAW_LIMIT = timedelta(hours=6)
HOUR_LIMIT = timedelta(days=8)


@dataclass(frozen=True)
class Metric:
    key: str
    label: str
    unit: str  # count, ratio, ms, usd, tokens
    sample: str  # the Stats count that makes the value meaningful
    higher_is_worse: bool


METRICS: dict[str, Metric] = {
    m.key: m
    for m in (
        Metric("traces", "Traces", "count", "traces", False),
        Metric("error_rate", "Error rate", "ratio", "traces", True),
        Metric("latency_p50", "Latency p50", "ms", "latency_n", True),
        Metric("latency_p95", "Latency p95", "ms", "latency_n", True),
        Metric("latency_p99", "Latency p99", "ms", "latency_n", True),
        Metric("ttft_p50", "Time to first token p50", "ms", "ttft_n", True),
        Metric("ttft_p95", "Time to first token p95", "ms", "ttft_n", True),
        Metric("tokens", "Tokens (in + out)", "tokens", "traces", False),
        Metric("input_tokens", "Input tokens", "tokens", "traces", False),
        Metric("output_tokens", "Output tokens", "tokens", "traces", False),
        Metric("cost", "Cost", "usd", "traces", True),
        Metric("thumbs_up_rate", "Thumbs-up rate", "ratio", "feedback", False),
        Metric("feedback", "Feedback count", "count", "feedback", False),
        Metric("violation_rate", "Guard violation rate", "ratio", "traces", True),
        Metric("blocked_rate", "Blocked rate", "ratio", "traces", True),
        # trace records quarantined, dropped or refused by the writer (all processes):
        # filled for alert windows only; the Overview shows it as a banner
        Metric("trace_loss", "Trace records lost or quarantined", "count", "traces", True),
    )
}


def format_value(metric: str, value: float | None) -> str:
    """A metric's value for people: rates as %, latencies in ms, cost in USD."""
    if value is None:
        return "—"
    unit = METRICS[metric].unit
    if unit == "ratio":
        return f"{value:.1%}"
    if unit == "ms":
        return f"{value:,.0f} ms"
    if unit == "usd":
        return f"${value:,.4f}" if abs(value) < 100 else f"${value:,.2f}"
    return f"{value:,.0f}"


@dataclass(frozen=True)
class Scope:
    """What to measure: a time range and optional release / model filters."""

    since: datetime
    until: datetime
    release_id: str | None = None
    model: str | None = None

    def __post_init__(self) -> None:
        for name in ("since", "until"):
            value = getattr(self, name)
            if not isinstance(value, datetime):
                raise InvalidInputError(f"{name} must be a date and time, not {value!r}.")
            if value.tzinfo is None:
                object.__setattr__(self, name, value.replace(tzinfo=UTC))
        if self.until <= self.since:
            raise InvalidInputError(
                f"The range is empty: it ends ({self.until:%Y-%m-%d %H:%M}) before it starts "
                f"({self.since:%Y-%m-%d %H:%M})."
            )

    @classmethod
    def last(cls, delta: timedelta, now: datetime | None = None, **filters: Any) -> Scope:
        end = now or datetime.now(UTC)
        return cls(end - delta, end, **filters)


@dataclass(frozen=True)
class Period:
    """A range as the queries read it: epoch seconds [start, end) at one grain."""

    start: int
    end: int
    grain: str

    @property
    def width(self) -> int:
        return GRAIN_SECONDS[self.grain]

    @property
    def since(self) -> datetime:
        return datetime.fromtimestamp(self.start, UTC)

    @property
    def until(self) -> datetime:
        return datetime.fromtimestamp(self.end, UTC)

    @property
    def buckets(self) -> int:
        return max(1, math.ceil((self.end - self.start) / self.width))

    def previous(self) -> Period:
        length = self.end - self.start
        return Period(self.start - length, self.start, self.grain)


def grain_for(length: timedelta) -> str:
    if length <= RAW_LIMIT:
        return "minute"
    return "hour" if length <= HOUR_LIMIT else "day"


def period_for(scope: Scope, grain: str | None = None) -> Period:
    """The scope aligned to whole buckets of its grain (chosen from its length)."""
    grain = grain or grain_for(scope.until - scope.since)
    if grain not in GRAIN_SECONDS:
        raise InvalidInputError(f"Unknown grain {grain!r}; use minute, hour or day.")
    width = GRAIN_SECONDS[grain]
    start = math.floor(scope.since.timestamp() / width) * width
    end = math.ceil(scope.until.timestamp() / width) * width
    return Period(int(start), int(max(end, start + width)), grain)


@dataclass
class Stats:
    """Every metric of one bucket (or of a whole range) for one group."""

    bucket: datetime | None = None
    group: str = ""
    traces: int = 0
    errors: int = 0
    blocked: int = 0
    latency_n: int = 0
    latency_sum: float = 0.0
    ttft_n: int = 0
    ttft_sum: float = 0.0
    input_tokens: int = 0
    output_tokens: int = 0
    cost: float = 0.0
    violating: int = 0
    feedback: int = 0
    thumbs_up: int = 0
    score_sum: float = 0.0
    trace_loss: int = 0
    latency: dict[str, float | None] = field(default_factory=dict)
    ttft: dict[str, float | None] = field(default_factory=dict)

    @staticmethod
    def _ratio(a: float, b: float) -> float | None:
        return a / b if b else None

    @property
    def error_rate(self) -> float | None:
        return self._ratio(self.errors, self.traces)

    @property
    def blocked_rate(self) -> float | None:
        return self._ratio(self.blocked, self.traces)

    @property
    def violation_rate(self) -> float | None:
        return self._ratio(self.violating, self.traces)

    @property
    def thumbs_up_rate(self) -> float | None:
        return self._ratio(self.thumbs_up, self.feedback)

    @property
    def latency_avg(self) -> float | None:
        return self._ratio(self.latency_sum, self.latency_n)

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def value(self, metric: str) -> float | None:
        if metric.startswith(("latency_p", "ttft_p")):
            kind, q = metric.split("_", 1)
            return (self.latency if kind == "latency" else self.ttft).get(q)
        if metric not in METRICS:
            raise InvalidInputError(f"Unknown metric {metric!r}; one of {', '.join(METRICS)}.")
        value = getattr(self, metric)
        return None if value is None else float(value)

    def samples(self, metric: str) -> int:
        return int(getattr(self, METRICS[metric].sample))

    def as_dict(self) -> JSONDict:
        out: JSONDict = {
            "bucket": self.bucket.isoformat() if self.bucket else None,
            "group": self.group,
        }
        for key in METRICS:
            out[key] = self.value(key)
        out["latency_p99"] = self.latency.get("p99")
        out["ttft_p99"] = self.ttft.get("p99")
        out["latency_avg"] = self.latency_avg
        out["blocked"] = self.blocked
        out["errors"] = self.errors
        out["violating"] = self.violating
        out["thumbs_up"] = self.thumbs_up
        return out


_COUNTS = (
    "traces", "errors", "blocked", "latency_n", "latency_sum", "ttft_n", "ttft_sum",
    "input_tokens", "output_tokens", "cost", "violating", "feedback", "thumbs_up", "score_sum",
)  # fmt: skip
_FLOATS = {"latency_sum", "ttft_sum", "cost", "score_sum"}


def _num(name: str, value: float | None) -> float | int:
    if value is None:
        return 0.0 if name in _FLOATS else 0
    return float(value) if name in _FLOATS else int(value)


@contextmanager
def analytic_session(db: Database) -> Iterator[Session]:
    """A read session whose statements are planned for their actual parameters.

    psycopg prepares statements it runs often, and PostgreSQL may then reuse one generic
    plan for "the last hour" and "the last 90 days" alike, or keep a plan made while a
    table was small; a custom plan per execution costs well under a millisecond here."""
    with db.session() as s:
        if db.dialect == "postgresql" and (db.engine.dialect.server_version_info or (0,)) >= (12,):
            s.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))
        yield s


def _group_expr(
    group: str, release: SQLColumnExpression[str | None], model: SQLColumnExpression[str | None]
) -> ColumnElement[Any]:
    if group not in GROUPS:
        raise InvalidInputError(f"Unknown grouping {group!r}; use none, release or model.")
    if group == "release":
        return func.coalesce(release, "")
    if group == "model":
        return func.coalesce(model, "")
    return literal_column("''")


def _keys(*exprs: ColumnElement[Any]) -> list[ColumnElement[Any]]:
    """The non-constant expressions, for GROUP BY (grouping by a literal is not portable)."""
    return [e for e in exprs if not getattr(e, "is_literal", False)]


class _Query:
    def __init__(self, db: Database, scope: Scope, group: str, bucketed: bool) -> None:
        self.db = db
        self.scope = scope
        self.group = group
        self.bucketed = bucketed
        self.cells: dict[tuple[int, str], Stats] = {}

    def cell(self, b: float | None, g: str | None) -> Stats:
        key = (int(b or 0), str(g or ""))
        stats = self.cells.get(key)
        if stats is None:
            bucket = datetime.fromtimestamp(key[0], UTC) if self.bucketed else None
            stats = self.cells[key] = Stats(bucket=bucket, group=key[1])
        return stats

    def add(self, rows: Iterable[Row[Any]], names: tuple[str, ...]) -> None:
        for row in rows:
            stats = self.cell(row.b, row.g)
            for name in names:
                setattr(stats, name, getattr(stats, name) + _num(name, getattr(row, name)))

    def add_percentiles(self, rows: Iterable[Row[Any]], from_bins: bool) -> None:
        for row in rows:
            stats = self.cell(row.b, row.g)
            target = stats.latency if row.metric == "latency" else stats.ttft
            for name in QUANTILES:
                value = getattr(row, name)
                if value is not None:
                    value = bin_value(int(value)) if from_bins else float(value)
                target[name] = value

    def result(self) -> list[Stats]:
        for stats in self.cells.values():
            for target in (stats.latency, stats.ttft):
                for name in QUANTILES:
                    target.setdefault(name, None)
        return sorted(self.cells.values(), key=lambda s: (s.bucket or datetime.min, s.group))


# -- raw traces (alert windows, and exact=True) ----------------------------------------------
def _raw(q: _Query, period: Period) -> None:
    t = Trace
    dialect = q.db.dialect
    width = period.width
    epoch = epoch_of(t.started_at, dialect)
    b: Any = (epoch - epoch % width) if q.bucketed else literal_column("0")
    g = _group_expr(q.group, t.release_id, t.model)
    where = [
        t.started_at >= period.since,
        t.started_at < period.until,
        # live traffic only, as in the rollups: evaluation runs' cases are not users
        live_filter(t.session_id),
    ]
    if q.scope.release_id:
        where.append(t.release_id == q.scope.release_id)
    if q.scope.model:
        where.append(t.model == q.scope.model)
    keys = _keys(b, g)
    violating = exists().where(GuardEvent.trace_id == t.id)
    counts = (
        select(
            b.label("b"),
            g.label("g"),
            func.count().label("traces"),
            func.sum(case((t.status == "error", 1), else_=0)).label("errors"),
            func.sum(case((t.status == "blocked", 1), else_=0)).label("blocked"),
            func.count(t.latency_ms).label("latency_n"),
            func.sum(t.latency_ms).label("latency_sum"),
            func.count(t.ttft_ms).label("ttft_n"),
            func.sum(t.ttft_ms).label("ttft_sum"),
            func.sum(t.input_tokens).label("input_tokens"),
            func.sum(t.output_tokens).label("output_tokens"),
            func.sum(t.cost).label("cost"),
            func.sum(case((violating, 1), else_=0)).label("violating"),
        )
        .where(*where)
        .group_by(*keys)
    )
    f = Feedback
    fb = (
        select(
            b.label("b"),
            g.label("g"),
            func.count(f.id).label("feedback"),
            func.sum(case((f.score >= 0.5, 1), else_=0)).label("thumbs_up"),
            func.sum(f.score).label("score_sum"),
        )
        .select_from(f)
        .join(t, t.id == f.trace_id)
        .where(*where)
        .group_by(*keys)
    )
    values = []
    for metric, column in (("latency", t.latency_ms), ("ttft", t.ttft_ms)):
        values.append(
            select(
                literal_column(f"'{metric}'").label("metric"),
                b.label("b"),
                g.label("g"),
                column.label("v"),
            ).where(*where, column.is_not(None))
        )
    u = values[0].union_all(values[1]).subquery()
    part = [u.c.metric, u.c.b, u.c.g]
    ranked = select(
        u.c.metric,
        u.c.b,
        u.c.g,
        u.c.v,
        func.row_number().over(partition_by=part, order_by=u.c.v).label("rn"),
        func.count().over(partition_by=part).label("n"),
    ).subquery()
    pct = select(
        ranked.c.metric,
        ranked.c.b,
        ranked.c.g,
        *[
            func.min(case((ranked.c.rn * 1000 >= permille * ranked.c.n, ranked.c.v))).label(name)
            for name, permille in QUANTILES.items()
        ],
    ).group_by(ranked.c.metric, ranked.c.b, ranked.c.g)
    with analytic_session(q.db) as s:
        rows = s.execute(counts).all()
        if not q.bucketed and rows and not rows[0].traces:
            rows = []  # an aggregate over no rows
        q.add(rows, _COUNTS[:11])
        q.add(s.execute(fb).all(), ("feedback", "thumbs_up", "score_sum"))
        q.add_percentiles(s.execute(pct).all(), from_bins=False)


# -- rollups (every dashboard range, percentiles within ±2 %) --------------------------------
def _buckets(
    grain: Any, bucket: Any, period: Period, bucketed: bool, *also: ColumnElement[bool]
) -> ColumnElement[bool]:
    """The rollup rows that make up ``period``: its own grain's rows, except that a total
    over minutes (not bucketed) takes the whole hours inside it from the hour rows.

    ``also`` (e.g. the histogram's metric) is repeated inside each range, so each is one
    index range scan on SQLite and PostgreSQL: with an outer condition, or a nested OR,
    SQLite searched on the grain alone (every minute row: seconds at a million traces)."""
    own = and_(grain == period.grain, *also, bucket >= period.start, bucket < period.end)
    if bucketed or period.grain != "minute":
        return own
    first = -(-period.start // 3600) * 3600
    last = period.end // 3600 * 3600
    if first >= last:
        return own
    return or_(
        and_(grain == "hour", *also, bucket >= first, bucket < last),
        and_(grain == "minute", *also, bucket >= period.start, bucket < first),
        and_(grain == "minute", *also, bucket >= last, bucket < period.end),
    )


def _rolled(q: _Query, period: Period) -> None:
    r = MetricRollup
    b: Any = r.bucket if q.bucketed else literal_column("0")
    g = _group_expr(q.group, r.release_id, r.model)
    where = [_buckets(r.grain, r.bucket, period, q.bucketed)]
    if q.scope.release_id:
        where.append(r.release_id == q.scope.release_id)
    if q.scope.model:
        where.append(r.model == q.scope.model)
    columns = {
        "traces": r.traces, "errors": r.errors, "blocked": r.blocked,
        "latency_n": r.latency_n, "latency_sum": r.latency_sum, "ttft_n": r.ttft_n,
        "ttft_sum": r.ttft_sum, "input_tokens": r.input_tokens,
        "output_tokens": r.output_tokens, "cost": r.cost, "violating": r.violating,
        "feedback": r.feedback_n, "thumbs_up": r.feedback_up, "score_sum": r.feedback_score,
    }  # fmt: skip
    counts = (
        select(
            b.label("b"),
            g.label("g"),
            *[func.sum(col).label(name) for name, col in columns.items()],
        )
        .where(*where)
        .group_by(*_keys(b, g))
    )
    h = LatencyHistogram
    hb: Any = h.bucket if q.bucketed else literal_column("0")
    hg = _group_expr(q.group, h.release_id, h.model)
    hwhere = [_buckets(h.grain, h.bucket, period, q.bucketed, h.metric.in_(("latency", "ttft")))]
    if q.scope.release_id:
        hwhere.append(h.release_id == q.scope.release_id)
    if q.scope.model:
        hwhere.append(h.model == q.scope.model)
    merged = (
        select(
            h.metric.label("metric"),
            hb.label("b"),
            hg.label("g"),
            h.bin.label("bin"),
            func.sum(h.n).label("n"),
        )
        .where(*hwhere)
        .group_by(h.metric, *_keys(hb, hg), h.bin)
        .subquery()
    )
    part = [merged.c.metric, merged.c.b, merged.c.g]
    cum = select(
        merged.c.metric,
        merged.c.b,
        merged.c.g,
        merged.c.bin,
        func.sum(merged.c.n)
        .over(partition_by=part, order_by=merged.c.bin, rows=(None, 0))
        .label("cum"),
        func.sum(merged.c.n).over(partition_by=part).label("total"),
    ).subquery()
    pct = select(
        cum.c.metric,
        cum.c.b,
        cum.c.g,
        *[
            func.min(case((cum.c.cum * 1000 >= permille * cum.c.total, cum.c.bin))).label(name)
            for name, permille in QUANTILES.items()
        ],
    ).group_by(cum.c.metric, cum.c.b, cum.c.g)
    with analytic_session(q.db) as s:
        rows = [row for row in s.execute(counts).all() if row.traces or row.feedback]
        q.add(rows, _COUNTS)
        q.add_percentiles(s.execute(pct).all(), from_bins=True)


def _run(
    db: Database, scope: Scope, period: Period, group: str, bucketed: bool, exact: bool = False
) -> list[Stats]:
    if exact and period.grain != "minute":
        raise InvalidInputError("Exact (raw-row) metrics are read by minute only.")
    q = _Query(db, scope, group, bucketed)
    (_raw if exact else _rolled)(q, period)
    return q.result()


def series(
    db: Database,
    scope: Scope,
    *,
    group: str = "none",
    grain: str | None = None,
    exact: bool = False,
) -> list[Stats]:
    """Every metric per bucket (and group), oldest first; buckets with no traffic are absent.
    ``exact`` reads the raw traces (minute grain only; exact percentiles, cost grows with the
    traffic of the range) instead of the rollups."""
    return _run(db, scope, period_for(scope, grain), group, True, exact)


def summary(
    db: Database,
    scope: Scope,
    *,
    group: str = "none",
    grain: str | None = None,
    exact: bool = False,
) -> list[Stats]:
    """Every metric over the whole (aligned) range, one row per group."""
    return _run(db, scope, period_for(scope, grain), group, False, exact)


def _one(rows: list[Stats]) -> Stats:
    return rows[0] if rows else Stats()


def compare(db: Database, scope: Scope) -> tuple[Stats, Stats]:
    """The range's totals and those of the same number of buckets just before it."""
    period = period_for(scope)
    now = _run(db, scope, period, "none", False)
    before = _run(db, scope, period.previous(), "none", False)
    return _one(now), _one(before)


def window(
    db: Database,
    since: datetime,
    until: datetime,
    *,
    release_id: str | None = None,
    model: str | None = None,
) -> tuple[Stats, Period]:
    """Totals over an exact trailing window (alerts): raw rows up to ``RAW_LIMIT``, beyond
    that the hourly rollups of the hours the window touches."""
    scope = Scope(since, until, release_id=release_id, model=model)
    if until - since <= RAW_LIMIT:
        period = Period(math.floor(since.timestamp()), math.ceil(until.timestamp()), "minute")
    else:
        period = period_for(scope, "hour")
    stats = _one(_run(db, scope, period, "none", False, exact=period.grain == "minute"))
    from llmops.tracing.health import losses

    stats.trace_loss = losses(db, since, until).total
    return stats, period


def release_names(db: Database) -> dict[str, str]:
    """Release id → name (a small table), to label breakdowns."""
    with db.session() as s:
        return {rid: name for rid, name in s.execute(select(Release.id, Release.name))}


def models_seen(db: Database, since: datetime | None = None) -> list[str]:
    """Models with traffic (from the day rollups: a few rows per day), for filters."""
    r = MetricRollup
    stmt = select(r.model).where(r.grain == "day", r.model != "").group_by(r.model)
    if since is not None:
        stmt = stmt.where(r.bucket >= int(since.timestamp()) // 86400 * 86400)
    with db.session() as s:
        return sorted(s.scalars(stmt))
