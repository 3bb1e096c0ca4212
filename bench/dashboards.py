"""Monitoring at scale: seeding, every Overview / Feedback query, and the page renders.

    .venv/bin/python bench/dashboards.py [--traces 1000000] [--days 90] [--repeat 5]
        [--url postgresql+psycopg://postgres@127.0.0.1:5432/test [--schema NAME]] [--home DIR]
        [--json]

1. Seeds N traces (about 5 spans each, with feedback and guard events) over D days with
   ``llmops demo seed``'s code, through the span writer's path (prices + rollups), into a
   fresh SQLite store under a temporary LLMOPS_HOME (``--home DIR`` reuses a seeded one), or
   into a fresh schema of the PostgreSQL database given by ``--url`` (``--schema NAME`` keeps
   it, and a later run with the same name and ``--home`` reuses it instead of seeding).
2. Times every query the Overview and Feedback pages run, for the last 1 h, 6 h and 24 h by
   minute (minute rollups) and 24 h, 7 d and 90 d (hour / day rollups), and the alert
   evaluation, with warm caches of the database but not of Streamlit: median and max of
   ``--repeat`` runs. For the minute ranges it also times the same series and KPIs read from
   the raw traces (``exact=True``, what those ranges read before the minute rollups).
3. Times the full AppTest run of each page for each range (Streamlit caches cleared).
4. Measures what keeping rollups costs the span writer: the same trace + span records
   written with and without them, in the same run.

Targets (issue 6): each query <= 200 ms on SQLite at 90 days, page render <= 2 s,
seeding 1M traces <= 3 minutes. Nothing here asserts: it prints the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

RANGES: dict[str, tuple[timedelta, str | None]] = {
    "1h": (timedelta(hours=1), None),
    "6h": (timedelta(hours=6), None),
    "24h by minute": (timedelta(days=1), "minute"),
    "24h": (timedelta(days=1), None),
    "7d": (timedelta(days=7), None),
    "90d": (timedelta(days=90), None),
}
PAGE_RANGES = {
    "1h": "Last hour", "6h": "Last 6 hours", "24h": "Last 24 hours", "7d": "Last 7 days",
    "90d": "Last 90 days",
}  # fmt: skip


def _time(fn: Any, repeat: int) -> dict[str, float]:
    fn()  # warm the database's page cache
    samples = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t) * 1000)
    return {"median_ms": round(statistics.median(samples), 1), "max_ms": round(max(samples), 1)}


def _pg_schema(url: str, name: str | None = None) -> tuple[str, str]:
    from sqlalchemy import create_engine, text

    schema = name or f"bench_{uuid.uuid4().hex[:8]}"
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
    engine.dispose()
    sep = "&" if "?" in url else "?"
    return schema, f"{url}{sep}options=-csearch_path%3D{schema}"


def _drop_schema(url: str, schema: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    engine.dispose()


def _sizes(db: Any) -> dict[str, int]:
    out = {}
    with db.engine.connect() as c:
        for table in ("traces", "spans", "feedback", "guard_events", "metric_rollups",
                      "latency_histograms"):  # fmt: skip
            out[table] = int(c.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar() or 0)
    return out


def queries(db: Any, end: datetime, length: timedelta, grain: str | None) -> dict[str, Any]:
    from llmops.monitoring import charts, metrics
    from llmops.monitoring import feedback as fbm
    from llmops.store import queries as tq

    scope = metrics.Scope(end - length, end)
    since = scope.since
    with db.session() as s:
        from sqlalchemy import func, select

        from llmops.store.models import Trace

        rid = s.scalar(select(Trace.release_id).order_by(Trace.started_at.desc()).limit(1))
        last = func.max(Trace.started_at)
        retired = s.scalar(
            select(Trace.release_id).group_by(Trace.release_id).order_by(last).limit(1)
        )  # the release whose traffic ended longest ago: the feedback list's worst case
    spots = charts.hot_spots(metrics.series(db, scope), metrics.period_for(scope).grain)
    worst = spots[0]["errors"] if spots else None

    def drill() -> None:
        if worst is None:
            return
        from urllib.parse import parse_qsl, urlsplit

        q = dict(parse_qsl(urlsplit(worst).query))
        f = tq.TraceFilter(
            since=datetime.fromisoformat(q["since"]),
            until=datetime.fromisoformat(q["until"]),
            status="error",
        )
        tq.list_traces(db, f, limit=25)
        tq.count_traces(db, f)

    if metrics.period_for(scope, grain).grain == "minute":
        raw = {
            "raw rows: series (before)": lambda: metrics.series(
                db, scope, grain="minute", exact=True
            ),
            "raw rows: series by release (before)": lambda: metrics.series(
                db, scope, group="release", grain="minute", exact=True
            ),
            "raw rows: KPIs now + previous (before)": lambda: [
                metrics.summary(db, metrics.Scope(p.since, p.until), grain="minute", exact=True)
                for p in (metrics.period_for(scope), metrics.period_for(scope).previous())
            ],
        }
    else:
        raw = {}
    return {
        "overview: series": lambda: metrics.series(db, scope, grain=grain),
        "overview: series by release": lambda: metrics.series(
            db, scope, group="release", grain=grain
        ),
        "overview: KPIs now + previous": lambda: metrics.compare(db, scope),
        "overview: breakdown by release": lambda: metrics.summary(db, scope, group="release"),
        "overview: breakdown by model": lambda: metrics.summary(db, scope, group="model"),
        "feedback: list page 1": lambda: fbm.list_feedback(db, fbm.FeedbackFilter(since=since)),
        "feedback: list down + comment": lambda: fbm.list_feedback(
            db, fbm.FeedbackFilter(since=since, down_only=True, has_comment=True)
        ),
        "feedback: list one release": lambda: fbm.list_feedback(
            db, fbm.FeedbackFilter(since=since, release_id=rid)
        ),
        "feedback: list retired release": lambda: fbm.list_feedback(
            db, fbm.FeedbackFilter(since=since, release_id=retired)
        ),
        "feedback: list page 20": lambda: fbm.list_feedback(
            db, fbm.FeedbackFilter(since=since), offset=475
        ),
        "traces: drill into worst hour": drill,
        **raw,
    }


def render(page: str, label: str, repeat: int) -> dict[str, float]:
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    samples = []
    for _ in range(repeat + 1):
        st.cache_data.clear()
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
        at.session_state["admin_signed_in"] = True
        at.session_state["ov_range" if "overview" in page else "fb_range"] = label
        at.run()
        t = time.perf_counter()
        at.switch_page(page).run()
        samples.append((time.perf_counter() - t) * 1000)
        assert not at.exception, at.exception
    samples = samples[1:]  # the first run also imports and starts the runtime
    return {"median_ms": round(statistics.median(samples), 1), "max_ms": round(max(samples), 1)}


def writer_cost(db_url: str, home: Path, n_traces: int, rounds: int = 3) -> dict[str, Any]:
    """Trace + 5 span records through the writer, with and without rollups, one run."""
    from llmops.store.db import Database
    from llmops.store.migrate import upgrade
    from llmops.tracing.ids import new_span_id
    from llmops.tracing.records import SpanRecord, TraceRecord
    from llmops.tracing.writer import SpanWriter

    def records() -> list[Any]:
        out: list[Any] = []
        t0 = time.time_ns() - n_traces * 50_000_000
        for i in range(n_traces):
            start = t0 + i * 50_000_000
            tid = f"{start // 1_000_000:012x}{uuid.uuid4().hex[:20]}"
            root = new_span_id()
            out.append(TraceRecord(id=tid, name="chat", start_ns=start, end_ns=start + 80_000_000,
                                   release_id=f"rel_{i % 3}", model=f"m{i % 2}", ttft_ms=20.0,
                                   input_tokens=500, output_tokens=100, input="q", output="a"))  # fmt: skip
            for j in range(5):
                out.append(SpanRecord(trace_id=tid, span_id=root if j == 0 else new_span_id(),
                                      parent_id=None if j == 0 else root, name=f"s{j}",
                                      kind="chain", start_ns=start, end_ns=start + 10_000_000,
                                      attributes={"n": j}))  # fmt: skip
        return out

    result: dict[str, Any] = {"traces": n_traces, "spans": n_traces * 5, "rounds": rounds}
    rates: dict[str, list[float]] = {"without_rollups": [], "with_rollups": []}
    for i in range(rounds):  # alternate, so drift on a shared machine hits both alike
        for label, on in (("without_rollups", False), ("with_rollups", True)):
            url = f"sqlite:///{home / f'w_{label}_{i}.db'}"
            schema = None
            if not db_url.startswith("sqlite"):
                schema, url = _pg_schema(db_url)
            db = Database(url)
            upgrade(db)
            recs = records()
            w = SpanWriter(db, home / f"spool_{label}", maintain_rollups=on)
            t = time.perf_counter()
            for r in recs:
                w.submit(r)
            assert w.flush(600)
            seconds = time.perf_counter() - t
            w.close()
            db.dispose()
            if schema:
                _drop_schema(db_url, schema)
            rates[label].append(len(recs) / seconds)
    for label, values in rates.items():
        result[label] = {"records_per_s": round(statistics.median(values)),
                         "all": [round(v) for v in values]}  # fmt: skip
    result["ratio_with_to_without"] = round(
        result["with_rollups"]["records_per_s"] / result["without_rollups"]["records_per_s"], 2
    )
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--traces", type=int, default=1_000_000)
    ap.add_argument("--days", type=float, default=90)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--url", help="PostgreSQL URL (a fresh schema is created and dropped)")
    ap.add_argument(
        "--schema", help="with --url: use (and keep) this schema; a seeded one is reused"
    )
    ap.add_argument("--home", type=Path, help="reuse (or keep) this LLMOPS_HOME (SQLite)")
    ap.add_argument("--writer-traces", type=int, default=50_000)
    ap.add_argument("--skip-render", action="store_true")
    ap.add_argument("--skip-writer", action="store_true", help="skip step 4")
    ap.add_argument("--writer-only", action="store_true", help="only step 4")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    if args.writer_only:
        wtmp = Path(tempfile.mkdtemp(prefix="llmops-bench-writer-"))
        print(json.dumps(writer_cost(args.url or "sqlite", wtmp, args.writer_traces), indent=2))
        return
    home = args.home or Path(tempfile.mkdtemp(prefix="llmops-bench-dash-"))
    home.mkdir(parents=True, exist_ok=True)
    os.environ["LLMOPS_HOME"] = str(home)
    schema = None
    if args.url:
        schema, url = _pg_schema(args.url, args.schema)
        os.environ["LLMOPS_DATABASE_URL"] = url
    import llmops  # noqa: F401
    from llmops import demo
    from llmops.monitoring import alerts
    from llmops.runtime import Runtime

    results: dict[str, Any] = {"backend": "postgresql" if args.url else "sqlite"}
    try:
        rt = Runtime()
        db = rt.db
        with db.engine.connect() as c:
            seeded = int(c.exec_driver_sql("SELECT count(*) FROM traces").scalar() or 0)
        meta = home / (f"bench-end-{args.schema}.txt" if args.schema else "bench-end.txt")
        if seeded and meta.exists() and (not args.url or args.schema):
            end = datetime.fromisoformat(meta.read_text().strip())
            results["seed"] = {"reused": str(home), "traces": seeded}
        else:
            end = datetime.now(UTC).replace(microsecond=0)
            report = demo.seed(db, traces=args.traces, days=args.days, end=end)
            meta.write_text(end.isoformat())
            results["seed"] = report.__dict__
            if args.url:
                # This test server runs with autovacuum off; a default PostgreSQL would have
                # analyzed the new tables by now, so do what its autovacuum would.
                t = time.perf_counter()
                with db.engine.begin() as conn:
                    conn.exec_driver_sql("ANALYZE")
                results["seed"]["analyze_seconds"] = round(time.perf_counter() - t, 1)
        results["rows"] = _sizes(db)
        if not args.url:
            results["sqlite_file_mb"] = round((home / "llmops.db").stat().st_size / 1e6)
        for window, metric, threshold in (
            (15, "error_rate", 0.2), (60, "latency_p95", 5000), (360, "thumbs_up_rate", 0.1),
            (1440, "violation_rate", 0.5), (10080, "cost", 1e9),
        ):  # fmt: skip
            if not any(r.metric == metric for r in alerts.list_rules(db)):
                spec = alerts.make_spec(name=f"bench {metric}", metric=metric, threshold=threshold,
                                        comparison="<" if metric == "thumbs_up_rate" else ">",
                                        window_minutes=window)  # fmt: skip
                alerts.create_rule(db, spec)
        results["queries"] = {}
        from llmops.monitoring import metrics

        for label, (length, forced) in RANGES.items():
            grain = forced or metrics.grain_for(length)
            out = {}
            for name, fn in queries(db, end, length, forced).items():
                out[name] = _time(fn, args.repeat)
            results["queries"][f"{label} (by {grain})"] = out
        results["queries"]["alerts"] = {
            "evaluate 5 rules": _time(lambda: alerts.evaluate(db, notify=False), args.repeat),
            "release names": _time(lambda: metrics.release_names(db), args.repeat),
            "models seen": _time(lambda: metrics.models_seen(db), args.repeat),
        }
        rt.close()
        if not args.skip_render:
            results["render"] = {}
            for page in ("pages/overview.py", "pages/feedback.py"):
                for key, label in PAGE_RANGES.items():
                    name = f"{Path(page).stem} {key}"
                    results["render"][name] = render(page, label, max(2, args.repeat // 2))
        if not args.skip_writer:
            wtmp = Path(tempfile.mkdtemp(prefix="llmops-bench-writer-"))
            results["writer"] = writer_cost(args.url or "sqlite", wtmp, args.writer_traces)
    finally:
        if schema and args.url and not args.schema:
            _drop_schema(args.url, schema)

    if args.json:
        print(json.dumps(results, indent=2, default=str))
        return
    print(json.dumps({k: results[k] for k in ("backend", "seed", "rows")}, default=str))
    print(f"{'query':<42}{'median ms':>10}{'max ms':>10}")
    for group, items in results["queries"].items():
        print(f"-- {group}")
        for name, r in items.items():
            print(f"{name:<42}{r['median_ms']:>10}{r['max_ms']:>10}")
    for name, r in results.get("render", {}).items():
        print(f"render {name:<35}{r['median_ms']:>10}{r['max_ms']:>10}")
    w = results.get("writer")
    if not w:
        return
    print(
        f"writer, {w['traces']:,} traces + {w['spans']:,} spans: "
        f"{w['without_rollups']['records_per_s']:,} rec/s without rollups, "
        f"{w['with_rollups']['records_per_s']:,} with (ratio {w['ratio_with_to_without']})"
    )


if __name__ == "__main__":
    main()
