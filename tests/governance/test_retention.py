"""Retention on SQLite and PostgreSQL: old rows go in batches, rollups keep their numbers,
a dry run changes nothing, and two processes applying it at once delete each row once."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import DateTime, bindparam, text

from llmops.config import Settings
from llmops.demo import seed
from llmops.governance import retention
from llmops.store.db import Database

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)


def _rollups(db: Database) -> tuple[list[Any], list[Any]]:
    with db.engine.connect() as conn:
        r = conn.execute(text(
            "SELECT grain, bucket, release_id, model, traces, errors, blocked, latency_n, "
            "round(CAST(latency_sum AS NUMERIC), 3), input_tokens, output_tokens, violating, "
            "feedback_n, feedback_up, round(CAST(feedback_score AS NUMERIC), 3) "
            "FROM metric_rollups ORDER BY grain, bucket, release_id, model"
        )).all()  # fmt: skip
        h = conn.execute(text(
            "SELECT grain, metric, bucket, release_id, model, bin, n FROM latency_histograms "
            "ORDER BY grain, metric, bucket, release_id, model, bin"
        )).all()  # fmt: skip
    return [tuple(x) for x in r], [tuple(x) for x in h]


def _minus_minutes(before: tuple[list[Any], list[Any]], days: int) -> tuple[list[Any], list[Any]]:
    """What the rollups hold after a traces retention of ``days``: minute rows live as long as
    the traces they add up (whole minutes before the cutoff go), hour and day rows stay."""
    edge = int((NOW - timedelta(days=days)).timestamp()) // 60 * 60
    rollup, hist = before
    return (
        [r for r in rollup if not (r[0] == "minute" and r[1] < edge)],
        [h for h in hist if not (h[0] == "minute" and h[2] < edge)],
    )


def _count(db: Database, sql: str, **params: Any) -> int:
    with db.engine.connect() as conn:
        return int(conn.execute(text(sql), params).scalar() or 0)


def _old(db: Database, days: int) -> dict[str, int]:
    cut: Any = (NOW - timedelta(days=days)).replace(tzinfo=None)
    if db.dialect == "sqlite":  # as stored (guardrails registers a datetime adapter)
        cut = cut.strftime("%Y-%m-%d %H:%M:%S.%f")
    return {
        "traces": _count(db, "SELECT count(*) FROM traces WHERE started_at < :c", c=cut),
        "spans": _count(
            db,
            "SELECT count(*) FROM spans s JOIN traces t ON t.id = s.trace_id "
            "WHERE t.started_at < :c",
            c=cut,
        ),
        "feedback": _count(db, "SELECT count(*) FROM feedback WHERE created_at < :c", c=cut),
        "guard_events": _count(
            db, "SELECT count(*) FROM guard_events WHERE created_at < :c", c=cut
        ),
    }


@pytest.fixture
def seeded(db: Database) -> Database:
    seed(db, traces=600, days=6, seed=7, end=NOW)
    return db


def test_feedback_retention_keeps_rollups_while_traces_stay(seeded: Database, settings: Settings):
    """Feedback goes while its traces stay: the delete trigger would subtract it from the
    rollups; retention adds it back in the same transaction."""
    db = seeded
    before = _rollups(db)
    assert _old(db, 2)["feedback"] > 0
    s = settings.model_copy(update={"retention_feedback_days": 2, "retention_batch": 7})
    report = retention.apply(db, settings=s, now=NOW)
    assert report.kinds["feedback"].rows > 0
    assert report.kinds["feedback"].batches > 1
    assert _old(db, 2)["feedback"] == 0
    assert _old(db, 2)["traces"] > 0  # traces are kept forever here
    assert _rollups(db) == before


def test_retention_deletes_old_rows_in_batches_and_keeps_rollups(
    seeded: Database, settings: Settings
):
    db = seeded
    before = _rollups(db)
    old = _old(db, 2)
    assert all(old.values()), old
    total_before = _count(db, "SELECT count(*) FROM traces")
    s = settings.model_copy(update={
        "retention_traces_days": 2, "retention_feedback_days": 3,
        "retention_guard_events_days": 2, "retention_batch": 50,
    })  # fmt: skip
    dry = retention.apply(db, settings=s, now=NOW, dry_run=True)
    assert dry.kinds["traces"].rows == old["traces"]
    assert _count(db, "SELECT count(*) FROM traces") == total_before  # the dry run changed nothing
    assert _rollups(db) == before

    report = retention.apply(db, settings=s, now=NOW)
    assert report.kinds["traces"].rows == old["traces"]
    assert report.kinds["traces"].batches >= old["traces"] // 50
    assert report.kinds["traces"].dependents["spans"] == old["spans"]
    assert report.kinds["feedback"].rows == dry.kinds["feedback"].rows
    assert _old(db, 2)["traces"] == 0 and _old(db, 2)["spans"] == 0
    assert _old(db, 2)["guard_events"] == 0 and _old(db, 3)["feedback"] == 0
    assert _count(db, "SELECT count(*) FROM traces") == total_before - old["traces"]
    after = _rollups(db)
    assert after == _minus_minutes(before, 2)  # dashboards over the past keep their numbers
    assert len(after[0]) < len(before[0]) and any(r[0] == "minute" for r in after[0])
    assert report.kinds["traces"].dependents["minute_rollups"] > 0
    # the run is audited; a second run finds nothing and writes no row
    audit = _count(db, "SELECT count(*) FROM audit_log WHERE action = 'retention.apply'")
    assert audit == 1
    again = retention.apply(db, settings=s, now=NOW)
    assert again.total == 0
    assert _count(db, "SELECT count(*) FROM audit_log WHERE action = 'retention.apply'") == 1


def test_eval_traces_and_audit_rows_have_their_own_retention(db: Database, settings: Settings):
    old = (NOW - timedelta(days=10)).replace(tzinfo=None)
    with db.engine.begin() as conn:
        for i, session in enumerate(("eval:run1", "eval:run1", "chat-1", None)):
            conn.execute(text(
                "INSERT INTO traces (id, name, session_id, status, started_at, input_tokens, "
                "output_tokens, cost) VALUES (:id, 'chat', :s, 'ok', :at, 0, 0, 0)"
            ), {"id": f"{i:032x}", "s": session, "at": old})  # fmt: skip
        conn.execute(text("INSERT INTO audit_log (at, actor, action) VALUES (:at, 'a', 'x.y')"),
                     {"at": old})  # fmt: skip
    s = settings.model_copy(update={"retention_eval_days": 5})
    report = retention.apply(db, settings=s, now=NOW)
    assert report.kinds["eval_traces"].rows == 2
    assert report.kinds["traces"].rows == 0
    assert _count(db, "SELECT count(*) FROM traces") == 2  # the chat traces stay
    assert _count(db, "SELECT count(*) FROM audit_log WHERE action = 'x.y'") == 1
    s = settings.model_copy(update={"retention_audit_days": 5})
    assert retention.apply(db, settings=s, now=NOW).kinds["audit_log"].rows == 1
    assert _count(db, "SELECT count(*) FROM audit_log WHERE action = 'x.y'") == 0


def test_two_processes_at_once_delete_each_row_once(seeded: Database, settings: Settings):
    db = seeded
    before = _rollups(db)
    old = _old(db, 2)
    s = settings.model_copy(update={
        "retention_traces_days": 2, "retention_feedback_days": 2,
        "retention_guard_events_days": 2, "retention_batch": 9,
    })  # fmt: skip
    other = Database(db.url, busy_timeout_ms=10_000)
    reports: list[retention.RetentionReport] = []
    errors: list[Exception] = []
    start = threading.Barrier(2)

    def run(store: Database) -> None:
        try:
            start.wait()
            reports.append(retention.apply(store, settings=s, now=NOW))
        except Exception as exc:  # noqa: BLE001  (reported below)
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(x,)) for x in (db, other)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    other.dispose()
    assert not errors, errors
    for kind in ("traces", "feedback", "guard_events"):
        assert sum(r.kinds[kind].rows for r in reports) == old[kind], kind
    assert _old(db, 2)["traces"] == 0
    assert _rollups(db) == _minus_minutes(before, 2)


def _text(when: datetime) -> str:
    """A time as SQLite stores it (a bound datetime may meet a foreign sqlite3 adapter)."""
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def test_the_apps_background_worker_applies_retention(settings: Settings):
    from llmops.runtime import Runtime

    s = settings.model_copy(update={"retention_traces_days": 2, "background_interval_s": 0.05})
    rt = Runtime(s)
    try:
        seed(rt.db, traces=200, days=6, seed=3)
        assert _count(rt.db, "SELECT count(*) FROM traces WHERE started_at < :c",
                      c=_text(datetime.now(UTC) - timedelta(days=2))) > 0  # fmt: skip
        rt.start_background()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            cut = _text(datetime.now(UTC) - timedelta(days=2, minutes=1))
            if not _count(rt.db, "SELECT count(*) FROM traces WHERE started_at < :c", c=cut):
                break
            time.sleep(0.1)
        assert not _count(rt.db, "SELECT count(*) FROM traces WHERE started_at < :c", c=cut)
        assert _count(rt.db, "SELECT count(*) FROM audit_log WHERE action = 'retention.apply'")
    finally:
        rt.close()


def test_retention_ignores_a_sqlite3_datetime_adapter_another_library_registered(
    sqlite_db: Database, settings: Settings
):
    """guardrails-ai registers a datetime → epoch-number adapter with the sqlite3 module when
    it is imported; a bound datetime then compares as a number and matches no row."""
    import sqlite3

    seed(sqlite_db, traces=100, days=6, seed=5, end=NOW)
    old = _old(sqlite_db, 2)["traces"]
    assert old
    key = (datetime, sqlite3.PrepareProtocol)
    saved = sqlite3.adapters.get(key)
    sqlite3.register_adapter(datetime, lambda d: d.timestamp())
    try:
        s = settings.model_copy(update={"retention_traces_days": 2})
        assert retention.apply(sqlite_db, settings=s, now=NOW, dry_run=True).total == old
        assert retention.apply(sqlite_db, settings=s, now=NOW).total == old
    finally:
        if saved is None:
            sqlite3.adapters.pop(key, None)
        else:
            sqlite3.adapters[key] = saved


_AT = bindparam("at", type_=DateTime())


def test_gap_clusters_lose_the_questions_that_retention_removes(db: Database, settings: Settings):
    old = (NOW - timedelta(days=10)).replace(tzinfo=None)
    new = (NOW - timedelta(hours=1)).replace(tzinfo=None)
    with db.engine.begin() as conn:
        for cid, label in ((1, "Old question one?"), (2, "Only old question?")):
            conn.execute(text("INSERT INTO gap_clusters (id, lang, label, centroid, size, "
                              "status, note, created_at) VALUES (:i, 'en', :l, :c, 2, 'open', "
                              "'', :at)").bindparams(_AT), {"i": cid, "l": label, "c": b"x",
                                                       "at": old})  # fmt: skip
        rows = [("a" * 32, old, "Old question one?", 1), ("b" * 32, new, "New question?", 1),
                ("c" * 32, old, "Only old question?", 2)]  # fmt: skip
        for tid, at, q, cid in rows:
            # typed binds: once guardrails-ai is imported (an earlier test), sqlite3 stores an
            # untyped datetime as a number
            conn.execute(text(
                "INSERT INTO traces (id, name, session_id, status, started_at, input_tokens, "
                "output_tokens, cost) VALUES (:id, 'chat', 's', 'ok', :at, 0, 0, 0)"
            ).bindparams(_AT), {"id": tid, "at": at})  # fmt: skip
            conn.execute(text(
                "INSERT INTO gap_candidates (trace_id, at, reason, thumbs_down, question, "
                "cluster_id) VALUES (:id, :at, 'declined', false, :q, :c)"
            ).bindparams(_AT), {"id": tid, "at": at, "q": q, "c": cid})  # fmt: skip
    s = settings.model_copy(update={"retention_traces_days": 2})
    report = retention.apply(db, settings=s, now=NOW)
    assert report.kinds["traces"].rows == 2
    with db.engine.connect() as conn:
        clusters = conn.execute(text("SELECT id, label, size FROM gap_clusters")).all()
    assert [tuple(c) for c in clusters] == [(1, "New question?", 1)]
