"""The tracing handler's own cost, callbacks driven directly: now vs a git ref, interleaved.

    .venv/bin/python bench/handler_records.py [--ref e7fe620] [--n 20000] [--rounds 20]

One "call" is the callback sequence LangChain makes for ``bench/tracing_overhead.py``'s chain
(a sequence holding a lambda, a prompt, a chat model and a parser: four chain runs and one
chat-model run), on an unbound handler whose records go to a list that is then cleared. No
LangChain runnable runs, so what is timed is the handler alone (its records, dicts and
ids), not the callback manager around it. Each round times both handlers, in alternating
order; the figures are the calling thread's CPU time, ns per call, mean over rounds.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
import types
from collections import deque
from pathlib import Path
from typing import Any
from uuid import uuid4

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.outputs import ChatGeneration, LLMResult

from llmops.tracing.handler import TracingCallbackHandler


def _handler_at(ref: str) -> Any:
    root = Path(__file__).resolve().parent.parent
    source = subprocess.run(
        ["git", "show", f"{ref}:llmops/tracing/handler.py"],
        cwd=root, check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    module = types.ModuleType("llmops.tracing._handler_at_ref")
    exec(compile(source, f"{ref}:llmops/tracing/handler.py", "exec"), module.__dict__)
    return module.TracingCallbackHandler


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ref", default="HEAD~1", help="the handler to compare with (git ref)")
    ap.add_argument("--n", type=int, default=20000, help="calls per handler")
    ap.add_argument("--rounds", type=int, default=20)
    args = ap.parse_args()

    serialized = {"lc": 1, "type": "not_implemented", "id": ["langchain_core", "runnables", "x"]}
    meta = {"ls_provider": "fixed", "ls_model_name": "fixed", "ls_model_type": "chat"}
    prompt_value = [[HumanMessage("hi")]]
    message = AIMessage(
        "ok", usage_metadata={"input_tokens": 5, "output_tokens": 1, "total_tokens": 6}
    )
    result = LLMResult(generations=[[ChatGeneration(message=message)]])
    sink: deque[Any] = deque()
    # one handler a call, so the same run ids serve every call (uuid4 is not what is timed)
    seq, lam, prompt, model, parser = uuid4(), uuid4(), uuid4(), uuid4(), uuid4()

    def call(handler_cls: Any) -> None:
        h = handler_cls(sink.append)
        h.on_chain_start(
            serialized, "hi", run_id=seq, name="RunnableSequence", tags=[], metadata={}
        )
        h.on_chain_start(
            serialized,
            "hi",
            run_id=lam,
            parent_run_id=seq,
            name="lambda",
            tags=["seq:step:1"],
            metadata={},
        )
        h.on_chain_end({"q": "hi"}, run_id=lam, parent_run_id=seq)
        h.on_chain_start(
            serialized,
            {"q": "hi"},
            run_id=prompt,
            parent_run_id=seq,
            name="ChatPromptTemplate",
            tags=["seq:step:2"],
            metadata={},
        )
        h.on_chain_end(prompt_value, run_id=prompt, parent_run_id=seq)
        h.on_chat_model_start(
            serialized,
            prompt_value,
            run_id=model,
            parent_run_id=seq,
            tags=["seq:step:3"],
            metadata=meta,
            invocation_params={"_type": "fixed"},
            name="FixedModel",
        )
        h.on_llm_end(result, run_id=model, parent_run_id=seq)
        h.on_chain_start(
            serialized,
            message,
            run_id=parser,
            parent_run_id=seq,
            name="StrOutputParser",
            tags=["seq:step:4"],
            metadata={},
        )
        h.on_chain_end("ok", run_id=parser, parent_run_id=seq)
        h.on_chain_end("ok", run_id=seq)
        sink.clear()

    modes = {"now": TracingCallbackHandler, f"@{args.ref}": _handler_at(args.ref)}
    for cls in modes.values():  # warm-up, and the same records either way
        for _ in range(2000):
            call(cls)
    cpu: dict[str, list[float]] = {m: [] for m in modes}
    per_round = max(1, args.n // args.rounds)
    for r in range(args.rounds):
        order = list(modes.items()) if r % 2 == 0 else list(modes.items())[::-1]
        for name, cls in order:
            c0 = time.thread_time_ns()
            for _ in range(per_round):
                call(cls)
            cpu[name].append((time.thread_time_ns() - c0) / per_round)
    now, then = (statistics.mean(cpu[m]) for m in modes)
    print(f"{per_round * args.rounds} calls per handler, {args.rounds} alternating rounds")
    for m, v in cpu.items():
        print(f"  {m:<12} {statistics.mean(v):8.0f} ns/call (median {statistics.median(v):.0f})")
    print(f"  now / @{args.ref}: {now / then:.3f} (ratio of means)")


if __name__ == "__main__":
    main()
