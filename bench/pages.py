"""Traces page at scale: its SQL queries and a full AppTest render over seeded traces.

    .venv/bin/python bench/pages.py [--traces 100000] [--repeat 5] [--json]

Seeds N traces (5 spans each) over 30 days into a fresh SQLite store, then times every query
the Traces page runs (default filter, each filter, text search, a deep-linked trace) and the
AppTest render of the list and of a trace; finally the cold start of `streamlit run` until
/_stcore/health answers. Targets (issue 3): each query < 50 ms, render < 1.5 s, cold start < 5 s.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _time(fn: Any, repeat: int) -> dict[str, float]:
    fn()  # warm
    samples = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t) * 1000)
    return {"median_ms": round(statistics.median(samples), 2), "max_ms": round(max(samples), 2)}


def _cold_start(home: Path) -> float:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "LLMOPS_HOME": str(home)}
    started = time.perf_counter()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            str(ROOT / "app.py"),
            "--server.port",
            str(port),
            "--server.headless",
            "true",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        while time.perf_counter() - started < 60:
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{port}/_stcore/health", timeout=1
                ) as r:
                    if r.read() == b"ok":
                        return round(time.perf_counter() - started, 2)
            except OSError:
                time.sleep(0.05)
        return float("nan")
    finally:
        proc.terminate()
        proc.wait(10)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--traces", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    home = Path(tempfile.mkdtemp(prefix="llmops-bench-pages-"))
    os.environ["LLMOPS_HOME"] = str(home)
    from datetime import UTC, datetime, timedelta

    from streamlit.testing.v1 import AppTest

    from llmops import demo
    from llmops.runtime import Runtime
    from llmops.store import queries
    from llmops.store.queries import TraceFilter

    rt = Runtime()
    report = demo.seed(rt.db, traces=args.traces, days=30)
    db = rt.db
    week = datetime.now(UTC) - timedelta(days=7)
    newest = queries.list_traces(db, limit=1)[0]
    release = newest.release_id
    results: dict[str, Any] = {"seed": report.__dict__, "queries": {}, "render": {}}
    cases = {
        "list 7d (default)": lambda: queries.list_traces(db, TraceFilter(since=week), limit=25),
        "count 7d (default)": lambda: queries.count_traces(db, TraceFilter(since=week)),
        "list all time": lambda: queries.list_traces(db, limit=25),
        "count all time": lambda: queries.count_traces(db),
        "list page 40": lambda: queries.list_traces(
            db, TraceFilter(since=week), limit=25, offset=1000
        ),
        "list status=error": lambda: queries.list_traces(
            db, TraceFilter(since=week, status="error"), limit=25
        ),
        "count status=error": lambda: queries.count_traces(
            db, TraceFilter(since=week, status="error")
        ),
        "list release": lambda: queries.list_traces(
            db, TraceFilter(since=week, release_id=release), limit=25
        ),
        "count release": lambda: queries.count_traces(
            db, TraceFilter(since=week, release_id=release)
        ),
        "list feedback=down": lambda: queries.list_traces(
            db, TraceFilter(since=week, feedback="down"), limit=25
        ),
        "count feedback=down": lambda: queries.count_traces(
            db, TraceFilter(since=week, feedback="down")
        ),
        "list feedback=none": lambda: queries.list_traces(
            db, TraceFilter(since=week, feedback="none"), limit=25
        ),
        "list text 'canary'": lambda: queries.list_traces(
            db, TraceFilter(since=week, text="canary"), limit=25
        ),
        "count text 'canary'": lambda: queries.count_traces(
            db, TraceFilter(since=week, text="canary")
        ),
        "release ids": lambda: queries.release_ids(db),
        "get trace": lambda: queries.get_trace(db, newest.id),
    }
    for name, fn in cases.items():
        results["queries"][name] = _time(fn, args.repeat)

    def render(trace: str | None) -> None:
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
        at.session_state["admin_signed_in"] = True
        at.run()
        if trace:
            at.query_params["trace"] = trace
        at.switch_page("pages/traces.py").run()
        assert not at.exception, at.exception

    import streamlit as st

    for label, trace in (("traces list", None), ("trace detail", newest.id)):

        def go(trace: str | None = trace) -> None:
            st.cache_data.clear()  # measure the queries, not the cache
            render(trace)

        results["render"][label] = _time(go, max(2, args.repeat // 2))
    rt.close()
    results["cold_start_s"] = _cold_start(home)

    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(f"seeded {report.traces:,} traces / {report.spans:,} spans in {report.seconds}s")
    print(f"{'query':<26}{'median ms':>10}{'max ms':>10}")
    for name, r in results["queries"].items():
        print(f"{name:<26}{r['median_ms']:>10}{r['max_ms']:>10}")
    for name, r in results["render"].items():
        print(f"render {name:<19}{r['median_ms']:>10}{r['max_ms']:>10}")
    print(f"cold start to /_stcore/health: {results['cold_start_s']} s")


if __name__ == "__main__":
    main()
