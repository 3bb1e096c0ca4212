"""What the tracer hands to the writer: cheap to build on the hot path.

Inputs and outputs are kept as the original objects; turning them into text (and redacting
them) happens in the writer's thread, never in the chat turn.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from llmops.tracing.ids import new_span_id


@dataclass(slots=True)
class SpanRecord:
    trace_id: str
    span_id: str
    parent_id: str | None
    name: str
    kind: str
    start_ns: int
    end_ns: int | None = None
    status: str = "ok"
    error: str | None = None
    input: object = None
    output: object = None
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class TraceRecord:
    id: str
    name: str
    start_ns: int
    end_ns: int | None = None
    session_id: str | None = None
    user_id: str | None = None
    release_id: str | None = None
    model: str | None = None
    status: str = "ok"
    ttft_ms: float | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cost: float = 0.0
    input: object = None
    output: object = None
    error: str | None = None
    tags: list[str] | None = None
    attributes: dict[str, Any] = field(default_factory=dict)


class RunRecord:
    """A chain run as the handler saw it: ids, timing and the raw callback payload.

    Chains (sequences, lambdas, prompts, parsers) are most of a trace's runs, so their hot
    path only timestamps and queues: the handler builds this record when the run starts,
    fills ``end_ns``, ``outputs`` and ``error`` when it ends and hands it on; the name, kind
    and span ids are worked out in the writer's thread (``SpanWriter`` turns this into a
    span row).
    """

    __slots__ = (
        "end_ns",
        "error",
        "inputs",
        "metadata",
        "name",
        "outputs",
        "parent",
        "root_span_id",
        "run",
        "serialized",
        "start_ns",
        "tags",
        "trace_id",
    )

    def __init__(
        self,
        trace_id: str,
        run: int,
        parent: int | None,
        root_span_id: str | None,
        serialized: dict[str, Any] | None,
        name: str | None,
        start_ns: int,
        end_ns: int,
        inputs: object,
        outputs: object,
        error: BaseException | None,
        metadata: dict[str, Any] | None = None,
        tags: list[str] | None = None,
    ) -> None:
        self.trace_id = trace_id
        self.run = run  # the run id as an int; the span id is derived from it
        self.parent = parent  # the parent run's int, or None: a child of ``root_span_id``
        self.root_span_id = root_span_id
        self.serialized = serialized
        self.name = name
        self.start_ns = start_ns
        self.end_ns = end_ns
        self.inputs = inputs
        self.outputs = outputs
        self.error = error
        self.metadata = metadata  # the run's config metadata (LangGraph / agent kinds)
        self.tags = tags  # the run's config tags (a top-level run's become its trace's)


@dataclass(slots=True)
class GuardEventRecord:
    trace_id: str
    span_id: str | None
    validator: str
    direction: str
    action: str
    message: str
    excerpt: str | None = None
    release_id: str | None = None
    at_ns: int = field(default_factory=time.time_ns)
    # chosen once, so a replayed event is stored once
    event_id: str = field(default_factory=new_span_id)


@dataclass(slots=True)
class GapRecord:
    """A live turn the knowledge base may not cover (``gap_candidates``)."""

    trace_id: str
    at_ns: int
    reason: str
    question: str
    release_id: str | None = None
    lang: str | None = None
    top_score: float | None = None


Record = SpanRecord | TraceRecord | GuardEventRecord | RunRecord | GapRecord
