"""A full chat turn with the offline LocalModel: p50/p95 latency and time to the first chunk.

    .venv/bin/python bench/chat_turn.py [--turns 200] [--json]

Through the real Runtime (store, writer, guards, embeddings, Chroma, LocalModel) with the
shipped knowledge base ingested into a temporary LLMOPS_HOME; questions rotate over English and
Spanish. Target (issue 2): p50 under 100 ms on this 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

QUESTIONS = [
    "What is LLMOps?",
    "How do canary releases work?",
    "What does monitoring track?",
    "What is the difference between monitoring and evaluation?",
    "How do I roll back a release?",
    "What is prompt injection?",
    "What does p95 latency mean?",
    "How is cost computed?",
    "What is groundedness?",
    "How do I give feedback on an answer?",
    "¿Qué es LLMOps?",
    "¿Cómo funciona un despliegue canary?",
    "¿Qué mide la monitorización?",
    "¿Qué es la inyección de prompts?",
    "¿Cómo se calcula el coste?",
    "¿Qué es la fundamentación?",
    "¿Qué es una versión?",
    "¿Para qué sirve una puerta de integración continua?",
    "What is responsible AI?",
    "How does RAG differ from fine-tuning?",
    # follow-ups and small talk: sessions rotate over 7 ids, so each turn reads its session's
    # history from the store and these are condensed against the previous question
    "How do I prevent it?",
    "¿y en producción?",
    "hola",
]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--turns", type=int, default=200)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    os.environ["LLMOPS_HOME"] = tempfile.mkdtemp(prefix="llmops-bench-chat-")
    from llmops.runtime import Runtime

    rt = Runtime()
    report = rt.kb.ingest()
    if report.chunks == 0:
        sys.exit("the knowledge base is empty: nothing to benchmark")
    chat = rt.chat
    for q in QUESTIONS:  # warm-up: models loaded, chains and guards built
        chat.ask(q)
    total: list[float] = []
    first: list[float] = []
    spans = 0
    for i in range(args.turns):
        q = QUESTIONS[i % len(QUESTIONS)]
        t0 = time.perf_counter()
        stream = chat.respond(q, session_id=f"bench-{i % 7}")
        it = iter(stream)
        next(it)
        first.append((time.perf_counter() - t0) * 1000)
        for _ in it:
            pass
        total.append((time.perf_counter() - t0) * 1000)
    rt.tracer.flush()
    with rt.db.engine.connect() as c:
        spans = c.exec_driver_sql("SELECT count(*) FROM spans").scalar() or 0
        traces = c.exec_driver_sql("SELECT count(*) FROM traces").scalar() or 1
    rt.close()
    result = {
        "turns": args.turns,
        "p50_ms": round(statistics.median(total), 1),
        "p95_ms": round(pct(total, 0.95), 1),
        "mean_ms": round(statistics.fmean(total), 1),
        "first_chunk_p50_ms": round(statistics.median(first), 1),
        "first_chunk_p95_ms": round(pct(first, 0.95), 1),
        "spans_per_turn": round(spans / traces, 1),
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"{args.turns} turns (after warm-up), {len(QUESTIONS)} EN/ES questions")
    for k, v in result.items():
        print(f"  {k:<20} {v}")


if __name__ == "__main__":
    main()
