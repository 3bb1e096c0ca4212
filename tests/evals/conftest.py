"""Evaluation fixtures: a runner over the real chat pipeline, the store under test and the
shared knowledge base; small datasets from the shipped demo."""

from __future__ import annotations

from typing import Any

import pytest

from llmops.config import Settings
from llmops.evals import datasets as ds
from llmops.evals.runner import CaptureSink, EvalRunner
from llmops.store.db import Database


@pytest.fixture
def eval_runner(
    settings: Settings, db: Database, kb: Any, writer: Any, embeddings: Any
) -> EvalRunner:
    from llmops.chat import ChatService
    from llmops.guards.runner import GuardRunner
    from llmops.tracing.tracer import Tracer

    sink = CaptureSink(writer)
    chat = ChatService(settings, db, kb, Tracer(sink), guards=GuardRunner())
    return EvalRunner(chat, sink, embeddings=embeddings, default_concurrency=2)


@pytest.fixture(scope="session")
def demo_cases() -> list[ds.Case]:
    return ds.parse_jsonl(ds.DEMO_PATH.read_bytes(), ds.DEMO_PATH.name)


def small(demo_cases: list[ds.Case], n: int = 6) -> list[ds.Case]:
    """``n`` in-scope demo cases, alternating English and Spanish."""
    en = [c for c in demo_cases if c.lang == "en" and c.must_include]
    es = [c for c in demo_cases if c.lang == "es" and c.must_include]
    out = []
    for a, b in zip(en, es, strict=False):
        out += [a, b]
    return out[:n]
