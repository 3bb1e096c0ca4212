"""Every setting in one place: typed, documented, overridable with ``LLMOPS_*`` variables.

All state lives under ``LLMOPS_HOME`` (default ``./data``): the SQLite store, the Chroma
collection, the trace spool. Tests point it at a temporary directory.
"""

from __future__ import annotations

import os
import socket
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_KNOWLEDGE_DIR = PROJECT_ROOT / "knowledge"


class Settings(BaseSettings):
    """Runtime configuration. Field names map to ``LLMOPS_<NAME>`` environment variables."""

    model_config = SettingsConfigDict(env_prefix="LLMOPS_", extra="ignore", populate_by_name=True)

    home: Path = Field(Path("data"), description="Root directory of all state.")
    database_url: str | None = Field(
        None,
        description="SQLAlchemy URL of the store; default sqlite:///$LLMOPS_HOME/llmops.db.",
    )
    db_busy_timeout_ms: int = Field(5000, description="SQLite busy timeout.")

    chroma_host: str | None = Field(None, description="Chroma server host; default: embedded.")
    chroma_port: int = Field(8000, description="Chroma server port.")
    collection: str = Field("llmops_kb", description="Chroma collection of the knowledge base.")
    knowledge_dir: Path = Field(DEFAULT_KNOWLEDGE_DIR, description="Default knowledge base.")
    embedding_model_path: Path | None = Field(
        None, description="An all-MiniLM-L6-v2 ONNX file to use instead of the packaged one."
    )
    embedding_threads: int = Field(
        1,
        ge=1,
        description="onnxruntime threads an embedding runs on (a chat message is a short "
        "sequence: 1 thread measured faster than 2, and a replica is sized to a core).",
    )
    chunk_size: int = Field(700, description="Characters per knowledge chunk.")
    chunk_overlap: int = Field(100, description="Characters shared by neighbouring chunks.")

    max_input_chars: int = Field(4000, ge=1, description="Longest accepted chat message.")
    history_turns: int = Field(
        6,
        ge=0,
        le=50,
        description="Earlier turns of a chat session read from the store to resolve follow-up "
        "questions (0: every message stands alone).",
    )
    history_max_tokens: int = Field(
        1500,
        ge=0,
        description="Token budget of the earlier turns a remote model receives as chat messages.",
    )
    redact_pii: bool = Field(
        True, description="Redact personal data and credentials before anything is stored."
    )
    redact_names: Literal["context", "ner", "off"] = Field(
        "context",
        description="Person names in stored text: 'context' redacts names introduced as such "
        '("my name is …", "me llamo …", "Dr. …"); \'ner\' also runs the English '
        "named-entity model on every stored text (slower); 'off' keeps names.",
    )
    user_id_mode: Literal["auto", "hash", "raw"] = Field(
        "auto",
        description="How user ids are stored: 'hash' stores a keyed hash (HMAC-SHA256) instead "
        "of the id, 'raw' the id itself, 'auto' hashes ids that are e-mail addresses.",
    )
    user_id_key: str | None = Field(
        None,
        description="Key of the user-id hash; replicas sharing a store must share it. Default: "
        "a random key created once in $LLMOPS_HOME/user-id.key.",
    )
    gap_low_score: float = Field(
        0.35,
        ge=-1.0,
        le=1.0,
        description="A live answer whose best source scores below this (cosine) is a "
        "knowledge-gap candidate, like a declined one (Knowledge → Gaps).",
    )
    guard_profile: str = Field(
        "default", description="Guard profile for releases that do not name one."
    )

    # -- evaluation (llmops/evals, docs/evaluation.md) --
    eval_concurrency: int = Field(4, ge=1, le=64, description="Items an eval run answers at once.")
    eval_judge_provider: str | None = Field(
        None,
        description="Model provider of the LLM-as-judge evaluators (openai, openai-compatible, "
        "anthropic, ollama); unset: judge evaluators are listed but disabled.",
    )
    eval_judge_model: str | None = Field(None, description="Model name of the judge.")
    eval_judge_base_url: str | None = Field(
        None, description="Base URL of an OpenAI-compatible judge server (vLLM, llama.cpp)."
    )
    eval_judge_api_key_env: str | None = Field(
        None, description="Environment variable with the judge's API key (default: provider's)."
    )
    eval_judge_timeout_s: float = Field(60.0, gt=0, description="Timeout of one judge call.")
    online_eval_rate: float = Field(
        0.0,
        ge=0.0,
        le=1.0,
        description="Share of live chat turns scored in the background (0 = off, 1 = all).",
    )
    online_eval_evaluators: str = Field(
        "groundedness,answer_relevance,guard_pass,latency",
        description="Comma-separated evaluators for online scoring (no reference answer needed).",
    )
    online_eval_interval_s: float = Field(
        5.0, gt=0, description="How often the online evaluator looks for new traces."
    )

    admin_password_hash: str | None = Field(
        None, description="argon2 hash of the console password (`llmops admin set-password`)."
    )
    admin_emails: list[str] = Field(
        default_factory=list, description="With OIDC sign-in: e-mail addresses that are admins."
    )
    secrets_path: Path = Field(
        PROJECT_ROOT / ".streamlit" / "secrets.toml", description="Streamlit secrets file."
    )

    trace_batch_size: int = Field(500, ge=1, description="Spans per store transaction.")
    trace_flush_interval_s: float = Field(0.2, gt=0, description="Max delay before a write.")
    trace_retry_interval_s: float = Field(2.0, gt=0, description="Retry delay when down.")
    trace_queue_max: int = Field(
        200_000,
        ge=100,
        description="Records the writer queues in memory; beyond it new records are refused "
        "(counted, logged, shown on the Overview) instead of growing without bound.",
    )
    trace_queue_high: int = Field(
        1_000,
        ge=1,
        description="Queued records beyond which a chat turn waits 1 ms a record for the "
        "writer (back-pressure, counted as 'throttled') instead of outrunning it.",
    )
    trace_hold_max: int = Field(
        100_000,
        ge=0,
        description="Rendered records kept in memory while neither the store nor the spool "
        "can take them (disk full); beyond it they are dropped, counted and logged.",
    )
    trace_redact_process: Literal["auto", "on", "off"] = Field(
        "auto",
        description="Where the span writer redacts: 'auto' moves redaction to a process of "
        "its own once the writer stays a batch behind (sustained load), 'on' from the start, "
        "'off' always in the writer's thread. The process is an optimisation: without it "
        "(or when it fails) the thread redacts, the same way.",
    )
    trace_switch_interval_ms: float = Field(
        1.0,
        ge=0,
        description="While the redaction process runs (sustained load), the interpreter's "
        "switch interval in ms, so the writer's thread gets the lock back soon after each "
        "store call; 0 leaves Python's (5 ms).",
    )
    spool_dir_override: Path | None = Field(
        None,
        alias="LLMOPS_SPOOL_DIR",
        description="Where traces are spooled while the store is down (default "
        "$LLMOPS_HOME/spool); put it on another disk than the database.",
    )

    # OpenTelemetry export (docs/tracing-export.md)
    otlp_endpoint: str | None = Field(
        None,
        description="OTLP/HTTP collector that every stored trace is also sent to (redacted as "
        "stored), e.g. http://127.0.0.1:4318 (/v1/traces is appended unless the URL ends "
        "with it). Unset: no export. Auth headers come from OTEL_EXPORTER_OTLP_HEADERS "
        "(or OTEL_EXPORTER_OTLP_TRACES_HEADERS), e.g. 'Authorization=Basic ...'.",
    )
    otlp_timeout_s: float = Field(
        10.0, gt=0, description="Time one OTLP export may take, retries included."
    )
    otlp_queue_max: int = Field(
        20_000,
        ge=1,
        description="Spans waiting for the collector; beyond it they are dropped from the "
        "export (counted, in `llmops db doctor`) but still stored.",
    )
    otlp_batch_max: int = Field(512, ge=1, description="Spans per OTLP export request.")
    otlp_service_name: str = Field(
        "llmops", description="service.name of exported spans (OTEL_SERVICE_NAME wins)."
    )

    replica_id: str | None = Field(
        None,
        description="Name of this replica, recorded on every chat trace as service.instance.id "
        "(which replica served a turn); default host:pid.",
    )
    trusted_proxies: str = Field(
        "",
        description="Comma-separated addresses or networks of reverse proxies whose "
        "X-Forwarded-For header is believed (e.g. 127.0.0.1 behind nginx on the same host).",
    )

    # monitoring (docs/monitoring.md)
    alert_webhook_url: str | None = Field(
        None, description="Webhook notified about alert rules that do not name their own."
    )
    alert_webhook_timeout_s: float = Field(3.0, gt=0, description="Webhook request timeout.")
    console_url: str | None = Field(
        None, description="Public base URL of the console, for links in alert notifications."
    )
    background_interval_s: float = Field(
        10.0,
        gt=0,
        description="How often the app's background worker checks the canary's rollback "
        "rules (and other periodic jobs).",
    )
    # governance: retention and erasure (docs/governance.md); 0 days keeps forever
    retention_traces_days: int = Field(
        0, ge=0, description="Days chat, playground and red-team traces (with their spans, "
        "scores and gap candidates) are kept; rollups keep their aggregates. 0: forever.",
    )  # fmt: skip
    retention_eval_days: int = Field(
        0, ge=0, description="Days evaluation traces (eval: sessions) are kept. 0: forever."
    )
    retention_feedback_days: int = Field(
        0, ge=0, description="Days feedback rows are kept (rollups keep them). 0: forever."
    )
    retention_guard_events_days: int = Field(
        0, ge=0, description="Days guardrail events are kept. 0: forever."
    )
    retention_audit_days: int = Field(
        0, ge=0, description="Days audit-log rows are kept (separately from data). 0: forever."
    )
    retention_batch: int = Field(
        1000, ge=1, le=100_000, description="Rows deleted per retention transaction."
    )
    retention_interval_s: float = Field(
        3600.0, gt=0, description="How often the app's background worker applies retention."
    )
    overview_refresh_s: int = Field(
        30, ge=5, description="Auto-refresh interval of the Overview and Feedback pages."
    )

    @property
    def db_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.home / 'llmops.db').resolve()}"

    @property
    def instance_id(self) -> str:
        return self.replica_id or f"{socket.gethostname()}:{os.getpid()}"

    @property
    def chroma_dir(self) -> Path:
        return self.home / "chroma"

    @property
    def spool_dir(self) -> Path:
        return self.spool_dir_override or self.home / "spool"

    def ensure_home(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()


def reset_settings() -> None:
    """Forget cached settings (tests change the environment)."""
    get_settings.cache_clear()
