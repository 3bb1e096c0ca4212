"""The shared store's schema (DESIGN §4) as typed SQLAlchemy 2.0 models.

Every timestamp is UTC. Trace ids are 128-bit hex and time-ordered (their first 48 bits are
milliseconds since the epoch), span ids 64-bit hex: both OpenTelemetry-compatible. Time-ordered
keys keep inserts appending to the B-trees instead of splitting random pages.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ColumnElement,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SQLColumnExpression,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    and_,
    or_,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from llmops.types import JSONDict

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator[datetime]):
    """Stores naive UTC, returns aware UTC, on every backend."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UtcDateTime(),
        dict[str, Any]: JSON(),
    }


class Release(Base):
    """An immutable configuration version: prompt, model, retrieval, guards, knowledge."""

    __tablename__ = "releases"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    config: Mapped[JSONDict] = mapped_column(JSON)
    config_hash: Mapped[str] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(200), default="system")


class ReleaseLabel(Base):
    """A movable pointer (production / staging / canary) to a release."""

    __tablename__ = "release_labels"

    label: Mapped[str] = mapped_column(String(50), primary_key=True)
    release_id: Mapped[str] = mapped_column(ForeignKey("releases.id"))
    weight: Mapped[float] = mapped_column(Float, default=1.0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(200), default="system")


class LabelEvent(Base):
    """A label moved: promote, rollback, canary start / weight / stop, automatic rollback."""

    __tablename__ = "label_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    label: Mapped[str] = mapped_column(String(50))
    action: Mapped[str] = mapped_column(String(30))
    release_id: Mapped[str | None] = mapped_column(String(32))
    previous_release_id: Mapped[str | None] = mapped_column(String(32))
    weight: Mapped[float] = mapped_column(Float, default=1.0)
    actor: Mapped[str] = mapped_column(String(200), default="system")
    note: Mapped[str] = mapped_column(Text, default="")

    __table_args__ = (
        Index("ix_label_events_at", "at"),
        Index("ix_label_events_label_at", "label", "at"),
    )


class RollbackRule(Base):
    """When to take a canary out of traffic automatically (``llmops.releases.rollback``).

    ``kind`` ``worse``: the canary's metric is worse than production's by at least
    ``threshold`` (points for rates, ms for latency, USD for cost) with p < ``p_value``;
    ``limit``: the canary's metric is past ``threshold`` (above; below for thumbs-up rate).
    Both need ``min_samples`` canary turns in the trailing ``window_minutes``.
    """

    __tablename__ = "rollback_rules"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200))
    metric: Mapped[str] = mapped_column(String(40))
    kind: Mapped[str] = mapped_column(String(10), default="worse")
    threshold: Mapped[float] = mapped_column(Float, default=0.0)
    p_value: Mapped[float] = mapped_column(Float, default=0.05)
    min_samples: Mapped[int] = mapped_column(Integer, default=20)
    window_minutes: Mapped[int] = mapped_column(Integer, default=60)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    webhook_url: Mapped[str | None] = mapped_column(String(2000))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(200), default="system")


class RollbackEvent(Base):
    """A canary rolled back automatically: which rule, on what evidence, and the webhook."""

    __tablename__ = "rollback_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    rule_id: Mapped[int | None] = mapped_column(Integer)
    release_id: Mapped[str] = mapped_column(String(32))
    production_id: Mapped[str | None] = mapped_column(String(32))
    metric: Mapped[str] = mapped_column(String(40))
    canary_value: Mapped[float | None] = mapped_column(Float)
    production_value: Mapped[float | None] = mapped_column(Float)
    p_value: Mapped[float | None] = mapped_column(Float)
    samples: Mapped[int] = mapped_column(Integer, default=0)
    message: Mapped[str] = mapped_column(Text, default="")
    delivery: Mapped[str] = mapped_column(String(10), default="none")
    delivery_error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_rollback_events_at", "at"),)


