"""Is this replica ready to serve, and what is it configured with?

``check`` answers for ``llmops db doctor`` (and its ``--readiness`` exit code, for load
balancers and systemd health checks) and for the Settings page: the store answers, its schema
is current, Chroma answers, the trace writer is healthy. It also reports what does not make
a replica unready but needs attention: the writer's queue, the spool, the OTLP exporter and
the spans it could not deliver. ``effective_config`` is the configuration with every secret
masked (keys, password hash, tokens in URLs, OTLP header values).
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from sqlalchemy import func, select, text

from llmops.config import Settings
from llmops.store.db import Database, describe
from llmops.store.migrate import current_revision, head_revision
from llmops.store.models import Trace, TracingIncident
from llmops.tracing import otlp
from llmops.types import JSONDict

MASK = "•••• (set)"
# provider keys read from the environment (llmops.llm); shown as set / not set only
PROVIDER_KEYS = ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "OLLAMA_API_KEY", "LANGSMITH_API_KEY")
_SECRET_WORDS = ("password", "secret", "token", "key", "hash")


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    required: bool = True  # False: reported, but does not make the replica unready


@dataclass
class Readiness:
    ready: bool
    checks: list[Check]
    kb_version: int | None = None
    last_trace_at: str | None = None
    writer: dict[str, Any] | None = None
    otlp: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> JSONDict:
        return asdict(self)

    @property
    def failing(self) -> list[Check]:
        return [c for c in self.checks if c.required and not c.ok]


def _short(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0][:300] if lines else ''}"


def _store(db: Database) -> Check:
    try:
        with db.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return Check("store", True, f"{describe(db.url)} answers")
    except Exception as exc:  # noqa: BLE001 - reported, not raised
        return Check("store", False, f"{describe(db.url)}: {_short(exc)}")


def _migrations(db: Database) -> Check:
    try:
        revision, head = current_revision(db), head_revision()
    except Exception as exc:  # noqa: BLE001
        return Check("migrations", False, _short(exc))
    if revision != head:
        return Check("migrations", False, f"at {revision}, head is {head}: run `llmops db upgrade`")
    return Check("migrations", True, f"at head {head}")


def _chroma(settings: Settings) -> Check:
    """The Chroma server (or the embedded store) answers and holds the collection. Opened
    with the app's client settings (chromadb refuses a second client with other settings)."""
    try:
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        chroma_settings = ChromaSettings(anonymized_telemetry=False)
        if settings.chroma_host:
            where = f"{settings.chroma_host}:{settings.chroma_port}"
            client: Any = chromadb.HttpClient(
                host=settings.chroma_host, port=settings.chroma_port, settings=chroma_settings
            )
        else:
            where = str(settings.chroma_dir)
            if not settings.chroma_dir.exists():
                return Check("chroma", False, f"{where} does not exist: run `llmops kb ingest`")
            client = chromadb.PersistentClient(path=where, settings=chroma_settings)
        client.heartbeat()
        names = {getattr(c, "name", c) for c in client.list_collections()}
        if settings.collection not in names:
            return Check(
                "chroma", False, f"{where}: no collection {settings.collection!r} (ingest first)"
            )
        return Check("chroma", True, f"{where}: collection {settings.collection!r}")
    except Exception as exc:  # noqa: BLE001
        return Check("chroma", False, _short(exc))


def _otlp(settings: Settings, db: Database, exporter: Any, store_ok: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "enabled": bool(settings.otlp_endpoint),
        "endpoint": otlp.masked_url(otlp.traces_url(settings.otlp_endpoint))
        if settings.otlp_endpoint
        else None,
        "headers": otlp.header_names(),  # names only
        "running": exporter is not None,
        "stats": exporter.stats().as_dict() if exporter is not None else None,
        "dropped_24h": None,
        "dropped_total": None,
    }
    if store_ok:
        since = datetime.now(UTC) - timedelta(days=1)
        q = select(func.coalesce(func.sum(TracingIncident.records), 0)).where(
            TracingIncident.kind == otlp.INCIDENT_KIND
        )
        with db.session() as s:
            out["dropped_total"] = int(s.scalar(q) or 0)
            out["dropped_24h"] = int(s.scalar(q.where(TracingIncident.at >= since)) or 0)
    return out


