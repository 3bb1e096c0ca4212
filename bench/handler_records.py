"""The tracing handler's own cost, callbacks driven directly: now vs a git ref, interleaved.

    .venv/bin/python bench/handler_records.py [--ref e7fe620] [--n 20000] [--rounds 20]
    .venv/bin/python bench/handler_records.py --forms   # what building one record costs

One "call" is the callback sequence LangChain makes for ``bench/tracing_overhead.py``'s chain
(a sequence holding a lambda, a prompt, a chat model and a parser: four chain runs and one
chat-model run), on an unbound handler whose records go to a list that is then cleared. No
LangChain runnable runs, so what is timed is the handler alone (its records, dicts and
ids), not the callback manager around it. Each round times both handlers, in alternating
order; the figures are the calling thread's CPU time, ns per call, mean over rounds.

``--chain`` runs the real chain of ``bench/tracing_overhead.py`` instead (its
``FixedModel``), with no handler, with each handler (records to a list), alternating order
every round and no writer thread: the handler's whole cost, LangChain's callback manager
included, without the writer's backlog from a previous mode.

``--forms`` times building an 8-field record (and reading two fields) as a list, a slotted
dataclass, a class with ``__slots__`` and a ``NamedTuple``: best of 5 repeats, 3 rounds.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import timeit
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple
from uuid import uuid4

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.outputs import ChatGeneration, LLMResult

from llmops.tracing.handler import TracingCallbackHandler


def _handler_at(ref: str) -> Any:
    from bench.tracing_overhead import _handler_at as at_ref

    return at_ref(ref)


@dataclass(slots=True)
class _Slotted:
    start_ns: int
    parent: int | None
    trace_id: str
    serialized: Any
    name: Any
    inputs: Any
    metadata: Any
    tags: Any


class _Slots:
    __slots__ = (
        "inputs",
        "metadata",
        "name",
        "parent",
        "serialized",
        "start_ns",
        "tags",
        "trace_id",
    )

    def __init__(
        self, start_ns: int, parent: int | None, trace_id: str, serialized: Any, name: Any,
        inputs: Any, metadata: Any, tags: Any,
    ) -> None:  # fmt: skip
        self.start_ns, self.parent, self.trace_id, self.serialized = (
            start_ns,
            parent,
            trace_id,
            serialized,
        )
        self.name, self.inputs, self.metadata, self.tags = name, inputs, metadata, tags


class _Named(NamedTuple):
    start_ns: int
    parent: int | None
    trace_id: str
    serialized: Any
    name: Any
    inputs: Any
    metadata: Any
    tags: Any


def forms() -> None:
    names = {"DC": _Slotted, "SL": _Slots, "NT": _Named, "t": time.time_ns, "s": {},
             "kw": {"name": None, "metadata": None, "tags": None}}  # fmt: skip
    args = "t(), 1, 'x', s, kw.get('name'), s, kw.get('metadata'), kw.get('tags')"
    tests = {
        "list, indexed by constants": f"r = [{args}]; a = r[2]; b = r[1]",
        "@dataclass(slots=True)": f"r = DC({args}); a = r.trace_id; b = r.parent",
        "class with __slots__": f"r = SL({args}); a = r.trace_id; b = r.parent",
        "NamedTuple": f"r = NT({args}); a = r.trace_id; b = r.parent",
    }
    n = 300_000
    for rnd in range(3):
        for label, stmt in tests.items():
            best = min(timeit.repeat(stmt, globals=names, number=n, repeat=5))
            print(f"  round {rnd + 1}  {label:<28} {best / n * 1e9:6.0f} ns")


def chain_ab(ref: str, n: int, rounds: int) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from langchain_core.output_parsers import StrOutputParser
    from langchain_core.prompts import ChatPromptTemplate
    from langchain_core.runnables import RunnableLambda
    from tracing_overhead import FixedModel

    chain = (
        RunnableLambda(lambda q: {"q": q})
        | ChatPromptTemplate.from_messages([("human", "{q}")])
        | FixedModel()
        | StrOutputParser()
    )
    sink: deque[Any] = deque()
    old = _handler_at(ref)
    modes = {
        "no callbacks": lambda: chain.invoke("hi"),
        "now": lambda: chain.invoke(
            "hi", config={"callbacks": [TracingCallbackHandler(sink.append)]}
        ),
        f"@{ref}": lambda: chain.invoke("hi", config={"callbacks": [old(sink.append)]}),
    }
    for fn in modes.values():
        for _ in range(200):
            fn()
            sink.clear()
    cpu: dict[str, list[float]] = {m: [] for m in modes}
    per_round = max(1, n // rounds)
    for r in range(rounds):
        for name, fn in list(modes.items()) if r % 2 == 0 else list(modes.items())[::-1]:
            c0 = time.thread_time_ns()
            for _ in range(per_round):
                fn()
                sink.clear()
            cpu[name].append((time.thread_time_ns() - c0) / per_round / 1000)
    mean = {m: statistics.mean(v) for m, v in cpu.items()}
    base = mean["no callbacks"]
    print(f"{per_round * rounds} chain calls per mode, {rounds} alternating rounds, CPU µs/call")
    for m, v in mean.items():
        print(f"  {m:<14} {v:8.1f}  overhead {v - base:6.1f}")
    now, then = mean["now"] - base, mean[f"@{ref}"] - base
    print(f"  overhead now / @{ref}: {now / then:.3f} (ratio of means)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ref", default="HEAD~1", help="the handler to compare with (git ref)")
    ap.add_argument("--n", type=int, default=20000, help="calls per handler")
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--forms", action="store_true", help="time the record forms instead")
    ap.add_argument("--chain", action="store_true", help="run the real LCEL chain")
    args = ap.parse_args()
    if args.forms:
        forms()
        return
    if args.chain:
        chain_ab(args.ref, args.n, args.rounds)
        return

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
