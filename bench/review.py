"""Agreement statistics against published values: the library, then the review pipeline.

    .venv/bin/python bench/review.py [--url postgresql+psycopg://...] [--json]

1. ``llmops.evals.stats.cohen_kappa`` and ``fleiss_kappa`` on tables whose kappa is
   published: Wikipedia's Cohen examples (2 x 2), two SAS PROC FREQ printouts (3 x 3), the
   Fleiss (1971) and Wikipedia Fleiss tables, and two of Randolph's online-calculator cases.
2. The real pipeline on a fresh store (SQLite under a temporary directory, or a fresh schema
   of the PostgreSQL database given by ``--url`` / LLMOPS_TEST_DATABASE_URL with ``--pg``):
   live traces are written through the span writer's rows, a queue is created with
   ``queues.create_queue`` (``reviewers_per_item=2``), two reviewers take every item with
   ``next_item`` and record verdicts with ``label`` so that their verdict table equals a
   published table (yes -> correct, no -> wrong; 3 x 3: correct / partly / wrong), and
   ``agreement.reviewers(db, queue)`` must give the published kappa. One more queue with
   seven reviewers per item reproduces a published 3-category Fleiss value.

Printed: expected, computed, absolute error. Nothing asserts; a mismatch is printed as FAIL.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TOLERANCE = 5e-4  # published values have 3-4 decimals

# -- published tables ------------------------------------------------------------------------------
# Cohen: rows = rater A's category, columns = rater B's.
WIKI_2X2 = [[20, 5], [10, 15]]  # en.wikipedia.org/wiki/Cohen's_kappa, simple example: 0.40
WIKI_SAME_PCT_1 = [[45, 15], [25, 15]]  # ibid., "same percentages but different numbers": 0.1304
WIKI_SAME_PCT_2 = [[25, 35], [5, 35]]  # ibid.: 0.2593
SAS_UEBERSAX = [[0, 0, 0], [5, 16, 3], [8, 12, 28]]  # SAS PROC FREQ (john-uebersax.com): 0.3333
SAS_TABLE10 = [[0, 4, 1], [0, 8, 0], [0, 1, 5]]  # SAS PROC FREQ printout: 0.4842
# Fleiss: items x categories, how many raters chose each.
WIKI_FLEISS = [[0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0],
               [2, 2, 8, 1, 1], [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2],
               [6, 5, 2, 1, 0], [0, 2, 2, 3, 7]]  # 10 items, 14 raters: 0.210  # fmt: skip
# Fleiss (1971): 30 patients, 6 psychiatrists, 5 diagnoses (one row per patient, the raters'
# choices); Fleiss reports 0.430, R irr::kappam.fleiss 0.4302445.
FLEISS_1971 = [[4, 4, 4, 4, 4, 4], [2, 2, 2, 5, 5, 5], [2, 3, 3, 3, 3, 5], [5, 5, 5, 5, 5, 5],
               [2, 2, 2, 4, 4, 4], [1, 1, 3, 3, 3, 3], [3, 3, 3, 3, 5, 5], [1, 1, 3, 3, 3, 4],
               [1, 1, 4, 4, 4, 4], [5, 5, 5, 5, 5, 5], [1, 4, 4, 4, 4, 4], [1, 2, 4, 4, 4, 4],
               [2, 2, 2, 3, 3, 3], [1, 4, 4, 4, 4, 4], [2, 2, 4, 4, 4, 5], [3, 3, 3, 3, 3, 5],
               [1, 1, 1, 4, 5, 5], [1, 1, 1, 1, 1, 2], [2, 2, 4, 4, 4, 4], [1, 3, 3, 5, 5, 5],
               [5, 5, 5, 5, 5, 5], [2, 4, 4, 4, 4, 4], [2, 2, 4, 5, 5, 5], [1, 1, 4, 4, 4, 4],
               [1, 4, 4, 4, 4, 5], [2, 2, 2, 2, 2, 4], [1, 1, 1, 1, 5, 5], [2, 2, 4, 4, 4, 4],
               [1, 3, 3, 3, 3, 3], [5, 5, 5, 5, 5, 5]]  # fmt: skip
RANDOLPH_3CAT = [[6, 1, 0], [0, 7, 0]]  # justusrandolph.net/kappa, fixed-marginal: 0.708333
RANDOLPH_2CAT = [[7, 1], [3, 5]]  # ibid.: 0.161905


def pairs_from(table: list[list[int]], labels: list[str]) -> list[tuple[str, str]]:
    """The (rater A, rater B) label of every item of a contingency table."""
    return [(labels[i], labels[j]) for i, row in enumerate(table) for j, n in enumerate(row)
            for _ in range(n)]  # fmt: skip


def counts_from_choices(rows: list[list[int]], categories: int) -> list[list[int]]:
    return [[row.count(c) for c in range(1, categories + 1)] for row in rows]


def scott_pi(table: list[list[int]]) -> float:
    """Scott's pi, exactly (what Fleiss' kappa is with two raters, Fleiss 1971)."""
    n = sum(map(sum, table))
    k = len(table)
    observed = Fraction(sum(table[i][i] for i in range(k)), n)
    pooled = [Fraction(sum(table[i]) + sum(r[i] for r in table), 2 * n) for i in range(k)]
    expected = sum(p * p for p in pooled)
    return float((observed - expected) / (1 - expected))


def _check(name: str, source: str, expected: float | None, computed: float | None,
           tolerance: float = TOLERANCE) -> dict[str, Any]:  # fmt: skip
    if expected is None or computed is None:
        ok, err = expected is None and computed is None, None
    else:
        err = abs(expected - computed)
        ok = err <= tolerance
    return {"name": name, "source": source, "expected": expected, "computed": computed,
            "abs_error": err, "ok": ok}  # fmt: skip


# -- 1. the library -------------------------------------------------------------------------------
def library() -> list[dict[str, Any]]:
    from llmops.evals.stats import cohen_kappa, fleiss_kappa

    out = []
    for name, table, expected, source in (
        ("Cohen 2x2, 50 items", WIKI_2X2, 0.40, "Wikipedia, Cohen's kappa (simple example)"),
        ("Cohen 2x2, 100 items (a)", WIKI_SAME_PCT_1, 0.1304, "Wikipedia (same percentages)"),
        ("Cohen 2x2, 100 items (b)", WIKI_SAME_PCT_2, 0.2593, "Wikipedia (same percentages)"),
        ("Cohen 3x3, 72 items", SAS_UEBERSAX, 0.3333, "SAS PROC FREQ (Uebersax)"),
        ("Cohen 3x3, 19 items", SAS_TABLE10, 0.4842, "SAS PROC FREQ printout"),
    ):
        labels = ["c0", "c1", "c2"][: len(table)]
        a, b = zip(*pairs_from(table, labels), strict=True)
        out.append(_check(name, source, expected, cohen_kappa(a, b)))
    out.append(_check("Cohen, both raters always 'correct'", "undefined by definition", None,
                      cohen_kappa(["correct"] * 5, ["correct"] * 5)))  # fmt: skip
    for name, table, expected, source, tol in (
        ("Fleiss 10 items x 14 raters x 5", WIKI_FLEISS, 0.210, "Wikipedia, Fleiss' kappa", 5e-4),
        ("Fleiss 30 items x 6 raters x 5", counts_from_choices(FLEISS_1971, 5), 0.4302445,
         "Fleiss (1971); R irr::kappam.fleiss", 1e-6),
        ("Fleiss 2 items x 7 raters x 3", RANDOLPH_3CAT, 0.708333, "Randolph's calculator", 1e-6),
        ("Fleiss 2 items x 8 raters x 2", RANDOLPH_2CAT, 0.161905, "Randolph's calculator", 1e-6),
    ):  # fmt: skip
        out.append(_check(name, source, expected, fleiss_kappa(table), tol))
    return out


# -- 2. the pipeline ------------------------------------------------------------------------------
def _seed_traces(db: Any, home: Path, release: str, n: int, start: datetime) -> None:
    from llmops.tracing.writer import SpanWriter, TraceRow

    rng = random.Random(release)
    rows = []
    for i in range(n):
        at = start + timedelta(seconds=i)
        ts = at.replace(tzinfo=None).isoformat(" ", "microseconds")
        rows.append(TraceRow(
            id=f"{int(at.timestamp() * 1000):012x}{rng.getrandbits(80):020x}", name="chat",
            session_id=f"live-{i}", user_id=None, release_id=release, model="local-extractive",
            status="ok", started_at=ts, ended_at=ts, latency_ms=80.0, ttft_ms=70.0,
            input_tokens=500, output_tokens=60, cost=0.0, input=f"Question {i} of {release}?",
            output=f"Answer {i}.", error=None, tags=None, attributes=None,
        ))  # fmt: skip
    SpanWriter(db, home / "spool", start=False).write_rows({"trace": rows})


def _label_queue(db: Any, queue: str, plan: dict[int, dict[str, str]]) -> int:
    """Every reviewer takes items with ``next_item`` and labels each as ``plan`` says
    (item position in the queue -> reviewer -> verdict)."""
    from sqlalchemy import select

    from llmops.review import queues
    from llmops.store.models import ReviewItem

    q = queues.get_queue(db, queue)
    with db.session() as s:
        ids = list(s.scalars(select(ReviewItem.id).where(ReviewItem.queue_id == q.id)
                             .order_by(ReviewItem.id)))  # fmt: skip
    position = {item_id: k for k, item_id in enumerate(ids)}
    reviewers = sorted({r for p in plan.values() for r in p})
    labelled = 0
    for who in reviewers:
        while (task := queues.next_item(db, queue, who)) is not None:
            queues.label(db, task.item_id, who, plan[position[task.item_id]][who])
            labelled += 1
    return labelled


def pipeline(url: str, home: Path) -> list[dict[str, Any]]:
    from llmops.review import agreement, queues
    from llmops.runtime import bootstrap
    from llmops.store.db import Database

    db = Database(url)
    bootstrap(db)
    start = datetime.now(UTC) - timedelta(hours=2)
    out = []
    for qname, table, labels, expected, source in (
        ("wikipedia 2x2", WIKI_2X2, ["correct", "wrong"], 0.40, "Wikipedia (Cohen)"),
        ("sas 3x3", SAS_UEBERSAX, ["correct", "partly", "wrong"], 0.3333, "SAS PROC FREQ"),
    ):
        pairs = pairs_from(table, labels)
        random.Random(qname).shuffle(pairs)  # verdicts in no particular order
        release = f"rel_{uuid.uuid4().hex[:8]}"
        _seed_traces(db, home, release, len(pairs), start)
        queues.create_queue(db, qname, {"release_id": release}, reviewers_per_item=2,
                            actor="bench")  # fmt: skip
        plan = {k: {"ana": a, "bo": b} for k, (a, b) in enumerate(pairs)}
        t = time.perf_counter()
        labelled = _label_queue(db, qname, plan)
        label_s = time.perf_counter() - t
        t = time.perf_counter()
        result = agreement.reviewers(db, qname)
        agree_ms = (time.perf_counter() - t) * 1000
        (pair,) = result.pairs
        progress = queues.progress(db, qname)
        note = (f"{len(pairs)} items, {labelled} verdicts in {label_s:.1f} s, "
                f"{progress.done}/{progress.total} done, agreement.reviewers {agree_ms:.0f} ms")  # fmt: skip
        observed = sum(a == b for a, b in pairs) / len(pairs)
        out.append(_check(f"queue '{qname}': Cohen kappa (ana, bo)", source, expected,
                          pair.kappa) | {"note": note})  # fmt: skip
        out.append(_check(f"queue '{qname}': raw agreement", "the table's diagonal", observed,
                          pair.agreement, 1e-4))  # fmt: skip
        out.append(_check(f"queue '{qname}': Fleiss kappa, 2 raters", "= Scott's pi, by hand",
                          scott_pi(table), result.fleiss_kappa, 1e-4)
                   | {"note": f"{result.fleiss_items} items, {result.raters_per_item} raters"})  # fmt: skip
    # seven reviewers per item, three verdicts: Randolph's 3-category Fleiss case
    release = f"rel_{uuid.uuid4().hex[:8]}"
    _seed_traces(db, home, release, 2, start)
    queues.create_queue(db, "seven raters", {"release_id": release}, reviewers_per_item=7)
    names = [f"r{i}" for i in range(1, 8)]
    plan = {0: {n: ("partly" if n == "r7" else "correct") for n in names},
            1: {n: "partly" for n in names}}  # rows [6, 1, 0] and [0, 7, 0]  # fmt: skip
    _label_queue(db, "seven raters", plan)
    result = agreement.reviewers(db, "seven raters")
    out.append(_check("queue 'seven raters': Fleiss kappa", "Randolph's calculator", 0.708333,
                      result.fleiss_kappa, 1e-4)
               | {"note": f"{result.fleiss_items} items, {result.raters_per_item} raters; "
                          "kappa is rounded to 4 decimals by agreement.reviewers"})  # fmt: skip
    db.dispose()
    return out


def _pg_schema(url: str) -> tuple[str, str]:
    from sqlalchemy import create_engine, make_url, text

    schema = f"bench_review_{uuid.uuid4().hex[:8]}"
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine.dispose()
    u = make_url(url)
    return schema, u.set(query={**u.query, "options": f"-csearch_path={schema}"}).render_as_string(
        hide_password=False
    )


def _drop_schema(url: str, schema: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    engine.dispose()


def _fmt(v: float | None) -> str:
    return "None" if v is None else f"{v:.6f}"


def show(results: dict[str, Any]) -> None:
    for section, rows in results["checks"].items():
        print(f"== {section}")
        print(f"{'check':<48}{'expected':>10}{'computed':>10}{'abs err':>10}  source")
        for r in rows:
            err = "" if r["abs_error"] is None else f"{r['abs_error']:.1e}"
            flag = "" if r["ok"] else "  FAIL"
            print(f"{r['name']:<48}{_fmt(r['expected']):>10}{_fmt(r['computed']):>10}"
                  f"{err:>10}  {r['source']}{flag}")  # fmt: skip
            if r.get("note"):
                print(f"{'':<4}({r['note']})")
    print(f"{results['passed']}/{results['total']} within tolerance")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--url", help="PostgreSQL URL (a fresh schema is created and dropped)")
    ap.add_argument("--pg", action="store_true",
                    help="also run the pipeline on LLMOPS_TEST_DATABASE_URL")  # fmt: skip
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    home = Path(tempfile.mkdtemp(prefix="llmops-bench-review-"))
    os.environ.setdefault("LLMOPS_HOME", str(home))
    checks: dict[str, list[dict[str, Any]]] = {"library (llmops.evals.stats)": library()}
    checks["pipeline on SQLite (queues -> label -> agreement.reviewers)"] = pipeline(
        f"sqlite:///{home / 'review.db'}", home
    )
    pg = args.url or (os.environ.get("LLMOPS_TEST_DATABASE_URL") if args.pg else None)
    if pg:
        schema, url = _pg_schema(pg)
        try:
            checks["pipeline on PostgreSQL"] = pipeline(url, home)
        finally:
            _drop_schema(pg, schema)
    rows = [r for rs in checks.values() for r in rs]
    results = {"checks": checks, "passed": sum(r["ok"] for r in rows), "total": len(rows)}
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        show(results)


if __name__ == "__main__":
    main()
