"""Rollups kept at write time: exactly once, late guard events, feedback triggers, prices,
and a rebuild from the raw rows that lands on the same numbers."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, select, update

from llmops import feedback
from llmops.monitoring import histogram, metrics, pricing, rollups
from llmops.monitoring.metrics import Scope
from llmops.store.db import Database
from llmops.store.models import Feedback, LatencyHistogram, MetricRollup, Trace, live_filter
from llmops.tracing.records import GuardEventRecord, TraceRecord
from llmops.tracing.writer import SpanWriter

T0 = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)


def _ns(dt: datetime) -> int:
    return int(dt.timestamp() * 1e9)


def _trace(i: int, *, model: str = "m-a", release: str = "rel_a", latency_ms: float = 100.0,
           status: str = "ok", tokens: tuple[int, int] = (1000, 200), cost: float = 0.0,
           at: datetime = T0) -> TraceRecord:  # fmt: skip
    start = _ns(at + timedelta(seconds=i))
    return TraceRecord(
        id=f"{int(start // 1_000_000):012x}{i:020x}",
        name="chat",
        start_ns=start,
        end_ns=start + int(latency_ms * 1e6),
        release_id=release,
        model=model,
        status=status,
        ttft_ms=latency_ms / 4,
        input_tokens=tokens[0],
        output_tokens=tokens[1],
        cost=cost,
    )


def _write(db: Database, tmp_path: Path, records: list[Any]) -> None:
    w = SpanWriter(db, tmp_path / "spool", flush_interval_s=0.01)
    for r in records:
        w.submit(r)
    assert w.flush()
    w.close()


def _table(db: Database, model: Any) -> set[tuple[Any, ...]]:
    with db.session() as s:
        rows = s.execute(select(*model.__table__.columns)).all()
    return {tuple(round(v, 6) if isinstance(v, float) else v for v in r) for r in rows}


def _hour(db: Database, **where: Any) -> MetricRollup:
    with db.session() as s:
        stmt = select(MetricRollup).where(MetricRollup.grain == "hour")
        for k, v in where.items():
            stmt = stmt.where(getattr(MetricRollup, k) == v)
        return s.scalars(stmt).one()


def test_histogram_bins_keep_the_stated_error_bound() -> None:
    rng = random.Random(3)
    for _ in range(20_000):
        x = 10 ** rng.uniform(-1.9, 6.5)
        v = histogram.bin_value(histogram.bin_of(x))
        assert abs(v - x) <= histogram.ALPHA * x * (1 + 1e-9)
    assert histogram.bin_value(histogram.bin_of(0.0)) == 0.0
    assert histogram.bin_of(0.005) == histogram.ZERO_BIN
    assert histogram.nearest_rank([5, 1, 3, 2, 4], 500) == 3
    assert histogram.nearest_rank([5, 1, 3, 2, 4], 990) == 5
    assert histogram.nearest_rank([], 500) is None


def test_a_replayed_batch_is_counted_once(db: Database, tmp_path: Path) -> None:
    records = [_trace(i) for i in range(10)]
    _write(db, tmp_path, records)
    before = _table(db, MetricRollup), _table(db, LatencyHistogram)
    _write(db, tmp_path, records)  # e.g. a spool replay after an ambiguous failure
    assert (_table(db, MetricRollup), _table(db, LatencyHistogram)) == before
    cell = _hour(db)
    assert cell.traces == 10 and cell.latency_n == 10 and cell.input_tokens == 10_000


def test_guard_events_mark_a_trace_violating_once_even_when_late(
    db: Database, tmp_path: Path
) -> None:
    a, b, c = _trace(1), _trace(2), _trace(3)
    ev = lambda tid: GuardEventRecord(tid, None, "pii", "input", "fixed", "x")  # noqa: E731
    # a: two events before its trace; b: no event yet; c: none at all
    _write(db, tmp_path, [ev(a.id), ev(a.id), a, b, c])
    assert _hour(db).violating == 1
    _write(db, tmp_path, [ev(b.id)])  # a reviewer flags b later
    assert _hour(db).violating == 2
    _write(db, tmp_path, [ev(b.id), ev(a.id)])  # more events on violating traces: no change
    assert _hour(db).violating == 2


def test_feedback_triggers_follow_insert_update_and_delete(db: Database, tmp_path: Path) -> None:
    t = _trace(1, release="rel_fb", model="m-fb")
    _write(db, tmp_path, [t])
    up = feedback.record(db, t.id, 1.0)
    feedback.record(db, t.id, 0.0, comment="meh")
    cell = _hour(db, release_id="rel_fb")
    assert (cell.feedback_n, cell.feedback_up, cell.feedback_score) == (2, 1, 1.0)
    with db.session() as s:
        s.execute(update(Feedback).where(Feedback.id == up).values(score=0.0))
    cell = _hour(db, release_id="rel_fb")
    assert (cell.feedback_n, cell.feedback_up, cell.feedback_score) == (2, 0, 0.0)
    with db.session() as s:
        s.execute(delete(Feedback).where(Feedback.trace_id == t.id))
    cell = _hour(db, release_id="rel_fb")
    assert (cell.feedback_n, cell.feedback_up) == (0, 0)
    assert cell.traces == 1


def test_the_price_table_prices_traces_at_write_time(db: Database, tmp_path: Path) -> None:
    pricing.set_price(db, "m-priced", 2.0, 10.0, effective_from=T0 - timedelta(days=1))
    pricing.set_price(db, "m-later", 1.0, 1.0, effective_from=T0 + timedelta(days=30))
    declared = 0.123
    _write(
        db,
        tmp_path,
        [
            _trace(1, model="m-priced", cost=declared),  # table price in force: replaced
            _trace(2, model="m-later", cost=declared),  # table price not yet in force: kept
            _trace(3, model="m-free", cost=declared),  # not in the table: kept
        ],
    )
    with db.session() as s:
        costs = {m: c for m, c in s.execute(select(Trace.model, Trace.cost))}
    assert costs["m-priced"] == (1000 * 2.0 + 200 * 10.0) / 1e6
    assert costs["m-later"] == declared and costs["m-free"] == declared
    (total,) = metrics.summary(db, Scope(T0 - timedelta(days=1), T0 + timedelta(days=1)))
    assert abs(total.cost - sum(costs.values())) < 1e-12


def test_a_new_price_version_applies_from_its_start(db: Database, tmp_path: Path) -> None:
    pricing.set_price(db, "m-v", 1.0, 0.0, effective_from=T0 - timedelta(days=10))
    pricing.set_price(db, "m-v", 3.0, 0.0, effective_from=T0 + timedelta(hours=1))
    _write(
        db, tmp_path, [_trace(1, model="m-v"), _trace(2, model="m-v", at=T0 + timedelta(hours=2))]
    )
    with db.session() as s:
        costs = sorted(s.scalars(select(Trace.cost)))
    assert costs == [1000 * 1.0 / 1e6, 1000 * 3.0 / 1e6]
    current = {p.model: p for p in pricing.list_prices(db, at=T0 + timedelta(hours=3))}
    assert current["m-v"].input_per_mtok == 3.0
    assert len(pricing.list_prices(db, history=True)) == 2


def test_rebuild_lands_on_the_numbers_kept_at_write_time(seeded: Database) -> None:
    before = _table(seeded, MetricRollup), _table(seeded, LatencyHistogram)
    with seeded.engine.begin() as conn:
        report = rollups.rebuild(conn, seeded.dialect)
    assert report.traces == 4000
    assert (_table(seeded, MetricRollup), _table(seeded, LatencyHistogram)) == before


def _minutes(db: Database, **where: Any) -> list[MetricRollup]:
    with db.session() as s:
        stmt = select(MetricRollup).where(MetricRollup.grain == "minute")
        for k, v in where.items():
            stmt = stmt.where(getattr(MetricRollup, k) == v)
        return list(s.scalars(stmt.order_by(MetricRollup.bucket)))


def test_minute_rows_add_up_to_their_hour_and_survive_replays_and_late_events(
    db: Database, tmp_path: Path
) -> None:
    """Ten traces a second apart from 09:30:00, then three 70 s later: two minutes; a replayed
    batch and a late guard event change each minute exactly as they change the hour."""
    early = [_trace(i) for i in range(10)]
    late = [_trace(i, at=T0 + timedelta(seconds=70)) for i in range(10, 13)]
    _write(db, tmp_path, [*early, *late])
    _write(db, tmp_path, early)  # replay
    minutes = _minutes(db)
    assert [m.bucket for m in minutes] == [int(T0.timestamp()), int(T0.timestamp()) + 60]
    assert [m.traces for m in minutes] == [10, 3]
    ev = GuardEventRecord(late[0].id, None, "pii", "input", "fixed", "x")
    _write(db, tmp_path, [ev])  # a reviewer flags a stored trace later
    assert [m.violating for m in _minutes(db)] == [0, 1]
    hour = _hour(db)
    for name in ("traces", "violating", "latency_n", "input_tokens"):
        assert getattr(hour, name) == sum(getattr(m, name) for m in _minutes(db)), name
    with db.session() as s:
        bins = s.execute(
            select(LatencyHistogram.grain, func.sum(LatencyHistogram.n))
            .where(LatencyHistogram.metric == "latency")
            .group_by(LatencyHistogram.grain)
        ).all()
    assert dict(bins) == {"minute": 13, "hour": 13, "day": 13}


def test_feedback_triggers_keep_the_minute_rows(db: Database, tmp_path: Path) -> None:
    t = _trace(1, release="rel_fb")
    _write(db, tmp_path, [t])
    up = feedback.record(db, t.id, 1.0)
    feedback.record(db, t.id, 0.0)
    (m,) = _minutes(db, release_id="rel_fb")
    assert (m.feedback_n, m.feedback_up, m.feedback_score) == (2, 1, 1.0)
    with db.session() as s:
        s.execute(update(Feedback).where(Feedback.id == up).values(score=0.0))
    (m,) = _minutes(db, release_id="rel_fb")
    assert (m.feedback_n, m.feedback_up) == (2, 0)
    with db.session() as s:
        s.execute(delete(Feedback).where(Feedback.trace_id == t.id))
    (m,) = _minutes(db, release_id="rel_fb")
    assert (m.feedback_n, m.traces) == (0, 1)


def test_migration_0014_backfills_minute_rows_and_its_downgrade_drops_them(
    seeded: Database,
) -> None:
    from llmops.store.migrate import downgrade, upgrade

    kept = _table(seeded, MetricRollup), _table(seeded, LatencyHistogram)
    assert any(r[0] == "minute" for r in kept[0])
    downgrade(seeded, "0012")
    assert not any(r[0] == "minute" for r in _table(seeded, MetricRollup))
    assert not any(r[0] == "minute" for r in _table(seeded, LatencyHistogram))
    upgrade(seeded)
    assert (_table(seeded, MetricRollup), _table(seeded, LatencyHistogram)) == kept
    # and the recreated triggers count a new rating in the minute too
    with seeded.session() as s:
        tid = s.scalars(select(Trace.id).where(live_filter(Trace.session_id)).limit(1)).one()
    before = sum(r[-3] for r in _table(seeded, MetricRollup) if r[0] == "minute")
    feedback.record(seeded, tid, 1.0)
    after = sum(r[-3] for r in _table(seeded, MetricRollup) if r[0] == "minute")
    assert after == before + 1
