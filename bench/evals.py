"""Evaluation benchmarks: runner throughput, tracing overhead inside runs, demo quality.

    .venv/bin/python bench/evals.py [--items 200] [--concurrency 4] [--json]
    .venv/bin/python bench/evals.py --quality [--failures]
    .venv/bin/python bench/evals.py --breakdown [--items 200]
    .venv/bin/python bench/evals.py --suggestions 100000

Throughput: a 200-item run (the demo dataset's questions, each made unique with a case
number so no cache is hit across items) through the real
Runtime — store, span writer, guards, embeddings, Chroma, LocalModel — with the cheap
evaluators (no embeddings, no judge), after a warm-up run. Then the same run with the
embedding evaluators, and with tracing off (the runner's sink drops every record) to show
what tracing costs inside a run; compare the figures of one invocation as ratios.

Quality: the default release on the shipped demo dataset and on a held-out set of questions
written separately (bench/data/evals_holdout.jsonl, never used to tune anything), per
language: contains-all, groundedness, answer relevance. Target (issue 5): contains-all of at
least 0.8 in English and in Spanish on the demo dataset.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
HOLDOUT = ROOT / "bench" / "data" / "evals_holdout.jsonl"

CHEAP = ["contains_all", "must_include_recall", "groundedness", "context_recall", "refusal",
         "guard_pass", "latency", "cost"]  # fmt: skip
EMBEDDING = ["answer_relevance", "semantic_similarity"]
QUALITY = ["contains_all", "groundedness", "answer_relevance", "context_recall", "refusal"]


def _runtime() -> Any:
    os.environ["LLMOPS_HOME"] = tempfile.mkdtemp(prefix="llmops-bench-evals-")
    from llmops.runtime import Runtime

    rt = Runtime()
    if rt.kb.ingest().chunks == 0:
        sys.exit("the knowledge base is empty: nothing to benchmark")
    return rt


def _cpu() -> float:
    t = os.times()
    return t.user + t.system


def throughput(items: int, concurrency: int) -> dict[str, Any]:
    from llmops.evals import datasets as ds
    from llmops.evals.runner import CaptureSink, EvalRunner
    from llmops.tracing.tracer import NullSink, Tracer

    rt = _runtime()
    demo = ds.parse_jsonl(ds.DEMO_PATH.read_bytes())
    made = 0

    def dataset() -> str:
        """A fresh dataset: every input unique (a case number) across all runs, so no cache
        (redaction, embeddings) is hit by a later run."""
        nonlocal made
        cases = []
        for i in range(items):
            case = ds.Case(**{**demo[i % len(demo)].__dict__})
            case.input = f"{case.input} (case {made * items + i})"
            cases.append(case)
        made += 1
        return ds.add_cases(rt.db, f"bench-{made}", cases).name

    traced = EvalRunner.from_runtime(rt)
    untraced = EvalRunner.from_runtime(rt)
    sink = CaptureSink(NullSink())  # keeps what evaluators need, stores nothing
    untraced.sink = sink
    untraced.chat.tracer = Tracer(sink)
    untraced.chat._chains.clear()

    def timed(runner: EvalRunner, evaluators: list[str]) -> dict[str, float]:
        run = runner.create(dataset(), "production", evaluators=evaluators, concurrency=concurrency)
        c0, t0 = _cpu(), time.perf_counter()
        done = runner.run(run.id)
        rt.tracer.flush(60)  # traced runs: every span in the store before the clock stops
        wall, cpu = time.perf_counter() - t0, _cpu() - c0
        assert done.status == "completed", done.error
        return {"items_per_s": round(items / wall, 1), "seconds": round(wall, 2),
                "cpu_ms_per_item": round(1000 * cpu / items, 1)}  # fmt: skip

    timed(traced, CHEAP)  # warm-up: models loaded, chains and guards built per thread
    timed(untraced, CHEAP)
    out = {
        "items": items,
        "concurrency": concurrency,
        "cheap_traced": timed(traced, CHEAP),
        "cheap_untraced": timed(untraced, CHEAP),
        "with_embeddings_traced": timed(traced, [*CHEAP, *EMBEDDING]),
    }
    t, u = out["cheap_traced"], out["cheap_untraced"]
    out["tracing_overhead"] = {
        "wall_ratio": round(t["seconds"] / u["seconds"], 2),
        "cpu_ms_per_item": round(t["cpu_ms_per_item"] - u["cpu_ms_per_item"], 1),
    }
    serial = EvalRunner.from_runtime(rt)
    run = serial.create(dataset(), "production", evaluators=CHEAP, concurrency=1)
    t0 = time.perf_counter()
    serial.run(run.id)
    out["cheap_traced_serial"] = {"items_per_s": round(items / (time.perf_counter() - t0), 1)}
    rt.close()
    return out


def breakdown(turns: int) -> dict[str, Any]:
    """Where an item's time goes: unique questions answered serially by the chat pipeline
    without guards and tracing, with guards, with guards and tracing (the writer's thread,
    which redacts every span, included: it is flushed before the clock stops), then the
    cheap evaluators alone. Milliseconds of process CPU per turn."""
    from llmops.chat import ChatService, NoGuards
    from llmops.evals import datasets as ds
    from llmops.evals.evaluators import EvalContext, EvalInput, resolve, score_all
    from llmops.tracing.tracer import Tracer

    rt = _runtime()
    qs = [c.input for c in ds.parse_jsonl(ds.DEMO_PATH.read_bytes())]
    bare = ChatService(rt.settings, rt.db, rt.kb, Tracer(), guards=NoGuards())
    guarded = ChatService(rt.settings, rt.db, rt.kb, Tracer(), guards=rt.chat.guards)
    out: dict[str, Any] = {"turns": turns}
    for name, ask in (("chat_only", bare.ask), ("with_guards", guarded.ask),
                      ("with_guards_and_tracing", rt.chat.ask)):  # fmt: skip
        for q in qs[:10]:
            ask(q)  # warm-up
        rt.tracer.flush(60)
        c0, t0 = _cpu(), time.perf_counter()
        for i in range(turns):
            ask(f"{qs[i % len(qs)]} (turn {i} of {name})")  # unique: no cache carries over
        rt.tracer.flush(60)
        out[name] = {"cpu_ms": round(1000 * (_cpu() - c0) / turns, 1),
                     "wall_ms": round(1000 * (time.perf_counter() - t0) / turns, 1)}  # fmt: skip
    ctx = EvalContext()
    evaluators = resolve(CHEAP, ctx)
    turn = rt.chat.ask(qs[0])
    case = EvalInput(qs[0], turn.answer, must_include=["x"], contexts=[turn.answer] * 4,
                     latency_ms=50.0)  # fmt: skip
    c0 = _cpu()
    for _ in range(turns):
        score_all(evaluators, case, ctx)
    out["cheap_evaluators"] = {"cpu_ms": round(1000 * (_cpu() - c0) / turns, 2)}
    rt.close()
    return out


def suggestions(traces: int) -> dict[str, Any]:
    """The Evaluations page's suggestion list (thumbs-down traces not yet in a dataset, with
    their comment and guard-event count) over ``traces`` synthetic traces: ms per page."""
    from llmops.demo import seed
    from llmops.evals import mining

    os.environ["LLMOPS_HOME"] = tempfile.mkdtemp(prefix="llmops-bench-evals-")
    from llmops.runtime import Runtime

    rt = Runtime()
    seed(rt.db, traces=traces)
    out: dict[str, Any] = {"traces": traces}
    for name, q in (("thumbs_down", mining.TraceQuery()),
                    ("guard_events", mining.TraceQuery(feedback=None, guard_events=True))):  # fmt: skip
        times = []
        for _ in range(5):
            t0 = time.perf_counter()
            _, total = mining.candidate_traces(rt.db, q, limit=25)
            times.append(1000 * (time.perf_counter() - t0))
        out[name] = {"matching": total, "page_ms_median": round(sorted(times)[2], 1)}
    rt.close()
    return out


def quality(show_failures: bool) -> dict[str, Any]:
    from llmops.evals import datasets as ds
    from llmops.evals.runner import EvalRunner
    from llmops.evals.runs import list_results

    rt = _runtime()
    ds.load_demo(rt.db)
    ds.add_cases(rt.db, "holdout", ds.read_cases(HOLDOUT))
    runner = EvalRunner.from_runtime(rt)
    out: dict[str, Any] = {}
    for name in ("demo", "holdout"):
        run = runner.run(runner.create(name, "production", evaluators=QUALITY).id)
        by_lang = run.metrics["by_lang"]
        out[name] = {
            lang: {k: round(v, 3) for k, v in per.items() if k in QUALITY}
            for lang, per in by_lang.items()
        }
        out[name]["items"] = run.total_items
        if show_failures:
            rows, _ = list_results(rt.db, run.id, sort_by="contains_all", limit=500)
            for r in rows:
                if r.scores.get("contains_all") == 0.0 or r.scores.get("refusal") == 0.0:
                    print(f"--- [{name} {r.lang}] {r.input}\n    {(r.output or '')[:300]}\n"
                          f"    {r.explanations.get('contains_all')} | "
                          f"{r.explanations.get('context_recall')}", file=sys.stderr)  # fmt: skip
    rt.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=200)
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--quality", action="store_true", help="demo-dataset quality instead")
    ap.add_argument("--failures", action="store_true", help="with --quality: list failures")
    ap.add_argument("--breakdown", action="store_true", help="CPU per pipeline stage instead")
    ap.add_argument("--suggestions", type=int, metavar="TRACES", help="suggestion list timing")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if args.quality:
        result = quality(args.failures)
    elif args.suggestions:
        result = suggestions(args.suggestions)
    elif args.breakdown:
        result = breakdown(args.items)
    else:
        result = throughput(args.items, args.concurrency)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    for key, value in result.items():
        print(f"  {key:<24} {value}")


if __name__ == "__main__":
    main()
