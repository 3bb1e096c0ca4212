"""Releases: immutable, versioned configurations that the chat serves through labels.

A release bundles the system prompt, the model and its parameters, the retrieval settings,
the guard profile and the knowledge-base version. Its id is derived from its configuration
(``rel_`` + 12 hex digits of its sha256), so the same configuration is the same release.
Labels point at releases and move: ``production`` serves everyone, ``canary`` (with a weight)
a sticky share of sessions (``llmops.releases.assign``), ``staging`` nobody — it marks a
candidate. Every move is a ``label_events`` row (who, when, from → to, note), so the
production history is readable and a rollback knows where to go.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, ValidationError, field_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from llmops.errors import InvalidInputError, NotFoundError
from llmops.governance.roles import Actor, Capability, require
from llmops.releases.assign import in_canary
from llmops.store.db import Database
from llmops.store.models import AuditLog, LabelEvent, Release, ReleaseLabel, utcnow
from llmops.types import JSONDict, JSONValue

PRODUCTION = "production"
CANARY = "canary"
STAGING = "staging"
LABELS = (PRODUCTION, CANARY, STAGING)
MAX_CANARY_WEIGHT = 0.5
PROVIDER_NAMES = ("local", "openai", "openai-compatible", "anthropic", "ollama")
MAX_PROMPT = 20_000


class ModelConfig(BaseModel):
    provider: str = Field(
        "local", description="local, openai, anthropic, ollama, openai-compatible"
    )
    name: str = "llmops-local"
    base_url: str | None = None
    api_key_env: str | None = Field(None, description="Environment variable holding the key.")
    temperature: float | None = Field(None, ge=0.0, le=2.0)
    max_tokens: int | None = Field(None, ge=1, le=1_000_000)
    timeout_s: float = Field(60.0, gt=0, le=3600)
    max_retries: int = Field(1, ge=0, le=10)
    price_input_per_mtok: float = Field(0.0, ge=0)
    price_output_per_mtok: float = Field(0.0, ge=0)

    @field_validator("provider")
    @classmethod
    def _provider(cls, v: str) -> str:
        if v not in PROVIDER_NAMES:
            raise ValueError(f"unknown provider {v!r}; one of {', '.join(PROVIDER_NAMES)}")
        return v

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not v.strip() or len(v) > 200:
            raise ValueError("the model name must be 1 to 200 characters")
        return v.strip()

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, v: str | None) -> str | None:
        if v is None or not v.strip():
            return None
        parts = urlsplit(v.strip())
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("the base URL must be an http:// or https:// URL")
        return v.strip()

    @field_validator("api_key_env")
    @classmethod
    def _key_env(cls, v: str | None) -> str | None:
        if v is None or not v.strip():
            return None
        if not v.replace("_", "").isalnum():
            raise ValueError("the API key variable must be an environment variable name")
        return v

    def cost(self, input_tokens: int, output_tokens: int) -> float:
        return (
            input_tokens * self.price_input_per_mtok + output_tokens * self.price_output_per_mtok
        ) / 1_000_000


class RetrievalConfig(BaseModel):
    k: int = Field(4, ge=1, le=50)
    min_score: float = Field(0.2, ge=-1.0, le=1.0)


def _default_system_prompt() -> str:
    # imported when a config is built: llmops.llm.prompts loads LangChain's prompt classes,
    # which commands that only read releases (``llmops traces list``) should not pay for
    from llmops.llm.prompts import DEFAULT_SYSTEM_PROMPT

    return DEFAULT_SYSTEM_PROMPT


class ReleaseConfig(BaseModel):
    system_prompt: str = Field(default_factory=_default_system_prompt)
    model: ModelConfig = Field(default_factory=ModelConfig)
    retrieval: RetrievalConfig = Field(default_factory=RetrievalConfig)
    guard_profile: str = "default"
    kb_version: str | None = None

    @field_validator("system_prompt")
    @classmethod
    def _prompt(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("the system prompt must not be empty")
        if len(v) > MAX_PROMPT:
            raise ValueError(f"the system prompt is {len(v):,} characters; the limit is 20,000")
        return v

    @field_validator("guard_profile")
    @classmethod
    def _profile(cls, v: str) -> str:
        from llmops.guards.profiles import PROFILES

        if v not in PROFILES:
            raise ValueError(f"unknown guard profile {v!r}; one of {', '.join(PROFILES)}")
        return v

    def digest(self) -> str:
        blob = json.dumps(self.model_dump(mode="json"), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()

    def release_id(self) -> str:
        """The id this configuration has (or will have, once saved) as a release."""
        return f"rel_{self.digest()[:12]}"


def _problems(exc: ValidationError) -> list[tuple[str, str]]:
    return [(".".join(str(p) for p in e["loc"]) or "config", e["msg"]) for e in exc.errors()]


def parse_config(data: object) -> ReleaseConfig:
    """A release configuration from user input, or one ``InvalidInputError`` naming every
    field that is wrong."""
    try:
        return ReleaseConfig.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{path}: {msg}" for path, msg in _problems(exc))
        raise InvalidInputError(f"Invalid release configuration: {problems}.") from None


def config_problems(data: object) -> list[tuple[str, str]]:
    """Every wrong field of a configuration as (dotted path, message); [] when it is valid
    (a form shows each next to its field)."""
    try:
        ReleaseConfig.model_validate(data)
    except ValidationError as exc:
        return _problems(exc)
    return []


def exists(db: Database, release_id: str) -> bool:
    with db.session() as s:
        return s.get(Release, release_id) is not None


class ReleaseInfo(BaseModel):
    id: str
    name: str
    config: ReleaseConfig
    label: str | None = None
    description: str = ""
    created_at: datetime | None = None
    created_by: str | None = None


def _info(row: Release, label: str | None = None) -> ReleaseInfo:
    return ReleaseInfo(
        id=row.id,
        name=row.name,
        config=ReleaseConfig.model_construct(**_config_fields(row.config)),
        label=label,
        description=row.description or "",
        created_at=row.created_at,
        created_by=row.created_by,
    )


def _config_fields(data: JSONDict) -> JSONDict:
    """A stored configuration as model objects, without re-validating it: a release stays
    servable even if a rule added later would reject it."""
    out = dict(data)
    out["model"] = ModelConfig.model_construct(**(data.get("model") or {}))
    out["retrieval"] = RetrievalConfig.model_construct(**(data.get("retrieval") or {}))
    missing = [k for k in ("system_prompt", "guard_profile", "kb_version") if k not in out]
    if missing:  # an older stored config: today's defaults fill the gaps
        defaults = ReleaseConfig().model_dump()
        for key in missing:
            out[key] = defaults[key]
    return out


def _event(
    s: Session,
    *,
    label: str,
    action: str,
    release_id: str | None,
    previous: str | None,
    weight: float,
    actor: str,
    note: str = "",
) -> None:
    s.add(LabelEvent(label=label, action=action, release_id=release_id,
                     previous_release_id=previous, weight=weight, actor=actor, note=note))  # fmt: skip
    s.add(
        AuditLog(
            actor=actor,
            action=f"release.{action}",
            target=label,
            details={
                "release_id": release_id,
                "previous": previous,
                "weight": weight,
                "note": note or None,
            },
        )
    )


def create_release(
    db: Database,
    config: ReleaseConfig,
    *,
    name: str,
    description: str = "",
    actor: Actor | str = "system",
) -> ReleaseInfo:
    """Save a configuration as a release (the existing one if the same config was saved)."""
    actor = require(db, actor, Capability.RELEASES, action="release.create")
    name = name.strip()
    if not name or len(name) > 200:
        raise InvalidInputError("A release needs a name of 1 to 200 characters.")
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
            s.add(
                AuditLog(
                    actor=actor, action="release.create", target=release_id,
                    details={"name": name, "note": description or None},
                )
            )  # fmt: skip
        return _info(row)


def set_label(
    db: Database,
    label: str,
    release_id: str,
    *,
    weight: float = 1.0,
    actor: Actor | str = "system",
    action: str = "label",
    note: str = "",
) -> str | None:
    """Point ``label`` at a release; returns the release it pointed at before."""
    actor = require(db, actor, Capability.RELEASES, action="release.label")
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
        _event(s, label=label, action=action, release_id=release_id, previous=previous,
               weight=weight, actor=actor, note=note)  # fmt: skip
        return previous


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
    set_label(db, PRODUCTION, info.id, action="promote", note="first start")
    info.label = PRODUCTION
    return info


def get_release(db: Database, release_id: str) -> ReleaseInfo:
    with db.session() as s:
        row = s.get(Release, release_id)
        if row is None:
            raise NotFoundError(f"Release {release_id!r} does not exist.")
        return _info(row)


def resolve_ref(db: Database, ref: str) -> ReleaseInfo:
    """A release by id, unique id prefix (``rel_3f2a``) or label (``production``)."""
    ref = (ref or "").strip()
    if not ref:
        raise InvalidInputError("Name a release: its id or a label (production, canary, staging).")
    with db.session() as s:
        if ref in LABELS:
            label = s.get(ReleaseLabel, ref)
            if label is None or (ref == CANARY and label.weight <= 0):
                raise NotFoundError(f"No release is labelled {ref!r}.")
            row = s.get(Release, label.release_id)
            if row is None:
                raise NotFoundError(f"Label {ref!r} points at a missing release.")
            return _info(row, ref)
        row = s.get(Release, ref)
        if row is None and len(ref) >= 6:
            matches = s.scalars(
                select(Release).where(Release.id.startswith(ref, autoescape=True)).limit(2)
            ).all()
            if len(matches) > 1:
                raise InvalidInputError(f"{ref!r} matches several releases; give more of the id.")
            row = matches[0] if matches else None
        if row is None:
            raise NotFoundError(f"Release {ref!r} does not exist.")
        return _info(row)


def resolve_ref_or_file(db: Database, ref: str, *, actor: str = "system") -> ReleaseInfo:
    """A release from a label (production, canary, ...), a release id, or a JSON file with a
    release configuration (created if new — how a CI job evaluates a candidate)."""
    ref = (ref or "").strip()
    if not ref:
        raise InvalidInputError("Name a release: a label, a release id or a config file.")
    with db.session() as s:
        label = s.get(ReleaseLabel, ref)
        release_id = label.release_id if label is not None else None
    if release_id is not None:
        info = get_release(db, release_id)
        info.label = ref
        return info
    path = Path(ref)
    if ref.endswith(".json") or path.is_file():
        return _release_from_file(db, path, actor)
    try:
        return get_release(db, ref)
    except NotFoundError:
        raise NotFoundError(
            f"No release or label named {ref!r}.",
            hint="use a label (production, staging, canary), a release id, or a .json config",
        ) from None


def _release_from_file(db: Database, path: Path, actor: str) -> ReleaseInfo:
    import json

    from pydantic import ValidationError

    if not path.is_file():
        raise NotFoundError(f"Release file {str(path)!r} does not exist.")
    try:
        config = ReleaseConfig.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"{path.name}: not a JSON release configuration ({exc}).") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise InvalidInputError(f"{path.name}: {where}: {first['msg']}") from None
    return create_release(db, config, name=path.stem, description=f"from {path}", actor=actor)


@dataclass
class Labels:
    production: str | None
    canary: str | None
    canary_weight: float
    staging: str | None


def labels(db: Database) -> Labels:
    with db.session() as s:
        rows = {r.label: r for r in s.scalars(select(ReleaseLabel))}
    canary = rows.get(CANARY)
    live_canary = canary if canary is not None and canary.weight > 0 else None
    return Labels(
        production=rows[PRODUCTION].release_id if PRODUCTION in rows else None,
        canary=live_canary.release_id if live_canary else None,
        canary_weight=live_canary.weight if live_canary else 0.0,
        staging=rows[STAGING].release_id if STAGING in rows else None,
    )


def resolve_release(db: Database, session_id: str | None = None) -> ReleaseInfo:
    """The release that serves a session: the canary for its sticky share, else production.

    ``label`` on the result says how it was assigned (``canary`` or ``production``)."""
    with db.session() as s:
        rows = {r.label: r for r in s.scalars(select(ReleaseLabel))}
        chosen = rows.get(PRODUCTION)
        canary = rows.get(CANARY)
        if (
            canary is not None
            and session_id
            and canary.weight > 0
            and in_canary(session_id, canary.weight)
        ):
            chosen = canary
        if chosen is None:
            raise NotFoundError("No production release is labelled; run `llmops db upgrade`.")
        row = s.get(Release, chosen.release_id)
        if row is None:
            raise NotFoundError(f"Label {chosen.label!r} points at a missing release.")
        return _info(row, chosen.label)


@dataclass
class Assignment:
    session_id: str
    release_id: str
    release_name: str
    label: str


def which(db: Database, session_ids: list[str]) -> list[Assignment]:
    """The release each session is served now (support and debugging)."""
    out = []
    for sid in session_ids:
        info = resolve_release(db, sid)
        out.append(Assignment(sid, info.id, info.name, info.label or PRODUCTION))
    return out


@dataclass
class ReleaseRow:
    id: str
    name: str
    description: str
    created_at: datetime
    created_by: str
    labels: list[str]
    traffic_share: float

    def as_dict(self) -> JSONDict:
        return {**self.__dict__, "created_at": self.created_at.isoformat(timespec="seconds")}


def list_releases(db: Database, *, limit: int = 50, offset: int = 0) -> list[ReleaseRow]:
    """Releases newest first, with their labels and the share of sessions each serves."""
    current = labels(db)
    with db.session() as s:
        rows = s.execute(
            select(Release.id, Release.name, Release.description, Release.created_at,
                   Release.created_by)
            .order_by(Release.created_at.desc(), Release.id)
            .limit(limit)
            .offset(offset)
        ).all()  # fmt: skip
    out = []
    for rid, name, desc, at, by in rows:
        tags = [
            lbl
            for lbl, target in (
                (PRODUCTION, current.production),
                (CANARY, current.canary),
                (STAGING, current.staging),
            )
            if target == rid
        ]
        share = 0.0
        if rid == current.canary:
            share += current.canary_weight
        if rid == current.production:
            share += 1.0 - (current.canary_weight if current.canary else 0.0)
        out.append(ReleaseRow(rid, name, desc or "", at, by, tags, round(share, 4)))
    return out


def count_releases(db: Database) -> int:
    from sqlalchemy import func

    with db.session() as s:
        return int(s.scalar(select(func.count()).select_from(Release)) or 0)


@dataclass
class LabelMove:
    at: datetime
    label: str
    action: str
    release_id: str | None
    previous_release_id: str | None
    weight: float
    actor: str
    note: str

    def as_dict(self) -> JSONDict:
        return {**self.__dict__, "at": self.at.isoformat(timespec="seconds")}


def history(db: Database, *, limit: int = 50, offset: int = 0) -> list[LabelMove]:
    """Label moves, newest first (promotions, rollbacks, canaries, automatic rollbacks)."""
    with db.session() as s:
        rows = s.scalars(
            select(LabelEvent)
            .order_by(LabelEvent.at.desc(), LabelEvent.id.desc())
            .limit(limit)
            .offset(offset)
        ).all()
        return [
            LabelMove(r.at, r.label, r.action, r.release_id, r.previous_release_id, r.weight,
                      r.actor, r.note or "")
            for r in rows
        ]  # fmt: skip


def audit(
    db: Database, actor: str, action: str, target: str | None = None, **details: JSONValue
) -> None:
    with db.session() as s:
        s.add(AuditLog(actor=actor, action=action, target=target, details=details or None))
