"""Metric queries against a brute-force Python reference, on SQLite and PostgreSQL.

Every range is read from the rollups kept at write time (minute, hour or day rows;
percentiles within ±ALPHA of the exact nearest-rank value); ``exact=True`` and alert windows
read the raw traces (percentiles exact). Counts and sums are exact either way.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from llmops.errors import InvalidInputError
from llmops.monitoring import metrics
from llmops.monitoring.histogram import ALPHA, MIN_MS, QUANTILES
from llmops.monitoring.metrics import Scope, Stats
from llmops.store.db import Database

from .conftest import END, Ref, assert_close, cells, reference

RANGES = [
    ("3 hours, by minute, rollups", timedelta(hours=3), "minute"),
    ("2 days, by hour, rollups", timedelta(days=2), "hour"),
    ("10 days, by day, rollups", timedelta(days=10), "day"),
]


def _check(stats: Stats, ref: Ref, exact: bool) -> None:
    assert stats.traces == ref.traces
    assert stats.errors == ref.errors
    assert stats.blocked == ref.blocked
    assert stats.violating == ref.violating
    assert stats.input_tokens == ref.input_tokens
    assert stats.output_tokens == ref.output_tokens
    assert_close(stats.cost, ref.cost)
    assert stats.feedback == ref.feedback
    assert stats.thumbs_up == ref.thumbs_up
    assert stats.latency_n == len(ref.latency)
    assert_close(stats.latency_sum, sum(ref.latency))
    for metric, got in (("latency", stats.latency), ("ttft", stats.ttft)):
        for name, permille in QUANTILES.items():
            want = ref.pct(metric, permille)
            if want is None:
                assert got[name] is None
            elif exact:
                assert got[name] == want, (metric, name)
            else:
                value = got[name]
                assert value is not None
                if want <= MIN_MS:
                    assert value == 0.0
                else:
                    assert abs(value - want) <= ALPHA * want + 1e-9, (metric, name, value, want)


@pytest.mark.parametrize("label,length,grain", RANGES, ids=[r[0] for r in RANGES])
@pytest.mark.parametrize("group", ["none", "release", "model"])
def test_series_matches_brute_force(
    seeded: Database, label: str, length: timedelta, grain: str, group: str
) -> None:
    scope = Scope(END - length, END)
    period = metrics.period_for(scope)
    assert period.grain == grain
    got = cells(metrics.series(seeded, scope, group=group))
    want = reference(seeded, period.start, period.end, width=period.width, group=group)
    assert set(got) == set(want)
    assert sum(r.traces for r in want.values()) > 50  # the range really has traffic
    for key, ref in want.items():
        _check(got[key], ref, exact=False)


@pytest.mark.parametrize("length", [r[1] for r in RANGES], ids=[r[2] for r in RANGES])
def test_summary_with_release_and_model_filters(seeded: Database, length: timedelta) -> None:
    period = metrics.period_for(Scope(END - length, END))
    everything = metrics.summary(seeded, Scope(END - length, END), group="release")
    busiest = max(everything, key=lambda s: s.traces)
    scope = Scope(END - length, END, release_id=busiest.group)
    (only,) = metrics.summary(seeded, scope)
    (ref,) = reference(
        seeded, period.start, period.end, width=None, release_id=busiest.group
    ).values()
    _check(only, ref, exact=False)
    assert only.traces == busiest.traces

    model = next(s.group for s in metrics.summary(seeded, Scope(END - length, END), group="model"))
    (by_model,) = metrics.summary(seeded, Scope(END - length, END, model=model))
    (ref,) = reference(seeded, period.start, period.end, width=None, model=model).values()
    _check(by_model, ref, exact=False)


@pytest.mark.parametrize("group", ["none", "release"])
def test_a_day_by_minute_reads_the_minute_rollups(seeded: Database, group: str) -> None:
    """ "Last 24 h by minute": every minute bucket agrees with the raw rows (and with the
    exact raw-row path, to the stated bound for percentiles)."""
    scope = Scope(END - timedelta(days=1), END)
    period = metrics.period_for(scope, "minute")
    got = cells(metrics.series(seeded, scope, group=group, grain="minute"))
    want = reference(seeded, period.start, period.end, width=60, group=group)
    assert set(got) == set(want) and len(want) > 100
    for key, ref in want.items():
        _check(got[key], ref, exact=False)
    raw = cells(metrics.series(seeded, scope, group=group, grain="minute", exact=True))
    assert set(raw) == set(want)
    for key, ref in want.items():
        _check(raw[key], ref, exact=True)


@pytest.mark.parametrize(
    "since,until",
    [
        (END - timedelta(hours=5, minutes=13), END - timedelta(minutes=7)),  # ragged both ends
        (END - timedelta(minutes=50), END - timedelta(minutes=2)),  # inside one hour
        (END - timedelta(hours=4), END),  # whole hours only
    ],
    ids=["ragged", "inside-an-hour", "whole-hours"],
)
def test_totals_over_minutes_mix_hour_rows_and_ragged_minute_ends(
    seeded: Database, since: object, until: object
) -> None:
    """KPIs and breakdowns over a minute range read whole hours from the hour rows and only
    the ends from the minute rows: the totals are those of the raw rows of the range."""
    assert isinstance(since, datetime) and isinstance(until, datetime)
    scope = Scope(since, until)
    period = metrics.period_for(scope)
    assert period.grain == "minute"
    for group in ("none", "model"):
        got = cells(metrics.summary(seeded, scope, group=group), bucketed=False)
        want = reference(seeded, period.start, period.end, width=None, group=group)
        assert set(got) == set(want)
        for key, ref in want.items():
            _check(got[key], ref, exact=False)
    _now, before = metrics.compare(seeded, scope)
    prev = period.previous()
    (ref,) = reference(seeded, prev.start, prev.end, width=None).values()
    _check(before, ref, exact=False)


def test_exact_reads_need_the_minute_grain(seeded: Database) -> None:
    with pytest.raises(InvalidInputError, match="by minute only"):
        metrics.series(seeded, Scope(END - timedelta(days=2), END), exact=True)


def test_rates_and_values(seeded: Database) -> None:
    (s,) = metrics.summary(seeded, Scope(END - timedelta(days=10), END))
    assert s.error_rate == pytest.approx(s.errors / s.traces)
    assert s.thumbs_up_rate == pytest.approx(s.thumbs_up / s.feedback)
    assert s.violation_rate == pytest.approx(s.violating / s.traces)
    assert s.value("latency_p95") == s.latency["p95"]
    assert s.value("tokens") == s.input_tokens + s.output_tokens
    assert s.samples("thumbs_up_rate") == s.feedback
    with pytest.raises(InvalidInputError, match="Unknown metric"):
        s.value("nonsense")


def test_compare_uses_the_same_number_of_buckets_just_before(seeded: Database) -> None:
    scope = Scope(END - timedelta(days=2), END)
    now, before = metrics.compare(seeded, scope)
    period = metrics.period_for(scope)
    prev = period.previous()
    assert prev.end == period.start and prev.end - prev.start == period.end - period.start
    (ref,) = reference(seeded, prev.start, prev.end, width=None).values()
    _check(before, ref, exact=False)
    assert now.traces > 0


def test_an_empty_range_has_no_rows_and_no_values(seeded: Database) -> None:
    far = END + timedelta(days=400)
    assert metrics.series(seeded, Scope(far - timedelta(days=2), far)) == []
    now, _ = metrics.compare(seeded, Scope(far - timedelta(hours=1), far))
    assert now.traces == 0 and now.value("latency_p95") is None and now.error_rate is None


def test_exact_window_for_alerts(seeded: Database) -> None:
    since = END - timedelta(minutes=45)
    stats, period = metrics.window(seeded, since, END)
    assert period.grain == "minute" and period.start == int(since.timestamp())
    (ref,) = reference(seeded, period.start, period.end, width=None).values()
    _check(stats, ref, exact=True)


def test_bad_scopes_say_what_is_wrong(db: Database) -> None:
    with pytest.raises(InvalidInputError, match="range is empty"):
        Scope(END, END - timedelta(hours=1))
    with pytest.raises(InvalidInputError, match="grouping"):
        metrics.series(db, Scope(END - timedelta(hours=1), END), group="user")
    with pytest.raises(InvalidInputError, match="grain"):
        metrics.period_for(Scope(END - timedelta(hours=1), END), "week")


def test_totals_over_minutes_read_index_ranges_not_the_table(seeded: Database) -> None:
    """The hour rows and the two minute ends are three index ranges on (grain, [metric,]
    bucket): a nested OR, or the metric outside the OR, made SQLite search on the grain
    alone (every minute row: seconds at a million traces)."""
    if seeded.dialect != "sqlite":
        pytest.skip("SQLite's plan; PostgreSQL reads the same ranges with a BitmapOr")
    from sqlalchemy import func, select

    from llmops.store.models import LatencyHistogram as H
    from llmops.store.models import MetricRollup as R

    period = metrics.period_for(Scope(END - timedelta(hours=5, minutes=13), END))
    metric = H.metric.in_(("latency", "ttft"))
    for where in (
        metrics._buckets(R.grain, R.bucket, period, False),
        metrics._buckets(H.grain, H.bucket, period, False, metric),
    ):
        stmt = select(func.count()).where(where)
        sql = str(stmt.compile(seeded.engine, compile_kwargs={"literal_binds": True}))
        with seeded.engine.connect() as conn:
            plan = [str(r[-1]) for r in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}")]
        searches = [p for p in plan if p.startswith(("SEARCH", "SCAN"))]
        assert len(searches) == 3, plan
        assert all("bucket>? AND bucket<?" in p for p in searches), plan