# Traces that are not live traffic carry a session id with one of these prefixes: evaluation
# runs answer their cases through the real chat pipeline, the playground tries releases, the
# red-team scan attacks them. Monitoring, rollups and alerts count live traffic only.
EVAL_SESSION_PREFIX = "eval:"
PLAYGROUND_SESSION_PREFIX = "playground:"
REDTEAM_SESSION_PREFIX = "redteam:"
NON_LIVE_PREFIXES = (EVAL_SESSION_PREFIX, PLAYGROUND_SESSION_PREFIX, REDTEAM_SESSION_PREFIX)


def is_live(session_id: str | None) -> bool:
    return not (session_id or "").startswith(NON_LIVE_PREFIXES)


def live_filter(column: SQLColumnExpression[str | None]) -> ColumnElement[bool]:
    """The SQL form of ``is_live`` on a session-id column."""
    return or_(column.is_(None), and_(*(~column.startswith(p) for p in NON_LIVE_PREFIXES)))


def traffic_kind(session_id: str | None) -> str:
    """``live``, ``eval``, ``playground`` or ``redteam`` for a trace's session id."""
    for prefix in NON_LIVE_PREFIXES:
        if (session_id or "").startswith(prefix):
            return prefix[:-1]
    return "live"


class Trace(Base):
    """One chat turn (or evaluation item): the root of a span tree plus its aggregates."""

    __tablename__ = "traces"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), default="chat")
    session_id: Mapped[str | None] = mapped_column(String(100))
    user_id: Mapped[str | None] = mapped_column(String(200))
    release_id: Mapped[str | None] = mapped_column(String(32))
    model: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20), default="ok")
    started_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
    latency_ms: Mapped[float | None] = mapped_column(Float)
    ttft_ms: Mapped[float | None] = mapped_column(Float)
    input_tokens: Mapped[int] = mapped_column(Integer, default=0)
    output_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cost: Mapped[float] = mapped_column(Float, default=0.0)
    input: Mapped[str | None] = mapped_column(Text)
    output: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    tags: Mapped[list[str] | None] = mapped_column(JSON)
    attributes: Mapped[JSONDict | None] = mapped_column(JSON)

    __table_args__ = (
        Index("ix_traces_started_at", "started_at"),
        # the Traces list's latency-range count: an index-only scan of the range (0014)
        Index("ix_traces_started_latency", "started_at", "latency_ms"),
        Index("ix_traces_release_started", "release_id", "started_at"),
        Index("ix_traces_status_started", "status", "started_at"),
        Index("ix_traces_session_started", "session_id", "started_at"),
        Index("ix_traces_user_started", "user_id", "started_at"),  # erasure, users, user filter
    )


class Span(Base):
    """One run inside a trace: chain, retriever, llm, guard, tool, parser, embedding."""

    __tablename__ = "spans"

    trace_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    parent_id: Mapped[str | None] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))
    started_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
    duration_ms: Mapped[float | None] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(20), default="ok")
    error: Mapped[str | None] = mapped_column(Text)
    input: Mapped[str | None] = mapped_column(Text)
    output: Mapped[str | None] = mapped_column(Text)
    attributes: Mapped[JSONDict | None] = mapped_column(JSON)


class Feedback(Base):
    """A thumbs up/down (score 1/0) or a graded score in [0, 1], with an optional comment."""

    __tablename__ = "feedback"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    trace_id: Mapped[str] = mapped_column(String(32))
    score: Mapped[float] = mapped_column(Float)
    comment: Mapped[str | None] = mapped_column(Text)
    user_id: Mapped[str | None] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(20), default="user")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        Index("ix_feedback_trace_id", "trace_id"),
        Index("ix_feedback_created_at", "created_at"),
        Index("ix_feedback_user_id", "user_id"),  # erasure by user
    )


