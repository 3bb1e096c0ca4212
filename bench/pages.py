"""Console pages at scale: the Traces / Sessions queries and the render of every page.

    .venv/bin/python bench/pages.py [--traces 100000] [--repeat 5] [--json] [--queries-only]

Seeds N traces (5 spans each) over 30 days into a fresh SQLite store, then times every query
the Traces and Sessions pages run (default filter, each filter, text search, a deep-linked
trace; sessions, a user's sessions, users, a session's turns) and the AppTest render of every
console page (the Traces and Sessions lists and details, and each other page of the console):
"page" is the run of the page itself after the app's first run (what a click in the sidebar
costs, Streamlit caches cleared), "app + page" adds the first run of ``app.py``. Finally the
cold start of `streamlit run` until /_stcore/health answers. Targets (issues 3 and 16): each
query <= 50 ms, page render <= 1 s, cold start < 5 s.
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
    ap.add_argument("--queries-only", action="store_true", help="Skip the renders and cold start.")
    args = ap.parse_args()

    home = Path(tempfile.mkdtemp(prefix="llmops-bench-pages-"))
    os.environ["LLMOPS_HOME"] = str(home)
    from datetime import UTC, datetime, timedelta

    from streamlit.testing.v1 import AppTest

    from llmops import demo
    from llmops.monitoring import sessions
    from llmops.runtime import Runtime
    from llmops.store import queries
    from llmops.store.queries import TraceFilter

    rt = Runtime()
    report = demo.seed(rt.db, traces=args.traces, days=30)
    db = rt.db
    with db.engine.begin() as conn:  # demo traffic is anonymous: give a third of it 500 users
        conn.exec_driver_sql(
            "UPDATE traces SET user_id = 'user-' || (abs(random()) % 500) WHERE random() % 3 = 0"
        )
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
        "list validator=pii": lambda: queries.list_traces(
            db, TraceFilter(since=week, validator="pii"), limit=25
        ),
        "count validator=pii": lambda: queries.count_traces(
            db, TraceFilter(since=week, validator="pii")
        ),
        "list latency 2-3 s": lambda: queries.list_traces(
            db, TraceFilter(since=week, min_latency_ms=2000, max_latency_ms=3000), limit=25
        ),
        "count latency 2-3 s": lambda: queries.count_traces(
            db, TraceFilter(since=week, min_latency_ms=2000, max_latency_ms=3000)
        ),
        "list user": lambda: queries.list_traces(
            db, TraceFilter(since=week, user_id="user-7"), limit=25
        ),
        "count user": lambda: queries.count_traces(db, TraceFilter(since=week, user_id="user-7")),
        "list tag": lambda: queries.list_traces(db, TraceFilter(since=week, tag="demo"), limit=25),
        "count tag": lambda: queries.count_traces(db, TraceFilter(since=week, tag="demo")),
        "list comment text": lambda: queries.list_traces(
            db, TraceFilter(since=week, comment="wrong"), limit=25
        ),
        "count comment text": lambda: queries.count_traces(
            db, TraceFilter(since=week, comment="wrong")
        ),
        "list sorted by latency": lambda: queries.list_traces(
            db, TraceFilter(since=week, sort="latency"), limit=25
        ),
        "sessions 7d (page 1)": lambda: sessions.list_sessions(db, since=week),
        "sessions 7d (page 20)": lambda: sessions.list_sessions(db, since=week, offset=475),
        "sessions all time": lambda: sessions.list_sessions(db),
        "sessions of a user": lambda: sessions.list_sessions(db, since=week, user_id="user-7"),
        "users 7d": lambda: sessions.list_users(db, since=week),
        "a session's turns": lambda: sessions.session_turns(db, newest.session_id or ""),
        "release ids": lambda: queries.release_ids(db),
        "get trace": lambda: queries.get_trace(db, newest.id),
    }
    for name, fn in cases.items():
        results["queries"][name] = _time(fn, args.repeat)

    def render(page: str, params: dict[str, str]) -> tuple[float, float]:
        """(app + page, page alone) in ms, Streamlit's caches cleared first."""
        st.cache_data.clear()  # measure the queries, not the cache
        t0 = time.perf_counter()
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
        at.session_state["admin_signed_in"] = True
        at.run()
        for key, value in params.items():
            at.query_params[key] = value
        t1 = time.perf_counter()
        at.switch_page(page).run()
        t2 = time.perf_counter()
        assert not at.exception, at.exception
        return (t2 - t0) * 1000, (t2 - t1) * 1000

    import streamlit as st

    pages = [
        ("traces list", "pages/traces.py", {}),
        ("trace detail", "pages/traces.py", {"trace": newest.id}),
        ("sessions list", "pages/sessions.py", {}),
        ("session", "pages/sessions.py", {"session": newest.session_id or ""}),
        *[
            (Path(p).stem, p, {})
            for p in (
                "pages/overview.py", "pages/feedback.py", "pages/guardrails.py",
                "pages/evals.py", "pages/releases.py", "pages/review.py", "pages/knowledge.py",
                "pages/safety.py", "pages/audit.py", "pages/settings.py",
            )
        ],
    ]  # fmt: skip
    if not args.queries_only:
        render("pages/overview.py", {})  # the first run imports everything: not a page's cost
    for label, page, params in () if args.queries_only else pages:
        both, alone = [], []
        for _ in range(max(2, args.repeat // 2)):
            a, b = render(page, params)
            both.append(a)
            alone.append(b)
        results["render"][label] = {
            "page_median_ms": round(statistics.median(alone), 1),
            "page_max_ms": round(max(alone), 1),
            "app_and_page_median_ms": round(statistics.median(both), 1),
        }
    rt.close()
    results["cold_start_s"] = None if args.queries_only else _cold_start(home)

    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(f"seeded {report.traces:,} traces / {report.spans:,} spans in {report.seconds}s")
    print(f"{'query':<26}{'median ms':>10}{'max ms':>10}")
    for name, r in results["queries"].items():
        print(f"{name:<26}{r['median_ms']:>10}{r['max_ms']:>10}")
    for name, r in results["render"].items():
        print(f"render {name:<19}{r['page_median_ms']:>10}{r['page_max_ms']:>10}"
              f"   (app + page {r['app_and_page_median_ms']})")  # fmt: skip
    if results["cold_start_s"] is not None:
        print(f"cold start to /_stcore/health: {results['cold_start_s']} s")


if __name__ == "__main__":
    main()
