"""Releases: immutable, versioned configurations that the chat serves through labels.

A release bundles the system prompt, the model and its parameters, the retrieval settings,
the guard profile and the knowledge-base version. Labels (``production``, ``staging``,
``canary``) point at releases; the chat serves ``production``, or ``canary`` for a sticky
share of sessions when a canary label with a weight exists.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import select

from llmops.errors import NotFoundError
from llmops.llm.prompts import DEFAULT_SYSTEM_PROMPT
from llmops.store.db import Database
from llmops.store.models import AuditLog, Release, ReleaseLabel, utcnow

PRODUCTION = "production"
CANARY = "canary"


class ModelConfig(BaseModel):
    provider: str = Field(
        "local", description="local, openai, anthropic, ollama, openai-compatible"
    )
    name: str = "llmops-local"
    base_url: str | None = None
    api_key_env: str | None = Field(None, description="Environment variable holding the key.")
    temperature: float | None = None
    max_tokens: int | None = None
    timeout_s: float = 60.0
    max_retries: int = 1
    price_input_per_mtok: float = 0.0
    price_output_per_mtok: float = 0.0

    def cost(self, input_tokens: int, output_tokens: int) -> float:
        return (
            input_tokens * self.price_input_per_mtok + output_tokens * self.price_output_per_mtok
        ) / 1_000_000


class RetrievalConfig(BaseModel):
    k: int = Field(4, ge=1, le=50)
    min_score: float = Field(0.2, ge=-1.0, le=1.0)


class ReleaseConfig(BaseModel):
    system_prompt: str = DEFAULT_SYSTEM_PROMPT
    model: ModelConfig = Field(default_factory=ModelConfig)
    retrieval: RetrievalConfig = Field(default_factory=RetrievalConfig)
    guard_profile: str = "default"
    kb_version: str | None = None

    def digest(self) -> str:
        blob = json.dumps(self.model_dump(mode="json"), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()


class ReleaseInfo(BaseModel):
    id: str
    name: str
    config: ReleaseConfig
    label: str | None = None


def _info(row: Release, label: str | None = None) -> ReleaseInfo:
    return ReleaseInfo(
        id=row.id, name=row.name, config=ReleaseConfig.model_validate(row.config), label=label
    )


def create_release(
    db: Database,
    config: ReleaseConfig,
    *,
    name: str,
    description: str = "",
    actor: str = "system",
) -> ReleaseInfo:
    digest = config.digest()
    release_id = f"rel_{digest[:12]}"
    with db.session() as s:
        row = s.get(Release, release_id)
        if row is None:
            row = Release(
                id=release_id,
                name=name,
                description=description,
                config=config.model_dump(mode="json"),
                config_hash=digest,
                created_by=actor,
            )
            s.add(row)
            s.add(AuditLog(actor=actor, action="release.create", target=release_id))
        return _info(row)


def set_label(
    db: Database, label: str, release_id: str, *, weight: float = 1.0, actor: str = "system"
) -> None:
    with db.session() as s:
        if s.get(Release, release_id) is None:
            raise NotFoundError(f"Release {release_id!r} does not exist.")
        row = s.get(ReleaseLabel, label)
        previous = row.release_id if row else None
        if row is None:
            s.add(ReleaseLabel(label=label, release_id=release_id, weight=weight, updated_by=actor))
        else:
            row.release_id, row.weight, row.updated_at, row.updated_by = (
                release_id,
                weight,
                utcnow(),
                actor,
            )
        s.add(
            AuditLog(
                actor=actor,
                action="label.set",
                target=label,
                details={"release_id": release_id, "previous": previous, "weight": weight},
            )
        )


def ensure_default_release(db: Database) -> ReleaseInfo:
    """Create the default release and label it ``production`` on first start."""
    with db.session() as s:
        label = s.get(ReleaseLabel, PRODUCTION)
        if label is not None:
            row = s.get(Release, label.release_id)
            if row is not None:
                return _info(row, PRODUCTION)
    info = create_release(
        db, ReleaseConfig(), name="default", description="Local model, default prompt"
    )
    set_label(db, PRODUCTION, info.id)
    info.label = PRODUCTION
    return info


def get_release(db: Database, release_id: str) -> ReleaseInfo:
    with db.session() as s:
        row = s.get(Release, release_id)
        if row is None:
            raise NotFoundError(f"Release {release_id!r} does not exist.")
        return _info(row)


def resolve_release(db: Database, session_id: str | None = None) -> ReleaseInfo:
    """The release that serves a session: canary for a sticky share, else production."""
    with db.session() as s:
        labels = {r.label: r for r in s.scalars(select(ReleaseLabel))}
        chosen = labels.get(PRODUCTION)
        canary = labels.get(CANARY)
        if canary is not None and session_id and canary.weight > 0:
            bucket = zlib.crc32(session_id.encode()) % 10_000 / 10_000
            if bucket < canary.weight:
                chosen = canary
        if chosen is None:
            raise NotFoundError("No production release is labelled; run `llmops db upgrade`.")
        row = s.get(Release, chosen.release_id)
        if row is None:
            raise NotFoundError(f"Label {chosen.label!r} points at a missing release.")
        return _info(row, chosen.label)


def audit(db: Database, actor: str, action: str, target: str | None = None, **details: Any) -> None:
    with db.session() as s:
        s.add(AuditLog(actor=actor, action=action, target=target, details=details or None))