class Document(Base):
    """A knowledge-base source: re-ingest is a no-op while its content hash is unchanged."""

    __tablename__ = "documents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(500), unique=True)
    title: Mapped[str] = mapped_column(String(500), default="")
    lang: Mapped[str | None] = mapped_column(String(10))
    content_hash: Mapped[str] = mapped_column(String(64))
    chunk_count: Mapped[int] = mapped_column(Integer, default=0)
    version: Mapped[int] = mapped_column(Integer, default=1)
    ingested_at: Mapped[datetime] = mapped_column(default=utcnow)
    ingested_by: Mapped[str] = mapped_column(String(200), default="system")


class KbVersion(Base):
    """A snapshot of the knowledge base: every ingest or removal that changes it makes one.
    A release pins a version (``kb_version: "kb-<id>"``) or follows the latest; a version is
    kept while it is the latest or a release names it (``llmops.rag.versions.collect``)."""

    __tablename__ = "kb_versions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    parent_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(200), default="system")
    note: Mapped[str] = mapped_column(Text, default="")
    sources: Mapped[int] = mapped_column(Integer, default=0)
    chunks: Mapped[int] = mapped_column(Integer, default=0)
    # A published version is what releases that follow the latest serve; an unpublished one
    # (a draft) is served only by the releases that pin it, e.g. a canary trying new knowledge.
    published: Mapped[bool] = mapped_column(Boolean, default=True)


class KbVersionDoc(Base):
    """One source as it is in one version: which content (hash) and how many chunks."""

    __tablename__ = "kb_version_docs"

    version_id: Mapped[int] = mapped_column(
        ForeignKey("kb_versions.id", ondelete="CASCADE"), primary_key=True
    )
    source: Mapped[str] = mapped_column(String(500), primary_key=True)
    doc_hash: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(500), default="")
    lang: Mapped[str | None] = mapped_column(String(10))
    chunk_count: Mapped[int] = mapped_column(Integer, default=0)
    ingested_at: Mapped[datetime] = mapped_column(default=utcnow)
    ingested_by: Mapped[str] = mapped_column(String(200), default="system")

    __table_args__ = (Index("ix_kb_version_docs_doc_hash", "doc_hash"),)


class GapCandidate(Base):
    """A question the knowledge base may not cover: the assistant declined it, answered it
    from weak retrieval, or the user gave the answer a thumbs-down. Written by the trace
    writer (redacted like the trace) for live traffic; grouped into ``gap_clusters`` by
    ``llmops.rag.gaps.refresh`` (one embedding each, once)."""

    __tablename__ = "gap_candidates"

    trace_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    at: Mapped[datetime]
    reason: Mapped[str] = mapped_column(String(20))  # declined | low_score | thumbs_down
    thumbs_down: Mapped[bool] = mapped_column(Boolean, default=False)
    release_id: Mapped[str | None] = mapped_column(String(32))
    lang: Mapped[str | None] = mapped_column(String(10))
    question: Mapped[str] = mapped_column(Text)
    top_score: Mapped[float | None] = mapped_column(Float)
    cluster_id: Mapped[int | None] = mapped_column(Integer)

    __table_args__ = (
        Index("ix_gap_candidates_at", "at"),
        Index("ix_gap_candidates_cluster_at", "cluster_id", "at"),
    )


class GapCluster(Base):
    """Questions of one meaning the knowledge base lacks (a running centroid per language)."""

    __tablename__ = "gap_clusters"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    lang: Mapped[str] = mapped_column(String(10))
    label: Mapped[str] = mapped_column(Text, default="")
    centroid: Mapped[bytes] = mapped_column(LargeBinary)
    size: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(10), default="open")  # open | resolved | merged
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class GapState(Base):
    """Where gap refresh stopped (the last feedback row it read)."""

    __tablename__ = "gap_state"

    key: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, default=0)


class ReviewQueue(Base):
    """Traces picked by a filter for people to review (an annotation queue)."""

    __tablename__ = "review_queues"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    filter: Mapped[JSONDict] = mapped_column(JSON)
    reviewers_per_item: Mapped[int] = mapped_column(Integer, default=1)
    lock_minutes: Mapped[int] = mapped_column(Integer, default=15)
    status: Mapped[str] = mapped_column(String(10), default="open")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(200), default="system")


