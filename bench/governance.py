"""Retention and erasure at size: ``retention apply`` per 100,000 traces, and the erasure of
one user with 10,000 traces among other people's.

    .venv/bin/python bench/governance.py [--traces 100000] [--user-traces 10000]
        [--batch 1000] [--pg] [--json]

1. Retention: ``--traces`` synthetic chat turns (``llmops demo seed``: spans, feedback,
   guard events, rollups, as the span writer writes them) all older than the retention, then
   ``llmops.governance.retention.apply`` with traces, feedback and guard events at 7 days.
   Printed: rows per kind, seconds, traces per second, seconds per 100,000 traces, and
   whether the rollups kept their numbers.
2. Erasure: the same number of turns again, ``--user-traces`` of them (with their feedback)
   given to one user under the keyed hash the store keeps for an e-mail, then
   ``llmops.governance.erasure.erase(user=...)``. Printed: rows per table and seconds.

SQLite under a temporary directory, or with ``--pg`` a fresh schema of the PostgreSQL
database at LLMOPS_TEST_DATABASE_URL (default postgresql+psycopg://postgres@127.0.0.1/test),
``ANALYZE``d after loading as autovacuum would (``--no-analyze``: the planner without
statistics, as right after a bulk load).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

USER = "bench.user@example.com"
ANALYZE = True


def _store(pg: bool, home: Path) -> tuple[Any, Any]:
    from sqlalchemy import create_engine, text

    from llmops.runtime import bootstrap
    from llmops.store.db import Database

    cleanup = None
    if pg:
        base = os.environ.get("LLMOPS_TEST_DATABASE_URL",
                              "postgresql+psycopg://postgres@127.0.0.1:5432/test")  # fmt: skip
        schema = f"bench_{uuid.uuid4().hex[:10]}"
        admin = create_engine(base)
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        sep = "&" if "?" in base else "?"
        url = f"{base}{sep}options=-csearch_path%3D{schema}"

        def drop() -> None:
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()

        cleanup = drop
    else:
        url = f"sqlite:///{home / 'bench.db'}"
    db = Database(url, busy_timeout_ms=30_000)
    bootstrap(db)
    return db, cleanup


def _analyze(db: Any) -> None:
    """Table statistics, as autovacuum keeps them on a live store (a bulk load has none)."""
    if db.dialect == "postgresql" and ANALYZE:
        with db.engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
            conn.commit()


def _rollups(db: Any) -> list[Any]:
    """The hour and day rollups (minute rows go with the traces they count: retention
    prunes them on purpose, llmops.governance.retention)."""
    with db.engine.connect() as conn:
        return [tuple(r) for r in conn.exec_driver_sql(
            "SELECT grain, bucket, release_id, model, traces, errors, latency_n, violating, "
            "feedback_n, feedback_up FROM metric_rollups WHERE grain <> 'minute' "
            "ORDER BY 1, 2, 3, 4"
        )]  # fmt: skip


def bench_retention(db: Any, settings: Any, traces: int, batch: int) -> dict[str, Any]:
    from llmops.demo import seed
    from llmops.governance import retention

    now = datetime.now(UTC)
    t0 = time.perf_counter()
    report = seed(db, traces=traces, days=7, seed=11, end=now - timedelta(days=30))
    seeded = time.perf_counter() - t0
    _analyze(db)
    before = _rollups(db)
    s = settings.model_copy(update={
        "retention_traces_days": 7, "retention_feedback_days": 7,
        "retention_guard_events_days": 7, "retention_batch": batch,
    })  # fmt: skip
    r = retention.apply(db, settings=s, now=now)
    return {
        "traces": traces,
        "seed_seconds": round(seeded, 1),
        "spans": report.spans,
        "deleted": {k: v.rows for k, v in r.kinds.items() if v.rows},
        "spans_deleted": r.kinds["traces"].dependents.get("spans", 0),
        "batches": sum(v.batches for v in r.kinds.values()),
        "seconds": round(r.seconds, 2),
        "traces_per_s": round(r.kinds["traces"].rows / r.seconds) if r.seconds else None,
        "seconds_per_100k_traces": round(r.seconds * 100_000 / max(1, r.kinds["traces"].rows), 2),
        "rollups_unchanged": _rollups(db) == before,
    }


def bench_erasure(db: Any, settings: Any, traces: int, user_traces: int) -> dict[str, Any]:
    from llmops.demo import seed
    from llmops.governance import erasure
    from llmops.privacy import hash_user_id, load_key

    seed(db, traces=traces, days=7, seed=12)
    stored = hash_user_id(load_key(settings), USER)
    mark = "?" if db.dialect == "sqlite" else "%s"
    with db.engine.begin() as conn:
        ids = [r[0] for r in conn.exec_driver_sql(
            f"SELECT id FROM traces ORDER BY id LIMIT {int(user_traces)}"
        )]  # fmt: skip
        conn.exec_driver_sql(f"UPDATE traces SET user_id = {mark}, session_id = {mark} "
                             f"WHERE id = {mark}",
                             [(stored, f"bench-s{i // 20}", t) for i, t in enumerate(ids)])  # fmt: skip
        conn.exec_driver_sql(f"UPDATE feedback SET user_id = {mark} WHERE trace_id = {mark}",
                             [(stored, t) for t in ids])  # fmt: skip
    _analyze(db)
    erasure.user_keys(settings, USER)  # first use loads the redaction rules: not timed
    t0 = time.perf_counter()
    dry = erasure.erase(db, user=USER, dry_run=True, settings=settings)
    dry_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    r = erasure.erase(db, user=USER, settings=settings, actor="bench")
    seconds = time.perf_counter() - t0
    return {
        "store_traces": traces,
        "user_traces": r.counts["traces"],
        "counts": {k: v for k, v in r.counts.items() if v},
        "batches": r.batches,
        "dry_run_seconds": round(dry_s, 2),
        "seconds": round(seconds, 2),
        "dry_run_matches": all(r.counts[k] == n for k, n in dry.counts.items()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--traces", type=int, default=100_000)
    parser.add_argument("--user-traces", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--pg", action="store_true")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--no-analyze", action="store_true")
    args = parser.parse_args()
    global ANALYZE
    ANALYZE = not args.no_analyze

    import llmops  # noqa: F401  (offline environment first)
    from llmops.config import Settings

    out: dict[str, Any] = {"backend": "postgresql" if args.pg else "sqlite"}
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        settings = Settings(home=home)
        for name, run in (
            ("retention", lambda db: bench_retention(db, settings, args.traces, args.batch)),
            ("erasure", lambda db: bench_erasure(db, settings, args.traces, args.user_traces)),
        ):
            sub = home / name
            sub.mkdir()
            db, cleanup = _store(args.pg, sub)
            try:
                out[name] = run(db)
            finally:
                db.dispose()
                if cleanup:
                    cleanup()
    if args.json:
        print(json.dumps(out, indent=2))
        return
    r, e = out["retention"], out["erasure"]
    print(f"[{out['backend']}] retention: {r['deleted']} ({r['spans_deleted']:,} spans) in "
          f"{r['seconds']} s, {r['batches']} batches: {r['traces_per_s']:,} traces/s, "
          f"{r['seconds_per_100k_traces']} s per 100,000 traces; rollups unchanged: "
          f"{r['rollups_unchanged']}")  # fmt: skip
    print(f"[{out['backend']}] erasure of a user with {e['user_traces']:,} traces among "
          f"{e['store_traces']:,}: {e['seconds']} s ({e['batches']} batches; dry run "
          f"{e['dry_run_seconds']} s, same counts: {e['dry_run_matches']}); {e['counts']}")  # fmt: skip


if __name__ == "__main__":
    main()
