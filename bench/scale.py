"""Two replicas, one store: chat turns per second and latency through nginx with 1 and 2
replicas on PostgreSQL.

    LLMOPS_TEST_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test \\
        .venv/bin/python bench/scale.py [--replicas 1,2] [--users 4] [--turns 8] [--json]

For each replica count, the deploy/ recipe is started on 127.0.0.1 (tests/deploy/stack.py: a
Chroma server, the replicas on a fresh PostgreSQL schema, nginx rendered from
deploy/nginx/llmops.conf). ``--users`` sessions then chat at once through nginx, each asking
``--turns`` questions back to back (a closed loop, no think time: the most a set of users can
get out of the stack). A session is Streamlit's own websocket protocol
(tests/deploy/wsclient.py): the messages a browser sends and receives, without a browser's
rendering, so the load generator does not eat the CPU the replicas need. Sessions are spread
evenly over the replicas by nginx's route cookie, as many browsers' random cookies are on
average. Each replica is warmed up first (models loaded, one turn answered).

Reported per replica count: turns/s (completed turns / wall time of the loaded phase), p50 and
p95 of the turn as the user sees it (message sent → the reply's page rerun finished), p50 and
p95 of the chat pipeline alone (the stored traces' latency), turns served per replica, and
the ratio of 2 replicas to 1. The machine's load average is printed before and after: on a
shared machine it moves the numbers more than anything measured here.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

QUESTIONS = [
    "What is LLMOps?",
    "How do canary releases work?",
    "What does monitoring track?",
    "How do I roll back a release?",
    "What does p95 latency mean?",
    "¿Qué es LLMOps?",
    "¿Cómo funciona un despliegue canary?",
    "¿Cómo se calcula el coste?",
]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def user(
    base: str, cookie: str, turns: int, offset: int, out: list[Any], errors: list[str]
) -> None:
    from tests.deploy.wsclient import ChatSession

    try:
        session = ChatSession(base, cookie=cookie)
        try:
            for i in range(turns):
                out.append(session.ask(QUESTIONS[(offset + i) % len(QUESTIONS)]))
        finally:
            session.close()
    except Exception as exc:  # noqa: BLE001 - reported with the results
        errors.append(f"{type(exc).__name__}: {exc}")


def measure(n: int, args: argparse.Namespace, pg_url: str) -> dict[str, Any]:
    from sqlalchemy import select

    from llmops.store.db import Database
    from llmops.store.models import Trace
    from tests.deploy import stack as stk
    from tests.deploy.wsclient import ChatSession

    tmp = Path(tempfile.mkdtemp(prefix=f"llmops-bench-scale-{n}-"))
    t0 = time.perf_counter()
    with stk.pg_schema(pg_url, prefix="scale") as url, stk.start(tmp, url, replicas=n) as st:
        setup_s = time.perf_counter() - t0
        routes = st.route_cookies()
        cookies = [f"{stk.COOKIE}={routes[r][0]}" for r in st.replicas.values()]
        for cookie in cookies:  # warm-up: each replica loads its models and answers twice
            warm = ChatSession(st.url, cookie=cookie)
            warm.ask(QUESTIONS[0])
            warm.ask(QUESTIONS[1])
            warm.close()
        replies: list[Any] = []
        errors: list[str] = []
        # sessions spread evenly over the replicas, each with its own route cookie
        per_replica = [routes[r] for r in st.replicas.values()]
        threads = []
        load_before = load()
        start = time.perf_counter()
        for u in range(args.users):
            pool = per_replica[u % n]
            cookie = f"{stk.COOKIE}={pool[(u // n + 1) % len(pool)]}"
            t = threading.Thread(
                target=user, args=(st.url, cookie, args.turns, u, replies, errors), daemon=True
            )
            t.start()
            threads.append(t)
        for t in threads:
            t.join()
        wall = time.perf_counter() - start
        load_after = load()
        db = Database(url)
        ids = [r.trace_id for r in replies]
        deadline = time.monotonic() + 30
        while True:
            with db.session() as s:
                rows = s.execute(
                    select(Trace.latency_ms, Trace.attributes).where(Trace.id.in_(ids))
                ).all()
            if len(rows) == len(ids) or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        db.dispose()
    shutil.rmtree(tmp, ignore_errors=True)
    by_replica: dict[str, int] = {}
    for _, attrs in rows:
        name = (attrs or {}).get("service.instance.id", "?")
        by_replica[name] = by_replica.get(name, 0) + 1
    seen = [r.idle_seconds * 1000 for r in replies]
    pipeline = [float(lat) for lat, _ in rows if lat is not None]
    return {
        "replicas": n,
        "users": args.users,
        "turns_per_user": args.turns,
        "turns": len(replies),
        "errors": errors,
        "wall_s": wall,
        "turns_per_s": len(replies) / wall if wall else 0.0,
        "turn_ms_p50": statistics.median(seen) if seen else None,
        "turn_ms_p95": pct(seen, 0.95) if seen else None,
        "pipeline_ms_p50": statistics.median(pipeline) if pipeline else None,
        "pipeline_ms_p95": pct(pipeline, 0.95) if pipeline else None,
        "stored": len(rows),
        "by_replica": by_replica,
        "setup_s": setup_s,
        "load_before": load_before,
        "load_after": load_after,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--replicas", default="1,2", help="replica counts to measure, in order")
    ap.add_argument("--users", type=int, default=4, help="sessions chatting at once")
    ap.add_argument("--turns", type=int, default=8, help="questions per session")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    pg_url = os.environ.get("LLMOPS_TEST_DATABASE_URL")
    from tests.deploy import stack as stk

    reason = stk.missing(pg_url)
    if reason or not pg_url:
        raise SystemExit(reason)
    import llmops  # noqa: F401  (the offline environment)

    results = [measure(int(n), args, pg_url) for n in args.replicas.split(",")]
    base = results[0]
    for r in results:
        r["turns_per_s_ratio"] = (
            r["turns_per_s"] / base["turns_per_s"] if base["turns_per_s"] else None
        )
        r["turn_ms_p95_ratio"] = (
            r["turn_ms_p95"] / base["turn_ms_p95"] if base["turn_ms_p95"] else None
        )
    out = {"cpus": os.cpu_count(), "results": results}
    if args.json:
        print(json.dumps(out, indent=2))
        return
    print(
        f"{out['cpus']} CPUs; {args.users} sessions at once, {args.turns} turns each, no think time"
    )
    print(
        "replicas  turns  turns/s  ratio  turn p50 / p95 ms    pipeline p50 / p95 ms  "
        "per replica             load before → after"
    )
    for r in results:
        print(
            f"{r['replicas']:>8}  {r['turns']:>5}  {r['turns_per_s']:>7.2f}  "
            f"{r['turns_per_s_ratio']:>5.2f}  {r['turn_ms_p50']:>7.0f} / {r['turn_ms_p95']:>7.0f}    "
            f"{r['pipeline_ms_p50']:>7.0f} / {r['pipeline_ms_p95']:>7.0f}      "
            f"{json.dumps(r['by_replica']):<22}  {r['load_before']} → {r['load_after']}"
        )
        if r["errors"]:
            print(f"   errors: {r['errors']}")
        if r["stored"] != r["turns"]:
            print(f"   ! {r['turns']} turns answered, {r['stored']} traces stored")


if __name__ == "__main__":
    main()