class ReviewItem(Base):
    """One trace in a queue; locked by the reviewer working on it until ``locked_until``."""

    __tablename__ = "review_items"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    queue_id: Mapped[int] = mapped_column(ForeignKey("review_queues.id", ondelete="CASCADE"))
    trace_id: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(10), default="pending")  # pending | done
    verdicts: Mapped[int] = mapped_column(Integer, default=0)
    locked_by: Mapped[str | None] = mapped_column(String(200))
    locked_until: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        UniqueConstraint("queue_id", "trace_id"),
        Index("ix_review_items_queue_status", "queue_id", "status", "id"),
        Index("ix_review_items_trace_id", "trace_id"),
    )


class ReviewVerdict(Base):
    """A reviewer's verdict on an item: correct / partly / wrong, categories, a corrected
    answer and a note (both redacted before they are stored)."""

    __tablename__ = "review_verdicts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("review_items.id", ondelete="CASCADE"))
    reviewer: Mapped[str] = mapped_column(String(200))
    verdict: Mapped[str] = mapped_column(String(10))
    categories: Mapped[list[str] | None] = mapped_column(JSON)
    corrected: Mapped[str | None] = mapped_column(Text)
    note: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        UniqueConstraint("item_id", "reviewer"),
        Index("ix_review_verdicts_at", "at"),
    )


class Improvement(Base):
    """One pass of the tuning loop, readable later: what was wrong (evidence), the dataset
    that captures it, the candidate release, its gate against production, the canary, and
    the decision (promoted, or abandoned with a reason)."""

    __tablename__ = "improvements"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    title: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20), default="evidence")
    evidence: Mapped[JSONDict] = mapped_column(JSON)
    dataset: Mapped[str | None] = mapped_column(String(200))
    regression_dataset: Mapped[str | None] = mapped_column(String(200))
    candidate_release_id: Mapped[str | None] = mapped_column(String(32))
    baseline_release_id: Mapped[str | None] = mapped_column(String(32))
    gate: Mapped[JSONDict | None] = mapped_column(JSON)
    gate_passed: Mapped[bool | None] = mapped_column(Boolean)
    decision: Mapped[str | None] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(Text, default="")
    overridden: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(200), default="system")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (Index("ix_improvements_updated_at", "updated_at"),)


class ImprovementEvent(Base):
    """A step of an improvement: who did what, when, with which details."""

    __tablename__ = "improvement_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    improvement_id: Mapped[int] = mapped_column(ForeignKey("improvements.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(200))
    step: Mapped[str] = mapped_column(String(30))
    details: Mapped[JSONDict | None] = mapped_column(JSON)

    __table_args__ = (Index("ix_improvement_events_improvement_at", "improvement_id", "at"),)


