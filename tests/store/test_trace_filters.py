"""The Traces list's filters and sort orders, in SQL on SQLite and PostgreSQL, against the
same selection made in Python."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from llmops.store.db import Database
from llmops.store.models import Feedback, GuardEvent, Trace
from llmops.store.queries import TraceFilter, count_traces, list_traces, validators_seen

T0 = datetime(2026, 12, 1, tzinfo=UTC)


@pytest.fixture
def traces(db: Database) -> list[Trace]:
    rows = [
        Trace(id=f"{i:032x}", session_id=f"s{i % 4}", user_id=f"u{i % 3}",
              model="gpt-x" if i % 2 else "local", started_at=T0 + timedelta(minutes=i),
              latency_ms=None if i == 7 else float(100 * i), cost=0.01 * (i % 5),
              input_tokens=i, output_tokens=2 * i,
              tags=["demo", "vip 50%"] if i % 3 == 0 else ["demo"])
        for i in range(20)
    ]  # fmt: skip
    with db.session() as s:
        s.add_all(rows)
        s.flush()
        s.add(GuardEvent(trace_id=rows[2].id, validator="pii", direction="input", action="fixed"))
        s.add(GuardEvent(trace_id=rows[5].id, validator="pii", direction="output",
                         action="blocked"))  # fmt: skip
        s.add(GuardEvent(trace_id=rows[9].id, validator="toxicity", direction="input",
                         action="flagged"))  # fmt: skip
        s.add(Feedback(trace_id=rows[4].id, score=0.0, comment="Cites the WRONG source"))
        s.add(Feedback(trace_id=rows[6].id, score=1.0, comment="great, 100% right"))
    return rows


def _ids(db: Database, f: TraceFilter) -> list[int]:
    found = [int(t.id, 16) for t in list_traces(db, f, limit=100)]
    assert count_traces(db, f) == len(found)
    return found


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        (TraceFilter(validator="pii"), [5, 2]),
        (TraceFilter(validator="pii", guard_action="blocked"), [5]),
        (TraceFilter(guard_action="flagged"), [9]),
        (TraceFilter(min_latency_ms=500, max_latency_ms=900), [9, 8, 6, 5]),
        (TraceFilter(model="gpt-x", max_latency_ms=600), [5, 3, 1]),
        (TraceFilter(user_id="u1", session_id="s1"), [13, 1]),
        (TraceFilter(tag="vip 50%"), [18, 15, 12, 9, 6, 3, 0]),
        (TraceFilter(tag="vip"), []),  # a whole tag, not a part of one
        (TraceFilter(comment="wrong source"), [4]),
        (TraceFilter(comment="100%"), [6]),
        (TraceFilter(comment="_"), []),
    ],
)
def test_each_filter(
    db: Database, traces: list[Trace], flt: TraceFilter, expected: list[int]
) -> None:
    assert _ids(db, flt) == expected


def test_sort_orders(db: Database, traces: list[Trace]) -> None:
    by_latency = _ids(db, TraceFilter(sort="latency"))
    assert by_latency[0] == 19 and by_latency[-1] == 7  # no latency: last
    assert _ids(db, TraceFilter(sort="latency", descending=False))[:3] == [0, 1, 2]
    by_cost = [t.cost for t in list_traces(db, TraceFilter(sort="cost"), limit=100)]
    assert by_cost == sorted(by_cost, reverse=True)
    assert _ids(db, TraceFilter(sort="tokens"))[0] == 19
    assert _ids(db, TraceFilter(sort="time", descending=False))[0] == 0
    assert validators_seen(db) == ["pii", "toxicity"]


def test_a_latency_range_count_reads_the_index_alone(db: Database, traces: list[Trace]) -> None:
    """The count under a latency range is an index-only scan of the time range
    (``ix_traces_started_latency``), not a lookup of every trace row in it."""
    f = TraceFilter(since=T0, until=T0 + timedelta(hours=1), min_latency_ms=200,
                    max_latency_ms=900)  # fmt: skip
    assert count_traces(db, f) == 7  # 200 ... 900 ms, trace 7 has no latency
    if db.dialect != "sqlite":
        return  # PostgreSQL picks index-only scans by its statistics and visibility map
    from sqlalchemy import func, select

    from llmops.store.queries import _apply

    stmt = _apply(select(func.count()).select_from(Trace), f)
    sql = str(stmt.compile(db.engine, compile_kwargs={"literal_binds": True}))
    with db.engine.connect() as conn:
        plan = " ".join(str(r[-1]) for r in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}"))
    assert "COVERING INDEX ix_traces_started_latency" in plan, plan
