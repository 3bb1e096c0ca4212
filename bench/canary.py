"""Canary deployments: sticky assignment, what a weight change moves, what assignment costs,
and how long a broken canary serves before the automatic rollback takes it out.

    .venv/bin/python bench/canary.py [--sessions 100000] [--seed 7] [--coverage-seeds 20]
                                     [--rate 20] [--interval 1] [--repeats 3] [--json]

1. Assignment shares at canary weights 1 %, 10 %, 50 % over ``--sessions`` random session ids
   (uuid4 hex, seeded): observed share, deviation from the weight, Wilson 95 % interval; and
   stickiness: the same id asked again in this process, in another process (a different
   PYTHONHASHSEED) and through ``resolve_release`` on the store must give the same release.
   How often the interval covers the weight over ``--coverage-seeds`` other id sets (≈ 95 %).
2. Moves when the weight grows 10 % → 20 % and shrinks 20 % → 10 %: the share of sessions that
   change release, against the ideal (exactly the sessions the new weight adds or removes).
3. Cost: µs per ``in_canary`` and per ``resolve_release(db, session_id)`` (SQLite, a canary
   labelled), median of the repeats.
4. Time to automatic rollback: a real Runtime (SQLite in a temporary LLMOPS_HOME, the shipped
   knowledge base ingested, guards, LocalModel for production) with a canary at 20 % whose
   model is an OpenAI-compatible server on a 127.0.0.1 port nobody listens on (every canary
   turn errors). Real chat turns (``Runtime().chat.respond(...).collect()``), each from a new
   session, paced at ``--rate`` turns/s; every ``--interval`` s the tracer is flushed and
   ``rollback.check`` runs, as the app's background worker does every
   LLMOPS_BACKGROUND_INTERVAL_S (the first check at a random point of the interval: the
   worker's phase relative to the canary's start). The rules are the defaults
   (``DEFAULT_RULES``) that ``start_canary`` installs. Repeated ``--repeats`` times, with a new
   broken release each time.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

WEIGHTS = (0.01, 0.10, 0.50)
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
Z95 = 1.959964


def session_ids(n: int, seed: int) -> list[str]:
    rnd = random.Random(seed)
    return [uuid.UUID(int=rnd.getrandbits(128), version=4).hex for _ in range(n)]


def wilson(k: int, n: int) -> tuple[float, float]:
    p = k / n
    denom = 1 + Z95**2 / n
    centre = (p + Z95**2 / (2 * n)) / denom
    half = Z95 * math.sqrt(p * (1 - p) / n + Z95**2 / (4 * n * n)) / denom
    return centre - half, centre + half


# -- 1. shares and stickiness ------------------------------------------------------------------
def shares(ids: list[str]) -> list[dict[str, Any]]:
    from llmops.releases.assign import in_canary

    out = []
    for w in WEIGHTS:
        first = [in_canary(s, w) for s in ids]
        again = [in_canary(s, w) for s in ids]
        k = sum(first)
        lo, hi = wilson(k, len(ids))
        share = k / len(ids)
        out.append(
            {
                "weight": w,
                "sessions": len(ids),
                "canary": k,
                "share": share,
                "deviation_points": (share - w) * 100,
                "z": (share - w) / math.sqrt(w * (1 - w) / len(ids)),
                "ci95": [lo, hi],
                "weight_in_ci": lo <= w <= hi,
                "sticky_mismatches": sum(a != b for a, b in zip(first, again, strict=True)),
            }
        )
    return out


def cross_process(ids: list[str], weight: float) -> dict[str, Any]:
    """The same ids assigned in a fresh interpreter with another hash seed."""
    from llmops.releases.assign import in_canary

    code = (
        "import sys; sys.path.insert(0, sys.argv[1])\n"
        "from llmops.releases.assign import in_canary\n"
        "w = float(sys.argv[2])\n"
        "print(''.join('1' if in_canary(s, w) else '0' for s in sys.stdin.read().split()))\n"
    )
    env = {**os.environ, "PYTHONHASHSEED": str(random.randrange(1, 2**31))}
    done = subprocess.run(
        [sys.executable, "-c", code, str(ROOT), str(weight)],
        input="\n".join(ids),
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    theirs = done.stdout.strip()
    ours = "".join("1" if in_canary(s, weight) else "0" for s in ids)
    return {
        "sessions": len(ids),
        "weight": weight,
        "mismatches": sum(a != b for a, b in zip(ours, theirs, strict=True)),
    }


def coverage(n: int, seed: int, seeds: int) -> list[dict[str, Any]]:
    """How often the Wilson interval of the observed share covers the weight, over ``seeds``
    independent sets of ``n`` ids (about 95 % if the buckets are uniform)."""
    from llmops.releases.assign import bucket

    counts: dict[float, list[int]] = {w: [] for w in WEIGHTS}
    for i in range(seeds):
        buckets = [bucket(s) for s in session_ids(n, seed + 1 + i)]
        for w in WEIGHTS:
            counts[w].append(sum(b < w for b in buckets))
    out = []
    for w, ks in counts.items():
        zs = [(k / n - w) / math.sqrt(w * (1 - w) / n) for k in ks]
        covered = sum(lo <= w <= hi for lo, hi in (wilson(k, n) for k in ks))
        out.append(
            {
                "weight": w,
                "seeds": seeds,
                "covered": covered,
                "max_abs_z": max(abs(z) for z in zs),
                "mean_share": statistics.fmean(ks) / n,
            }
        )
    return out


# -- 2. moves when the weight changes ----------------------------------------------------------
def moves(ids: list[str], before: float, after: float) -> dict[str, Any]:
    from llmops.releases.assign import in_canary

    a = [in_canary(s, before) for s in ids]
    b = [in_canary(s, after) for s in ids]
    n = len(ids)
    to_canary = sum(not x and y for x, y in zip(a, b, strict=True))
    to_prod = sum(x and not y for x, y in zip(a, b, strict=True))
    return {
        "from": before,
        "to": after,
        "sessions": n,
        "moved": to_canary + to_prod,
        "moved_share": (to_canary + to_prod) / n,
        "ideal_share": abs(after - before),
        "production_to_canary": to_canary,
        "canary_to_production": to_prod,
        "canary_before": sum(a),
        "canary_after": sum(b),
    }


# -- 3. cost -----------------------------------------------------------------------------------
def per_call_us(fn: Any, items: list[str], repeats: int) -> list[float]:
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for s in items:
            fn(s)
        out.append((time.perf_counter() - t0) / len(items) * 1e6)
    return out


def cost(db: Any, ids: list[str], repeats: int, n_fast: int, n_store: int) -> dict[str, Any]:
    from llmops.releases.assign import in_canary
    from llmops.releases.core import labels, resolve_release

    weight = labels(db).canary_weight
    fast_ids = ids[:n_fast]
    store_ids = ids[:n_store]
    per_call_us(lambda s: in_canary(s, weight), fast_ids[:2000], 1)  # warm-up
    per_call_us(lambda s: resolve_release(db, s), store_ids[:200], 1)
    fast = per_call_us(lambda s: in_canary(s, weight), fast_ids, repeats)
    store = per_call_us(lambda s: resolve_release(db, s), store_ids, repeats)
    resolved = [resolve_release(db, s).label == "canary" for s in store_ids]
    mismatches = sum(r != in_canary(s, weight) for r, s in zip(resolved, store_ids, strict=True))
    return {
        "weight": weight,
        "in_canary_calls": len(fast_ids),
        "resolve_calls": len(store_ids),
        "repeats": repeats,
        "in_canary_us": statistics.median(fast),
        "in_canary_us_range": [min(fast), max(fast)],
        "resolve_release_us": statistics.median(store),
        "resolve_release_us_range": [min(store), max(store)],
        "ratio": statistics.median(store) / statistics.median(fast),
        "store_vs_in_canary_mismatches": mismatches,
    }


# -- 4. time to automatic rollback -------------------------------------------------------------
def refused_port() -> int:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there: connections are refused at once
    return port


def broken_release(db: Any, run: int) -> str:
    from llmops.releases import core

    cfg = core.ReleaseConfig(
        system_prompt=f"You are the canary assistant (bench run {run}). Answer from the sources.",
        model=core.ModelConfig(
            provider="openai-compatible",
            name="broken",
            base_url=f"http://127.0.0.1:{refused_port()}/v1",
            timeout_s=2,
            max_retries=0,
        ),
    )
    return core.create_release(db, cfg, name=f"broken canary {run}", actor="bench").id


def rollback_run(rt: Any, run: int, weight: float, rate: float, interval: float) -> dict[str, Any]:
    from llmops.releases import core, deploy, rollback

    db = rt.db
    cand = broken_release(db, run)
    deploy.start_canary(db, cand, weight, actor="bench", note=f"bench run {run}")
    rt.tracer.flush()
    turns = canary_turns = 0
    canary_sessions: set[str] = set()
    statuses: dict[str, int] = {}
    prod_ms: list[float] = []
    canary_ms: list[float] = []
    check_ms: list[float] = []
    flush_ms: list[float] = []
    canary_done: list[float] = []  # when each canary turn had finished
    seen: list[int] = []  # canary turns served before each check
    checks = 0
    first_canary: float | None = None
    rolled_at: float | None = None
    message = ""
    min_samples = 0
    t0 = time.perf_counter()
    # the app's worker runs at its own phase: the canary starts anywhere in its interval
    next_check = t0 + random.uniform(0, interval)
    deadline = t0 + 120.0
    while rolled_at is None and time.perf_counter() < deadline:
        due = t0 + turns / rate
        now = time.perf_counter()
        if now < due:
            time.sleep(due - now)
        sid = uuid.uuid4().hex
        start = time.perf_counter()
        turn = rt.chat.respond(QUESTIONS[turns % len(QUESTIONS)], session_id=sid).collect()
        elapsed = (time.perf_counter() - start) * 1000
        turns += 1
        if turn.assignment == "canary":
            canary_turns += 1
            canary_sessions.add(sid)
            canary_ms.append(elapsed)
            statuses[turn.status] = statuses.get(turn.status, 0) + 1
            canary_done.append(time.perf_counter())
            if first_canary is None:
                first_canary = start
        else:
            prod_ms.append(elapsed)
        if time.perf_counter() >= next_check:
            c0 = time.perf_counter()
            rt.tracer.flush()
            c1 = time.perf_counter()
            done = rollback.check(db, now=datetime.now(UTC))
            c2 = time.perf_counter()
            flush_ms.append((c1 - c0) * 1000)
            seen.append(canary_turns)
            check_ms.append((c2 - c1) * 1000)
            checks += 1
            next_check += interval
            if done:
                rolled_at = c2
                message = done[0].message
                min_samples = done[0].rule.min_samples
    if rolled_at is None or first_canary is None:
        raise SystemExit(f"run {run}: the broken canary was not rolled back within 120 s")
    assert core.labels(db).canary is None
    event = rollback.events(db, limit=1)[0]
    enough = canary_done[min_samples - 1]  # the canary turn that met the rule's min samples
    # after the rollback every session is served production again
    after = [
        rt.chat.respond(QUESTIONS[0], session_id=uuid.uuid4().hex).collect() for _ in range(20)
    ]
    return {
        "run": run,
        "release_id": cand,
        "turns": turns,
        "achieved_rate": turns / (rolled_at - t0),
        "canary_turns": canary_turns,
        "canary_sessions": len(canary_sessions),
        "canary_statuses": statuses,
        "canary_turns_in_store_at_rollback": event.samples,
        "seconds_to_rollback": rolled_at - first_canary,
        "seconds_to_min_samples": enough - first_canary,
        "seconds_after_min_samples": rolled_at - enough,
        "min_samples": min_samples,
        "checks": checks,
        "canary_turns_at_each_check": seen,
        # checks that had the rule's min samples in the store and still did not fire
        "missed_checks": sum(n >= min_samples for n in seen[:-1]),
        "check_ms_median": statistics.median(check_ms),
        "flush_ms_median": statistics.median(flush_ms),
        "production_turn_ms_median": statistics.median(prod_ms) if prod_ms else None,
        "canary_turn_ms_median": statistics.median(canary_ms),
        "after_rollback_production": sum(t.assignment == "production" for t in after),
        "after_rollback_ok": sum(t.status == "ok" for t in after),
        "message": message,
    }


def rollback_bench(args: argparse.Namespace, ids: list[str]) -> dict[str, Any]:
    from llmops.releases import core, rollback
    from llmops.runtime import Runtime

    rt = Runtime()
    setup0 = time.perf_counter()
    if rt.kb.ingest().chunks == 0:
        raise SystemExit("the knowledge base is empty: nothing to benchmark")
    for q in QUESTIONS:  # warm-up: embeddings, Chroma, guards, production's chain
        rt.chat.ask(q, session_id="warm-up")
    rt.tracer.flush()
    setup_s = time.perf_counter() - setup0
    # cost of resolving a session on this store, with a (not yet served) canary labelled
    from llmops.releases import deploy

    cand = broken_release(rt.db, 0)
    deploy.start_canary(rt.db, cand, args.weight, actor="bench")
    # one pinned turn imports the OpenAI client stack, so run 1 does not pay for it
    rt.chat.ask(QUESTIONS[0], session_id="warm-up", release_id=cand)
    rt.tracer.flush()
    costs = cost(rt.db, ids, args.cost_repeats, args.cost_calls, args.store_calls)
    deploy.stop_canary(rt.db, actor="bench")
    rules = [r.describe() for r in rollback.list_rules(rt.db) if r.enabled]
    runs = [
        rollback_run(rt, i, args.weight, args.rate, args.interval)
        for i in range(1, args.repeats + 1)
    ]
    assert core.labels(rt.db).canary is None
    rt.close()
    return {"setup_s": setup_s, "cost": costs, "rules": rules, "runs": runs}


def med(runs: list[dict[str, Any]], key: str) -> float:
    return statistics.median(float(r[key]) for r in runs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sessions", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--coverage-seeds", type=int, default=20, help="id sets for the coverage")
    ap.add_argument("--weight", type=float, default=0.20, help="the broken canary's weight")
    ap.add_argument("--rate", type=float, default=20.0, help="chat turns per second")
    ap.add_argument("--interval", type=float, default=1.0, help="seconds between checks")
    ap.add_argument("--repeats", type=int, default=3, help="rollback runs")
    ap.add_argument("--cost-calls", type=int, default=100_000)
    ap.add_argument("--store-calls", type=int, default=2_000)
    ap.add_argument("--cost-repeats", type=int, default=5)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    os.environ["LLMOPS_HOME"] = tempfile.mkdtemp(prefix="llmops-bench-canary-")
    os.environ.pop("LLMOPS_DATABASE_URL", None)  # SQLite in the temporary home
    os.environ["LLMOPS_BACKGROUND_INTERVAL_S"] = str(args.interval)
    import llmops  # noqa: F401  (the offline environment)

    # every broken canary turn logs a warning by design; the rollback's warning stays
    logging.getLogger("llmops.chat").setLevel(logging.ERROR)

    wall0 = time.perf_counter()
    ids = session_ids(args.sessions, args.seed)
    result: dict[str, Any] = {
        "sessions": args.sessions,
        "seed": args.seed,
        "shares": shares(ids),
        "coverage": coverage(args.sessions, args.seed, args.coverage_seeds),
        "cross_process": cross_process(ids[:10_000], 0.10),
        "moves": [moves(ids, 0.10, 0.20), moves(ids, 0.20, 0.10)],
    }
    result.update(rollback_bench(args, ids))
    runs = result["runs"]
    result["rollback"] = {
        "weight": args.weight,
        "rate": args.rate,
        "interval_s": args.interval,
        "repeats": args.repeats,
        "median_seconds_to_rollback": med(runs, "seconds_to_rollback"),
        "median_canary_turns": med(runs, "canary_turns"),
        "median_canary_sessions": med(runs, "canary_sessions"),
    }
    result["wall_s"] = time.perf_counter() - wall0
    if args.json:
        print(json.dumps(result, indent=2, default=str))
        return
    report(result)


def report(r: dict[str, Any]) -> None:
    print(f"1. Assignment shares over {r['sessions']:,} random session ids (seed {r['seed']})")
    print("   weight  canary   share     deviation  z      Wilson 95 % interval   sticky mism.")
    for s in r["shares"]:
        lo, hi = s["ci95"]
        print(
            f"   {s['weight']:>5.0%}  {s['canary']:>7,}  {s['share']:>7.3%}  "
            f"{s['deviation_points']:>+6.3f} pt  {s['z']:>+5.2f}  "
            f"{lo:.3%} – {hi:.3%}{'' if s['weight_in_ci'] else ' (weight outside)':<9}"
            f"  {s['sticky_mismatches']}"
        )
    cp, c = r["cross_process"], r["cost"]
    print(
        f"   another process (other hash seed), {cp['sessions']:,} ids at {cp['weight']:.0%}: "
        f"{cp['mismatches']} mismatches; resolve_release on the store vs in_canary, "
        f"{c['resolve_calls']:,} ids: {c['store_vs_in_canary_mismatches']} mismatches"
    )
    print("\n2. Weight changes")
    print("   change     moved            ideal    prod → canary  canary → prod")
    for m in r["moves"]:
        print(
            f"   {m['from']:.0%} → {m['to']:.0%}  {m['moved']:>6,} ({m['moved_share']:.3%})  "
            f"{m['ideal_share']:.0%}      {m['production_to_canary']:>8,}     "
            f"{m['canary_to_production']:>8,}"
        )
    print(f"\n3. Assignment cost (median of {c['repeats']} repeats)")
    print(
        f"   in_canary        {c['in_canary_us']:>8.2f} µs/call  "
        f"({c['in_canary_us_range'][0]:.2f}–{c['in_canary_us_range'][1]:.2f}; "
        f"{c['in_canary_calls']:,} calls a repeat)"
    )
    print(
        f"   resolve_release  {c['resolve_release_us']:>8.1f} µs/call  "
        f"({c['resolve_release_us_range'][0]:.1f}–{c['resolve_release_us_range'][1]:.1f}; "
        f"{c['resolve_calls']:,} calls a repeat, SQLite)  = {c['ratio']:,.0f}× in_canary"
    )
    cov = ", ".join(
        f"{v['weight']:.0%} {v['covered']}/{v['seeds']} (max |z| {v['max_abs_z']:.2f})"
        for v in r["coverage"]
    )
    print(f"   interval covers the weight over {r['coverage'][0]['seeds']} other id sets: {cov}")
    rb = r["rollback"]
    print(
        f"\n4. Automatic rollback: broken canary at {rb['weight']:.0%}, {rb['rate']:g} turns/s, "
        f"check every {rb['interval_s']:g} s (setup {r['setup_s']:.1f} s)"
    )
    for rule in r["rules"]:
        print(f"   rule: {rule}")
    print(
        "   run  turns  rate/s  canary turns  users  in store  checks  s to rollback"
        "  (to min samples + after)  flush / check ms"
    )
    for x in r["runs"]:
        print(
            f"   {x['run']:>3}  {x['turns']:>5}  {x['achieved_rate']:>6.1f}  "
            f"{x['canary_turns']:>12}  {x['canary_sessions']:>5}  "
            f"{x['canary_turns_in_store_at_rollback']:>8}  {x['checks']:>6}  "
            f"{x['seconds_to_rollback']:>13.2f}  ({x['seconds_to_min_samples']:.2f} + "
            f"{x['seconds_after_min_samples']:.2f}){'':>10}  "
            f"{x['flush_ms_median']:.1f} / {x['check_ms_median']:.1f}"
        )
    print(
        f"   median: {rb['median_canary_turns']:g} canary turns, "
        f"{rb['median_canary_sessions']:g} users saw the broken canary, "
        f"{rb['median_seconds_to_rollback']:.2f} s from the first canary turn to the rollback"
    )
    x = r["runs"][-1]
    print(
        f"   turn p50: production {x['production_turn_ms_median']:.1f} ms, broken canary "
        f"{x['canary_turn_ms_median']:.1f} ms; canary statuses {x['canary_statuses']}; "
        f"after the rollback {x['after_rollback_production']}/20 production, "
        f"{x['after_rollback_ok']}/20 ok"
    )
    print(f"   {x['message']}")
    print(f"\nwall {r['wall_s']:.1f} s")


if __name__ == "__main__":
    main()