class AuditLog(Base):
    """Who did what in the console or CLI."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(100))
    target: Mapped[str | None] = mapped_column(String(500))
    details: Mapped[JSONDict | None] = mapped_column(JSON)

    __table_args__ = (
        Index("ix_audit_log_at", "at"),
        # sign-in back-off reads one client's latest attempts (llmops.auth)
        Index("ix_audit_log_target_at", "target", "at"),
        # the audit page's filters (llmops.governance.audit)
        Index("ix_audit_log_actor_at", "actor", "at"),
        Index("ix_audit_log_action_at", "action", "at"),
    )


class GuardEvent(Base):
    """A guardrail violation: which validator, on which direction, and what was done."""

    __tablename__ = "guard_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    trace_id: Mapped[str] = mapped_column(String(32))
    span_id: Mapped[str | None] = mapped_column(String(16))
    validator: Mapped[str] = mapped_column(String(100))
    direction: Mapped[str] = mapped_column(String(10))
    action: Mapped[str] = mapped_column(String(10))
    message: Mapped[str] = mapped_column(Text, default="")
    excerpt: Mapped[str | None] = mapped_column(Text)
    release_id: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Chosen when the event is recorded: a replayed event (spool, retry) is stored once.
    event_id: Mapped[str | None] = mapped_column(String(16))

    __table_args__ = (
        Index("uq_guard_events_trace_event", "trace_id", "event_id", unique=True),
        Index("ix_guard_events_created_at", "created_at"),
        Index("ix_guard_events_trace_id", "trace_id"),
        Index("ix_guard_events_validator_created", "validator", "created_at"),
        Index("ix_guard_events_release_created", "release_id", "created_at"),
    )


class Quarantine(Base):
    """A record the store rejected (a data error, not an outage), kept with the error.

    The trace writer stores every other record of the batch and puts the bad one here, so
    one bad row never stops tracing. ``record`` is the rendered row (already redacted) as
    JSON with its column names; ``llmops db doctor --retry`` tries them again.
    """

    __tablename__ = "quarantine"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    kind: Mapped[str] = mapped_column(String(20))
    trace_id: Mapped[str | None] = mapped_column(String(32))
    record: Mapped[str] = mapped_column(Text)
    error: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(20), default="writer")

    __table_args__ = (Index("ix_quarantine_at", "at"),)


class TracingIncident(Base):
    """Records the trace writer could not keep (refused by a full queue, or dropped when
    neither the store nor the spool could take them), written once the store answers."""

    __tablename__ = "tracing_incidents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    kind: Mapped[str] = mapped_column(String(20))  # refused | dropped | otlp_dropped
    records: Mapped[int] = mapped_column(Integer)
    process: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(Text, default="")

    __table_args__ = (Index("ix_tracing_incidents_at", "at"),)


class GuardEvalRun(Base):
    """A guard evaluation over a labelled dataset: per-label precision, recall and FPR."""

    __tablename__ = "guard_eval_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dataset: Mapped[str] = mapped_column(String(500))
    cases: Mapped[int] = mapped_column(Integer)
    results: Mapped[JSONDict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


# -- evaluation (datasets, runs, results) -------------------------------------------------------
class Dataset(Base):
    """A named, versioned set of evaluation cases. ``version`` goes up on every change; a run
    records the version it used, and ``DatasetItem`` rows keep the versions they belong to."""

    __tablename__ = "datasets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    version: Mapped[int] = mapped_column(Integer, default=0)
    # Where the items come from when a file is their source of truth (``file:PATH``, or
    # ``shipped:demo``): only such a dataset is re-synced from its file; a curated one never.
    source: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(200), default="system")


class DatasetItem(Base):
    """One case. Items are never updated in place: an edit retires the row at the dataset's
    new version (``removed_in``) and adds a new one (``added_in``), so any version can be
    read back as the items with ``added_in <= v`` and ``removed_in`` null or ``> v``."""

    __tablename__ = "dataset_items"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"))
    input: Mapped[str] = mapped_column(Text)
    expected: Mapped[str | None] = mapped_column(Text)
    must_include: Mapped[list[str] | None] = mapped_column(JSON)
    lang: Mapped[str | None] = mapped_column(String(10))
    tags: Mapped[list[str] | None] = mapped_column(JSON)
    meta: Mapped[JSONDict | None] = mapped_column(JSON)
    origin_trace_id: Mapped[str | None] = mapped_column(String(32))
    added_in: Mapped[int] = mapped_column(Integer, default=1)
    removed_in: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        Index("ix_dataset_items_dataset_versions", "dataset_id", "added_in", "removed_in"),
        Index("ix_dataset_items_origin_trace_id", "origin_trace_id"),
    )


class EvalRun(Base):
    """A release run over one version of a dataset; aggregates land in ``metrics``."""

    __tablename__ = "eval_runs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id"))
    dataset_version: Mapped[int] = mapped_column(Integer)
    release_id: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(20), default="pending")
    evaluators: Mapped[list[str] | None] = mapped_column(JSON)
    config: Mapped[JSONDict | None] = mapped_column(JSON)
    total_items: Mapped[int] = mapped_column(Integer, default=0)
    done_items: Mapped[int] = mapped_column(Integer, default=0)
    metrics: Mapped[JSONDict | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    # Heartbeat of the runner: a "running" run whose heartbeat is old was interrupted.
    updated_at: Mapped[datetime | None]
    created_by: Mapped[str] = mapped_column(String(200), default="system")

    __table_args__ = (
        Index("ix_eval_runs_created_at", "created_at"),
        Index("ix_eval_runs_dataset_created", "dataset_id", "created_at"),
        Index("ix_eval_runs_release_created", "release_id", "created_at"),
    )


class EvalResult(Base):
    """One item's outcome in a run: the answer, its trace, and a score per evaluator."""

    __tablename__ = "eval_results"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("eval_runs.id", ondelete="CASCADE"))
    item_id: Mapped[int] = mapped_column(Integer)
    trace_id: Mapped[str | None] = mapped_column(String(32))
    output: Mapped[str | None] = mapped_column(Text)
    scores: Mapped[JSONDict | None] = mapped_column(JSON)
    explanations: Mapped[JSONDict | None] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(20), default="ok")
    error: Mapped[str | None] = mapped_column(Text)
    latency_ms: Mapped[float | None] = mapped_column(Float)
    cost: Mapped[float] = mapped_column(Float, default=0.0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        UniqueConstraint("run_id", "item_id"),
        Index("ix_eval_results_trace_id", "trace_id"),
    )


