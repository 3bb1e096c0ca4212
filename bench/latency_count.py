"""A/B of the Traces list's latency-range count with and without ``ix_traces_started_latency``.

    .venv/bin/python bench/latency_count.py LLMOPS_HOME [--rounds 2]

On a seeded store (e.g. the one ``bench/pages.py`` leaves in /tmp/llmops-bench-pages-*),
times ``count_traces`` for "the last 7 days, latency 2-3 s" (median / max of 7), drops the
index, times it again, and re-creates the index, for each round. Changes nothing else.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

INDEX = "ix_traces_started_latency"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("home")
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    os.environ["LLMOPS_HOME"] = args.home
    from llmops.config import Settings
    from llmops.store.db import Database
    from llmops.store.queries import TraceFilter, count_traces

    db = Database(Settings().db_url)
    week = datetime.now(UTC) - timedelta(days=7)
    flt = TraceFilter(since=week, min_latency_ms=2000, max_latency_ms=3000)

    def timed() -> tuple[int, float, float]:
        n = count_traces(db, flt)
        samples = []
        for _ in range(7):
            t = time.perf_counter()
            count_traces(db, flt)
            samples.append((time.perf_counter() - t) * 1000)
        return n, round(statistics.median(samples), 1), round(max(samples), 1)

    for i in range(args.rounds):
        with_ix = timed()
        with db.engine.begin() as conn:
            conn.exec_driver_sql(f"DROP INDEX {INDEX}")
        without = timed()
        with db.engine.begin() as conn:
            conn.exec_driver_sql(f"CREATE INDEX {INDEX} ON traces (started_at, latency_ms)")
        print(f"round {i + 1}: {with_ix[0]} traces; with the index {with_ix[1]} / {with_ix[2]} ms, "
              f"without {without[1]} / {without[2]} ms")  # fmt: skip
    db.dispose()


if __name__ == "__main__":
    main()
