"""Chat turns whose questions are all different and 8+ words long, so the input guard's learned
injection detector scores each one (its own cache never hits): p50 and mean turn time.

    .venv/bin/python bench/chat_unique.py [--turns 160] [--json]

Through the real Runtime with the shipped knowledge base in a temporary LLMOPS_HOME; the first
10 turns are warm-up. Compare two trees in one session (the machine is shared and noisy).
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

TOPICS = ["canary releases", "latency monitoring", "evaluation datasets", "guardrails",
          "cost per token", "rollbacks", "feedback loops", "retention"]  # fmt: skip
WARM_UP = 10


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=160)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    os.environ["LLMOPS_HOME"] = tempfile.mkdtemp(prefix="llmops-bench-unique-")
    from llmops.runtime import Runtime

    rt = Runtime()
    rt.kb.ingest()
    chat = rt.chat
    times = []
    for i in range(args.turns):
        question = (
            f"Could you please explain in detail how {TOPICS[i % 8]} work in practice, case {i}?"
        )
        start = time.perf_counter()
        chat.respond(question, session_id=f"bench-unique-{i}").collect()
        times.append((time.perf_counter() - start) * 1000)
    kept = times[WARM_UP:]
    result = {"turns": len(kept), "p50_ms": round(statistics.median(kept), 1),
              "mean_ms": round(statistics.mean(kept), 1)}  # fmt: skip
    print(json.dumps(result) if args.json else
          f"{result['turns']} turns: p50 {result['p50_ms']} ms, mean {result['mean_ms']} ms")  # fmt: skip


if __name__ == "__main__":
    main()