class TraceScore(Base):
    """A score attached to a trace by an evaluator (online evaluation, LLM judge, reviewer).

    One score per (source, trace, name): scoring again replaces it, so several online
    workers (one per app replica) never double-count a trace."""

    __tablename__ = "trace_scores"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    trace_id: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(100))
    value: Mapped[float] = mapped_column(Float)
    explanation: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(20), default="online")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        UniqueConstraint("source", "trace_id", "name"),
        Index("ix_trace_scores_trace_id", "trace_id"),
        Index("ix_trace_scores_name_created", "name", "created_at"),
    )


# -- monitoring (rollups, model prices, alerts) ---------------------------------------------------
class MetricRollup(Base):
    """Per-bucket aggregates of traces, so dashboards never scan ``traces``.

    One row per grain (``minute`` / ``hour`` / ``day``), bucket start (epoch seconds, UTC),
    release and model (``""`` when unknown: a key column must not be NULL for the upsert to
    match). The trace columns are added by the span writer in the transaction that inserts
    the traces (``llmops.monitoring.rollups``); the feedback columns by triggers on
    ``feedback`` (migrations 0004 and 0014), keyed by the bucket of the trace the feedback is
    about.
    """

    __tablename__ = "metric_rollups"

    grain: Mapped[str] = mapped_column(String(8), primary_key=True)
    bucket: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    release_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    model: Mapped[str] = mapped_column(String(200), primary_key=True)
    traces: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    errors: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    blocked: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    latency_n: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    latency_sum: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    ttft_n: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    ttft_sum: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    input_tokens: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    output_tokens: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    cost: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    violating: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    feedback_n: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    feedback_up: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    feedback_score: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")