def check(
    settings: Settings,
    db: Database,
    *,
    writer: Any = None,
    chroma: bool = True,
) -> Readiness:
    """Every readiness check; never raises (a failing part is a failing check)."""
    checks = [_store(db)]
    store_ok = checks[0].ok
    checks.append(_migrations(db) if store_ok else Check("migrations", False, "store down"))
    if chroma:
        checks.append(_chroma(settings))
    writer_info = None
    if writer is not None:
        stats = writer.stats()
        writer_info = stats.as_dict() | {
            "queue_max": writer.queue_max,
            "queue_high": writer.queue_high,
        }
        checks.append(
            Check(
                "writer",
                stats.healthy,
                f"{stats.queued} queued, {stats.written} written, {stats.spooled} spooled, "
                f"{stats.dropped + stats.refused} lost, {stats.throttled} throttled, "
                f"{stats.spool_files} spool file(s), "
                f"last batch stored {stats.last_write_at or 'never (by this process)'}"
                if stats.healthy
                else f"the store is not taking traces; {stats.spool_files} spool file(s)",
            )
        )
    kb_version = last_trace = None
    if store_ok and checks[1].ok:
        from llmops.rag import versions

        try:
            kb_version = versions.latest(db)
            with db.session() as s:
                last = s.scalar(select(func.max(Trace.started_at)))
            last_trace = last.isoformat(timespec="seconds") if last else None
        except Exception:  # noqa: BLE001 - informative only
            pass
    exporter = getattr(writer, "exporter", None)
    export = _otlp(settings, db, exporter, store_ok and checks[1].ok)
    if export["enabled"]:
        stats = export["stats"]
        healthy = stats is None or stats["healthy"]
        checks.append(
            Check(
                "otlp",
                (writer is None or exporter is not None) and healthy,
                f"{export['endpoint']}: "
                + (
                    f"{stats['exported']} exported, {stats['dropped']} dropped, "
                    f"{stats['queued']} queued"
                    if stats
                    else "configured"
                )
                + (
                    f"; {export['dropped_24h']} spans not delivered in 24 h"
                    if export["dropped_24h"]
                    else ""
                ),
                required=False,
            )
        )
    ready = all(c.ok for c in checks if c.required)
    return Readiness(ready, checks, kb_version, last_trace, writer_info, export)


# -- effective configuration, secrets masked ------------------------------------------------------
def _mask_url(url: str, *, keep_path: bool = True) -> str:
    parts = urlsplit(url)
    netloc = parts.hostname or ""
    if parts.port:
        netloc += f":{parts.port}"
    if parts.username:
        netloc = f"{parts.username}:***@{netloc}" if parts.password else f"***@{netloc}"
    path = parts.path if keep_path else ("/…" if parts.path not in ("", "/") else "")
    return urlunsplit((parts.scheme, netloc, path, "", ""))


def _secret(name: str) -> bool:
    return any(word in name for word in _SECRET_WORDS) and not name.endswith("_env")


def effective_config(settings: Settings) -> list[dict[str, str]]:
    """Every setting with its environment variable, value (secrets masked) and description."""
    rows: list[dict[str, str]] = []
    for name, info in type(settings).model_fields.items():
        value = getattr(settings, name)
        env = info.alias or f"LLMOPS_{name.upper()}"
        if value is None or value == "" or value == []:
            shown = "—"
        elif name == "database_url":
            shown = describe(str(value))
        elif name in ("alert_webhook_url", "console_url", "otlp_endpoint"):
            # webhook URLs carry their token in the path (Slack, Teams): host only
            shown = _mask_url(str(value), keep_path=name != "alert_webhook_url")
        elif _secret(name):
            shown = MASK
        else:
            shown = str(value)
        rows.append({"setting": env, "value": shown, "description": info.description or ""})
    rows.append({"setting": "store", "value": describe(settings.db_url),
                 "description": "The store in use."})  # fmt: skip
    rows.append(
        {
            "setting": "OTEL_EXPORTER_OTLP_HEADERS",
            "value": ", ".join(f"{h}={MASK}" for h in otlp.header_names()) or "—",
            "description": "Headers sent to the OTLP collector (values masked).",
        }
    )
    for key in PROVIDER_KEYS:
        rows.append(
            {
                "setting": key,
                "value": MASK if os.environ.get(key) else "—",
                "description": "Model provider key (from the environment).",
            }
        )
    return rows
