"""Wiring: one ``Runtime`` per process owns the store, the tracer, the knowledge base and the
chat service. Heavy parts (embeddings, Chroma) load on first use, so CLI commands that only
read traces start fast. Thread-safe: Streamlit serves sessions from threads.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING

from llmops.config import Settings, get_settings
from llmops.privacy import user_id_mapper
from llmops.redaction import redact
from llmops.releases import ReleaseInfo, ensure_default_release
from llmops.store.db import Database
from llmops.store.migrate import upgrade
from llmops.tracing import otlp
from llmops.tracing.tracer import Tracer
from llmops.tracing.writer import SpanWriter

if TYPE_CHECKING:
    from llmops.chat import ChatService
    from llmops.evals.online import OnlineEvaluator
    from llmops.rag.embeddings import MiniLMEmbeddings
    from llmops.rag.knowledge import KnowledgeBase

log = logging.getLogger(__name__)


def bootstrap(db: Database) -> ReleaseInfo:
    """Migrate the store to the newest schema and make sure a production release exists."""
    upgrade(db)
    return ensure_default_release(db)


class Runtime:
    def __init__(self, settings: Settings | None = None, *, migrate: bool = True) -> None:
        self.settings = settings or get_settings()
        self.settings.ensure_home()
        self.db = Database(self.settings.db_url, busy_timeout_ms=self.settings.db_busy_timeout_ms)
        if migrate:
            bootstrap(self.db)
        self.writer = SpanWriter(
            self.db,
            self.settings.spool_dir,
            batch_size=self.settings.trace_batch_size,
            flush_interval_s=self.settings.trace_flush_interval_s,
            retry_interval_s=self.settings.trace_retry_interval_s,
            redact=redact if self.settings.redact_pii else None,
            user_ids=user_id_mapper(self.settings),
            queue_max=self.settings.trace_queue_max,
            queue_high=self.settings.trace_queue_high,
            hold_max=self.settings.trace_hold_max,
            redact_process=self.settings.trace_redact_process,
            switch_interval_s=(self.settings.trace_switch_interval_ms / 1000) or None,
            exporter=otlp.from_settings(self.settings, self.db),
        )
        self.tracer = Tracer(self.writer)
        self._lock = threading.RLock()
        self._embeddings: MiniLMEmbeddings | None = None
        self._kb: KnowledgeBase | None = None
        self._chat: ChatService | None = None
        self._online: OnlineEvaluator | None = None
        self._background: threading.Thread | None = None
        self._stopping = threading.Event()

    @property
    def embeddings(self) -> MiniLMEmbeddings:
        with self._lock:
            if self._embeddings is None:
                from llmops.rag.embeddings import shared

                self._embeddings = shared(self.settings.embedding_model_path)
            return self._embeddings

    @property
    def kb(self) -> KnowledgeBase:
        with self._lock:
            if self._kb is None:
                from llmops.rag.knowledge import KnowledgeBase

                self._kb = KnowledgeBase(self.settings, self.db, self.embeddings)
            return self._kb

    @property
    def chat(self) -> ChatService:
        with self._lock:
            if self._chat is None:
                from llmops.chat import ChatService
                from llmops.guards.runner import GuardRunner

                self._chat = ChatService(
                    self.settings,
                    self.db,
                    self.kb,
                    self.tracer,
                    guards=GuardRunner(self.settings.guard_profile),
                )
            return self._chat

    def warm_up(self) -> threading.Thread:
        """Load the heavy parts (embeddings, Chroma, guardrails, Presidio) in a background
        thread, so the first chat turn does not pay for them and start-up stays fast."""

        def go() -> None:
            try:
                self.chat.guards.warm_up()
                self.kb.search("What is LLMOps?", k=1)
            except Exception:  # warming is best effort; the turn loads lazily
                log.warning("warm-up failed; parts will load on first use", exc_info=True)

        thread = threading.Thread(target=go, name="llmops-warm-up", daemon=True)
        thread.start()
        return thread

    def start_online_evaluation(self) -> bool:
        """Score a sample of live traffic in a background thread when
        ``LLMOPS_ONLINE_EVAL_RATE`` is above 0 (never on the chat's hot path). Returns
        whether a worker was started."""
        if self.settings.online_eval_rate <= 0 or self._online is not None:
            return False
        from llmops.evals.online import OnlineEvaluator

        self._online = OnlineEvaluator.from_settings(
            self.settings, self.db, self.embeddings
        ).start()
        return True

    def start_background(self) -> threading.Thread:
        """The app's background worker: every ``LLMOPS_BACKGROUND_INTERVAL_S`` it checks the
        running canary against its rollback rules (``llmops.releases.rollback``), as
        ``llmops monitor check`` does from cron; whichever runs first rolls back, once. Every
        ``LLMOPS_RETENTION_INTERVAL_S`` it also applies retention (``apply_retention``)."""
        if self._background is not None:
            return self._background
        from llmops.releases import rollback

        def loop() -> None:
            s = self.settings
            retention_due = time.monotonic()  # retention: first round, then every interval
            while not self._stopping.wait(s.background_interval_s):
                try:
                    rollback.check(
                        self.db,
                        default_webhook=s.alert_webhook_url,
                        timeout_s=s.alert_webhook_timeout_s,
                        console_url=s.console_url,
                    )
                except Exception:  # the next round tries again
                    log.warning("background check failed", exc_info=True)
                if time.monotonic() >= retention_due:
                    retention_due = time.monotonic() + s.retention_interval_s
                    self.apply_retention()

        self._background = threading.Thread(target=loop, name="llmops-background", daemon=True)
        self._background.start()
        return self._background

    def apply_retention(self) -> None:
        """Delete what is past its ``LLMOPS_RETENTION_*_DAYS`` (``llmops.governance``), a
        bounded number of batches a round, as ``llmops retention apply`` does from cron."""
        from llmops.governance import retention

        if not any(retention.days_for(self.settings).values()):
            return
        try:
            retention.apply(self.db, settings=self.settings, max_batches=100)
        except Exception:  # the next round tries again
            log.warning("retention failed", exc_info=True)

    def close(self) -> None:
        self._stopping.set()
        if self._online is not None:
            self._online.stop()
        self.writer.close()
        self.db.dispose()
