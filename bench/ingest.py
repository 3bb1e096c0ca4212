"""Span ingest rate: our SpanWriter into SQLite vs raw sqlite3.executemany, same run.

    .venv/bin/python bench/ingest.py [--spans 200000] [--batch 500] [--json]

Both write the same rows into identical schemas (created by our migrations, with the same
indexes, WAL and synchronous=NORMAL). Ours is timed from the first submit() to flush()
returning and includes rendering (text, JSON attributes) in the writer thread; raw is timed
over executemany of pre-built tuples. Target (issue 2): ours >= 0.7x raw, zero spans lost.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import llmops  # noqa: F401
from llmops.store.db import Database
from llmops.store.migrate import upgrade
from llmops.tracing.ids import new_span_id, new_trace_id
from llmops.tracing.records import SpanRecord
from llmops.tracing.writer import SpanWriter

SPANS_PER_TRACE = 5


def records(n: int) -> list[SpanRecord]:
    out = []
    now = time.time_ns()
    for i in range(n // SPANS_PER_TRACE):
        tid = new_trace_id()
        root = new_span_id()
        for j in range(SPANS_PER_TRACE):
            start = now + i * 1_000_000 + j * 1000
            out.append(
                SpanRecord(
                    trace_id=tid,
                    span_id=root if j == 0 else new_span_id(),
                    parent_id=None if j == 0 else root,
                    name=["chat", "validate:input", "retriever", "prompt", "llm"][j],
                    kind=["chain", "guard", "retriever", "prompt", "llm"][j],
                    start_ns=start,
                    end_ns=start + 500_000,
                    input="What is LLMOps?",
                    output="LLMOps is the practice of operating LLM applications.",
                    attributes={
                        "gen_ai.request.model": "llmops-local",
                        "gen_ai.usage.input_tokens": 120,
                        "n": j,
                    },
                )
            )
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--spans", type=int, default=200_000)
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    home = Path(tempfile.mkdtemp(prefix="llmops-bench-ingest-"))

    recs = records(args.spans)
    n = len(recs)

    # ours
    db = Database(f"sqlite:///{home / 'ours.db'}")
    upgrade(db)
    writer = SpanWriter(db, home / "spool", batch_size=args.batch)
    t0 = time.perf_counter()
    for r in recs:
        writer.submit(r)
    ok = writer.flush(600)
    ours_s = time.perf_counter() - t0
    writer.close()
    with db.engine.connect() as c:
        ours_rows = c.exec_driver_sql("SELECT count(*) FROM spans").scalar()
    db.dispose()

    # raw sqlite3 into an identical schema
    raw_db = Database(f"sqlite:///{home / 'raw.db'}")
    upgrade(raw_db)
    raw_db.dispose()
    from datetime import UTC, datetime

    def ts(ns: int) -> str:
        return datetime.fromtimestamp(ns / 1e9, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")

    rows = [
        (
            r.trace_id,
            r.span_id,
            r.parent_id,
            r.name,
            r.kind,
            ts(r.start_ns),
            ts(r.end_ns or 0),
            (r.end_ns - r.start_ns) / 1e6 if r.end_ns else None,
            r.status,
            r.error,
            r.input,
            r.output,
            json.dumps(r.attributes),
        )
        for r in recs
    ]
    conn = sqlite3.connect(home / "raw.db")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    sql = (
        "INSERT INTO spans (trace_id, id, parent_id, name, kind, started_at, ended_at, "
        "duration_ms, status, error, input, output, attributes) "
        "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)"
    )
    t0 = time.perf_counter()
    for i in range(0, n, args.batch):
        with conn:
            conn.executemany(sql, rows[i : i + args.batch])
    raw_s = time.perf_counter() - t0
    raw_rows = conn.execute("SELECT count(*) FROM spans").fetchone()[0]
    conn.close()

    result = {
        "spans": n,
        "batch": args.batch,
        "ours_spans_per_s": round(n / ours_s),
        "raw_spans_per_s": round(n / raw_s),
        "ratio_ours_to_raw": round((n / ours_s) / (n / raw_s), 2),
        "ours_rows": ours_rows,
        "raw_rows": raw_rows,
        "lost": n - ours_rows,
        "flushed": ok,
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"{n:,} spans, batches of {args.batch}")
    print(
        f"  llmops SpanWriter : {result['ours_spans_per_s']:>9,} spans/s "
        f"(render + insert, {ours_rows:,} rows)"
    )
    print(f"  raw executemany   : {result['raw_spans_per_s']:>9,} spans/s ({raw_rows:,} rows)")
    print(f"  ratio {result['ratio_ours_to_raw']}  lost {result['lost']}")


if __name__ == "__main__":
    main()
