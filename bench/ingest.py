"""Span ingest rate: our SpanWriter into SQLite vs raw sqlite3.executemany, same run.

    .venv/bin/python bench/ingest.py [--spans 200000] [--batch 500] [--json]
    .venv/bin/python bench/ingest.py --concurrent [--seconds 20] [--no-redact] [--flood]
        [--redact-process auto|on|off] [--json]

Both write the same rows into identical schemas (created by our migrations, with the same
indexes, WAL and synchronous=NORMAL). Ours is timed from the first submit() to flush()
returning and includes rendering (text, JSON attributes) in the writer thread; raw is timed
over executemany of pre-built tuples. Target (issue 2): ours >= 0.7x raw, zero spans lost.

``--concurrent`` measures the writer while the app is busy (issue 17): a LangChain chain with
our unbound handler (a trace row and ``--steps`` + 1 spans a turn, each a different question,
one in five with an e-mail address and a phone number) is invoked as fast as one thread can
for ``--seconds`` (or at ``--rate`` turns a second) while the production writer (redaction on, as ``Runtime`` builds it) stores
into SQLite. Reported: turns and spans produced a second, spans stored a second during the
loop, the backlog when the loop stops and how long it takes to drain, the lag from a turn's
end to its trace row being committed (p50/p95/max), the writer thread's CPU, the queue's and
the process's peak (RSS, sampled every 50 ms), records refused or throttled (back-pressure),
and the rows lost. Targets: lag <= 1 s, >= 10,000 spans/s stored, 0 lost.

The chat loop alone produces fewer spans than the writer can store (LangChain's callbacks
cost the chat thread far more a span than storing it costs the writer), so ``--flood`` adds a
second producer of synthetic turns of the same mix, throttled only by back-pressure: what is
stored a second then is the writer's ceiling while the chat runs (``spans_stored_per_s_in_loop``).

``--redact-process auto|on|off`` is the writer's ``redact_process`` (``auto``, production's
default, moves redaction to a process of its own once the writer stays behind); the
process's CPU (as it reports it) and peak RSS are reported beside the writer thread's.
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
    ap.add_argument("--concurrent", action="store_true", help="writer under a busy chat loop")
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--steps", type=int, default=4, help="chain steps a turn (spans - 1)")
    ap.add_argument("--no-redact", action="store_true")
    ap.add_argument("--rate", type=float, default=0.0, help="turns a second (0: full speed)")
    ap.add_argument(
        "--flood",
        action="store_true",
        help="with --concurrent: a second thread submits synthetic turns as fast as the "
        "writer takes them (the writer's ceiling while the chat runs)",
    )
    ap.add_argument(
        "--redact-process",
        choices=("auto", "on", "off"),
        default="auto",
        help="with --concurrent: the writer's redaction process (SpanWriter redact_process)",
    )
    args = ap.parse_args()
    if args.concurrent:
        from bench.ingest_concurrent import run_concurrent

        report(
            run_concurrent(
                args.seconds,
                args.steps,
                not args.no_redact,
                args.batch,
                args.rate,
                args.flood,
                args.redact_process,
            ),
            args.json,
        )
        return
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


def report(result: dict[str, object], as_json: bool) -> None:
    if as_json:
        print(json.dumps(result, indent=2))
        return
    for key, value in result.items():
        print(f"  {key:<28} {value}")


if __name__ == "__main__":
    main()
