"""What tracing costs a chain: no callbacks vs a do-nothing handler vs ours, one run, ratios.

    .venv/bin/python bench/tracing_overhead.py [--n 3000] [--rounds 10] [--json]
                                               [--compare-ref GIT_REF] [--fresh-thread]

The same 5-span LCEL chain (lambda | prompt | chat model | parser, inside a sequence) runs in
interleaved rounds in three modes; ours writes to a real SQLite store through the batching
writer, which runs concurrently as in production. Target (issue 2): our overhead at most
1.3x the do-nothing handler's overhead, and every span in the store afterwards.

``--compare-ref`` adds one more interleaved mode: the handler as it was at a git commit
(``llmops/tracing/handler.py`` loaded from ``git show REF:...``), spans to a list like
"handler only", so a change to the hot path is measured against its parent in one run
(with it, every other round runs the modes in reverse order).

``--fresh-thread`` runs every call on a new thread, as Streamlit runs every script run: the
thread's start and join are the same in every mode and cancel out of the overheads, and the
CPU figures are the new threads' own CPU time.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import types
from collections import deque
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnableLambda
from sqlalchemy import func, select

import llmops  # noqa: F401
from llmops.store.db import Database
from llmops.store.migrate import upgrade
from llmops.store.models import Span
from llmops.tracing import SpanWriter, TracingCallbackHandler


class FixedModel(BaseChatModel):
    @property
    def _llm_type(self) -> str:
        return "fixed"

    def _generate(
        self, messages: Any, stop: Any = None, run_manager: Any = None, **kwargs: Any
    ) -> ChatResult:
        msg = AIMessage(
            content="ok", usage_metadata={"input_tokens": 5, "output_tokens": 1, "total_tokens": 6}
        )
        return ChatResult(generations=[ChatGeneration(message=msg)])


class Nothing(BaseCallbackHandler):
    run_inline = True
    raise_error = False


def _handler_at(ref: str) -> Any:
    """``TracingCallbackHandler`` as ``llmops/tracing/handler.py`` was at git ``ref``."""
    root = Path(__file__).resolve().parent.parent
    source = subprocess.run(
        ["git", "show", f"{ref}:llmops/tracing/handler.py"],
        cwd=root, check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    module = types.ModuleType("llmops.tracing._handler_at_ref")
    sys.modules[module.__name__] = module  # a dataclass in it looks its module up
    exec(compile(source, f"{ref}:llmops/tracing/handler.py", "exec"), module.__dict__)
    return module.TracingCallbackHandler


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=3000, help="invocations per mode")
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--compare-ref", help="also time the handler as it was at this git ref")
    ap.add_argument("--fresh-thread", action="store_true", help="every call on a new thread")
    args = ap.parse_args()

    home = Path(tempfile.mkdtemp(prefix="llmops-bench-tracing-"))
    db = Database(f"sqlite:///{home / 'bench.db'}")
    upgrade(db)
    writer = SpanWriter(db, home / "spool")
    chain = (
        RunnableLambda(lambda q: {"q": q})
        | ChatPromptTemplate.from_messages([("human", "{q}")])
        | FixedModel()
        | StrOutputParser()
    )
    spans_per_call = 5  # sequence, lambda, prompt, model, parser
    nothing = Nothing()

    def run_plain() -> None:
        chain.invoke("hi")

    def run_nothing() -> None:
        chain.invoke("hi", config={"callbacks": [nothing]})

    def run_ours() -> None:
        chain.invoke("hi", config={"callbacks": [TracingCallbackHandler(writer.submit)]})

    sink: deque[Any] = deque()

    def run_handler_only() -> None:  # the hot path alone: records queued, then dropped
        chain.invoke("hi", config={"callbacks": [TracingCallbackHandler(sink.append)]})
        sink.clear()

    modes = {
        "no callbacks": run_plain,
        "do-nothing handler": run_nothing,
        "llmops": run_ours,
        "llmops handler only": run_handler_only,  # diagnosis: same, spans to a list
    }
    if args.compare_ref:
        old_handler = _handler_at(args.compare_ref)

        def run_handler_at_ref() -> None:
            chain.invoke("hi", config={"callbacks": [old_handler(sink.append)]})
            sink.clear()

        modes[f"llmops handler only @{args.compare_ref}"] = run_handler_at_ref
    for fn in modes.values():  # warm-up
        for _ in range(200):
            fn()
    writer.flush()
    with db.session() as s:
        before = s.scalar(select(func.count()).select_from(Span)) or 0

    samples: dict[str, list[float]] = {m: [] for m in modes}
    cpu: dict[str, list[float]] = {m: [] for m in modes}  # the calling thread's CPU time
    per_round = max(1, args.n // args.rounds)
    for r in range(args.rounds):
        order = list(modes.items())
        if args.compare_ref and r % 2:  # A/B: alternate the order, so no mode is always last
            order.reverse()
        for name, fn in order:
            if args.fresh_thread:
                thread_cpu: list[int] = []

                def on_new_thread(fn: Any = fn, thread_cpu: list[int] = thread_cpu) -> None:
                    c = time.thread_time_ns()
                    fn()
                    thread_cpu.append(time.thread_time_ns() - c)

                t0 = time.perf_counter_ns()
                for _ in range(per_round):
                    t = threading.Thread(target=on_new_thread)
                    t.start()
                    t.join()
                t1 = time.perf_counter_ns()
                samples[name].append((t1 - t0) / per_round / 1000)
                cpu[name].append(sum(thread_cpu) / per_round / 1000)
                continue
            t0, c0 = time.perf_counter_ns(), time.thread_time_ns()
            for _ in range(per_round):
                fn()
            c1, t1 = time.thread_time_ns(), time.perf_counter_ns()
            samples[name].append((t1 - t0) / per_round / 1000)
            cpu[name].append((c1 - c0) / per_round / 1000)
    calls = per_round * args.rounds
    flushed = writer.flush(60)
    with db.session() as s:
        stored = (s.scalar(select(func.count()).select_from(Span)) or 0) - before
    writer.close()

    med = {m: statistics.median(v) for m, v in samples.items()}
    med_cpu = {m: statistics.median(v) for m, v in cpu.items()}
    cpu_base = med_cpu["no callbacks"]
    cpu_over = {m: med_cpu[m] - cpu_base for m in modes}
    base = med["no callbacks"]
    over_nothing = med["do-nothing handler"] - base
    over_ours = med["llmops"] - base
    over_handler = med["llmops handler only"] - base
    result = {
        "calls_per_mode": calls,
        "median_us_per_call": {m: round(v, 1) for m, v in med.items()},
        "overhead_us": {m: round(med[m] - base, 1) for m in modes if m != "no callbacks"},
        "ratio_llmops_to_do_nothing": round(over_ours / over_nothing, 2)
        if over_nothing > 0
        else None,
        "thread_cpu_us_per_call": {m: round(v, 1) for m, v in med_cpu.items()},
        "thread_cpu_overhead_us": {m: round(cpu_over[m], 1) for m in modes if m != "no callbacks"},
        "thread_cpu_ratio_llmops_to_do_nothing": round(
            cpu_over["llmops"] / cpu_over["do-nothing handler"], 2
        )
        if cpu_over["do-nothing handler"] > 0
        else None,
        "spans_expected": calls * spans_per_call,
        "spans_stored": stored,
        "lost": calls * spans_per_call - stored,
        "flushed": flushed,
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"{calls} calls per mode, {args.rounds} interleaved rounds (median of round means)")
    for m, v in result["median_us_per_call"].items():
        print(f"  {m:<20} {v:>8.1f} µs/call")
    print(
        f"  overhead: do-nothing {over_nothing:.1f} µs, llmops {over_ours:.1f} µs "
        f"(handler alone {over_handler:.1f} µs) → ratio {result['ratio_llmops_to_do_nothing']}"
    )
    print(
        "  calling thread's CPU overhead: do-nothing "
        f"{cpu_over['do-nothing handler']:.1f} µs, llmops {cpu_over['llmops']:.1f} µs "
        f"→ ratio {result['thread_cpu_ratio_llmops_to_do_nothing']}"
    )
    print(f"  spans stored {stored} of {calls * spans_per_call} (lost {result['lost']})")


if __name__ == "__main__":
    main()