class LatencyHistogram(Base):
    """Counts of trace latencies (and times to first token) per log-spaced bin and bucket.

    Bin ``i`` holds values in (γ^(i-1), γ^i] ms (``llmops.monitoring.histogram``): percentiles
    read from these counts are within the stated relative error of the exact ones.
    """

    __tablename__ = "latency_histograms"

    grain: Mapped[str] = mapped_column(String(8), primary_key=True)
    metric: Mapped[str] = mapped_column(String(8), primary_key=True)
    bucket: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    release_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    model: Mapped[str] = mapped_column(String(200), primary_key=True)
    bin: Mapped[int] = mapped_column(Integer, primary_key=True)
    n: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class ModelPrice(Base):
    """One version of a model's price (USD per million tokens), in force from a time on.

    Rows are never updated: a price change is a new row, so the history stays readable.
    """

    __tablename__ = "model_prices"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    model: Mapped[str] = mapped_column(String(200))
    input_per_mtok: Mapped[float] = mapped_column(Float)
    output_per_mtok: Mapped[float] = mapped_column(Float)
    effective_from: Mapped[datetime]
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(200), default="system")

    __table_args__ = (Index("ix_model_prices_model_effective", "model", "effective_from"),)


class AlertRule(Base):
    """A threshold on a monitoring metric over a trailing window, optionally per release/model.

    ``state`` (``ok`` / ``firing``) is the last evaluated state; changing it is a
    compare-and-set, so two evaluators running at once record one transition, not two.
    """

    __tablename__ = "alert_rules"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200))
    metric: Mapped[str] = mapped_column(String(40))
    comparison: Mapped[str] = mapped_column(String(2))
    threshold: Mapped[float] = mapped_column(Float)
    window_minutes: Mapped[int] = mapped_column(Integer, default=60)
    release_id: Mapped[str | None] = mapped_column(String(32))
    model: Mapped[str | None] = mapped_column(String(200))
    min_samples: Mapped[int] = mapped_column(Integer, default=20)
    webhook_url: Mapped[str | None] = mapped_column(String(2000))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    state: Mapped[str] = mapped_column(String(10), default="ok")
    state_since: Mapped[datetime | None]
    last_value: Mapped[float | None] = mapped_column(Float)
    last_checked_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(200), default="system")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class AlertEvent(Base):
    """A rule starting or stopping to fire, with the value that decided it and the delivery."""

    __tablename__ = "alert_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    rule_id: Mapped[int] = mapped_column(ForeignKey("alert_rules.id", ondelete="CASCADE"))
    state: Mapped[str] = mapped_column(String(10))
    value: Mapped[float | None] = mapped_column(Float)
    threshold: Mapped[float] = mapped_column(Float)
    samples: Mapped[int] = mapped_column(Integer, default=0)
    window_start: Mapped[datetime]
    window_end: Mapped[datetime]
    message: Mapped[str] = mapped_column(Text, default="")
    delivery: Mapped[str] = mapped_column(String(10), default="none")
    delivery_error: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        Index("ix_alert_events_at", "at"),
        Index("ix_alert_events_rule_at", "rule_id", "at"),
    )


class RedteamScan(Base):
    """One red-team scan: the built-in attacks run through a release's chat pipeline
    (``llmops.redteam``), with its aggregate attack success rate."""

    __tablename__ = "redteam_scans"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    release_id: Mapped[str] = mapped_column(String(32))  # the release attacked
    release_name: Mapped[str] = mapped_column(String(200), default="")
    release_label: Mapped[str | None] = mapped_column(String(20))  # its label at scan time
    guard_profile: Mapped[str] = mapped_column(String(50), default="")
    status: Mapped[str] = mapped_column(String(20), default="running")  # running|done|failed
    categories: Mapped[list[str]] = mapped_column(JSON, default=list)
    total: Mapped[int] = mapped_column(Integer, default=0)  # attacks planned
    done: Mapped[int] = mapped_column(Integer, default=0)  # attacks run so far (progress)
    attacks: Mapped[int] = mapped_column(Integer, default=0)
    successes: Mapped[int] = mapped_column(Integer, default=0)
    attack_success_rate: Mapped[float | None] = mapped_column(Float)
    summary: Mapped[JSONDict | None] = mapped_column(JSON)  # by category / language
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column()
    created_by: Mapped[str] = mapped_column(String(200), default="system")

    __table_args__ = (Index("ix_redteam_scans_release_started", "release_id", "started_at"),)


class RedteamFinding(Base):
    """One attack's outcome in a scan: success or not, the detector's reason, its trace."""

    __tablename__ = "redteam_findings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    scan_id: Mapped[int] = mapped_column(
        ForeignKey("redteam_scans.id", ondelete="CASCADE"), index=True
    )
    attack_id: Mapped[str] = mapped_column(String(100))
    category: Mapped[str] = mapped_column(String(50))
    lang: Mapped[str] = mapped_column(String(8))
    owasp: Mapped[str] = mapped_column(String(100), default="")
    success: Mapped[bool] = mapped_column(Boolean, default=False)
    reason: Mapped[str] = mapped_column(String(50))
    detail: Mapped[str] = mapped_column(Text, default="")
    prompt: Mapped[str] = mapped_column(Text, default="")  # the attack's last (or winning) turn
    answer: Mapped[str] = mapped_column(Text, default="")  # redacted like any stored text
    trace_id: Mapped[str | None] = mapped_column(String(32))
    trace_ids: Mapped[list[str]] = mapped_column(JSON, default=list)  # every turn's trace
    latency_ms: Mapped[float | None] = mapped_column(Float)

    __table_args__ = (Index("ix_redteam_findings_scan_success", "scan_id", "success"),)


class Account(Base):
    """A console account (``llmops.governance.accounts``): a name, an argon2 password hash and
    a role (``llmops.governance.roles``). Removing one disables it; the row stays so the audit
    log's names keep meaning someone, and its hash is cleared."""

    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(200), unique=True)
    password_hash: Mapped[str] = mapped_column(String(500), default="")
    role: Mapped[str] = mapped_column(String(20))  # viewer | reviewer | operator | admin
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(200), default="system")
    disabled_at: Mapped[datetime | None] = mapped_column()


class BiasRun(Base):
    """One run of the counterfactual bias probes through a release (``llmops.redteam.bias``):
    which attributes and languages, how many probes, which attributes were flagged."""

    __tablename__ = "bias_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    release_id: Mapped[str] = mapped_column(String(32))
    release_name: Mapped[str] = mapped_column(String(200), default="")
    release_label: Mapped[str | None] = mapped_column(String(20))  # its label at run time
    status: Mapped[str] = mapped_column(String(20), default="running")  # running|done|failed
    attributes: Mapped[list[str]] = mapped_column(JSON, default=list)
    langs: Mapped[list[str]] = mapped_column(JSON, default=list)
    probes: Mapped[int] = mapped_column(Integer, default=0)
    flagged: Mapped[list[str]] = mapped_column(JSON, default=list)
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column()
    created_by: Mapped[str] = mapped_column(String(200), default="system")

    __table_args__ = (
        Index("ix_bias_runs_release_started", "release_id", "started_at"),
        Index("ix_bias_runs_started_at", "started_at"),
    )


class BiasResult(Base):
    """One attribute's comparison in a bias run: per-group refusal rates (Wilson intervals)
    and answer lengths, the extreme groups' gaps with their p-values, answer similarity."""

    __tablename__ = "bias_results"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("bias_runs.id", ondelete="CASCADE"))
    attribute: Mapped[str] = mapped_column(String(50))
    flagged: Mapped[bool] = mapped_column(Boolean, default=False)
    refusal_gap: Mapped[float | None] = mapped_column(Float)
    refusal_p: Mapped[float | None] = mapped_column(Float)
    length_gap: Mapped[float | None] = mapped_column(Float)
    length_p: Mapped[float | None] = mapped_column(Float)
    similarity_mean: Mapped[float | None] = mapped_column(Float)
    similarity_min: Mapped[float | None] = mapped_column(Float)
    groups: Mapped[JSONDict] = mapped_column(JSON, default=dict)
    reasons: Mapped[list[str]] = mapped_column(JSON, default=list)
    trace_ids: Mapped[list[str]] = mapped_column(JSON, default=list)  # the probes' traces

    __table_args__ = (UniqueConstraint("run_id", "attribute"),)
