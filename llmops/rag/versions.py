"""Knowledge-base versions: which content of each source a version holds.

Every ingest or removal that changes the knowledge base commits a new version: the previous
version's manifest (source → content hash) with the changes applied. Chunks are stored once
per content (their ids derive from the content hash), so versions share what they have in
common, and retrieval for a version keeps the chunks whose hash its manifest lists.

A release pins a version (``kb_version: "kb-7"``) or follows the latest (``None``). A
version is kept while it is the latest or a release names it; ``collect`` drops the others,
and the knowledge base then deletes chunks no kept version (or the current sources) uses.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime

from sqlalchemy import case, delete, func, select

from llmops.errors import InvalidInputError, NotFoundError
from llmops.governance.roles import Actor, Capability, require
from llmops.store.db import Database
from llmops.store.models import AuditLog, KbVersion, KbVersionDoc, Release
from llmops.types import JSONDict

PREFIX = "kb-"
# The author of the throw-away versions a red-team scan plants test documents in
# (``llmops.redteam.plant``): never the base of a new version, deleted when the scan ends.
THROWAWAY_AUTHOR = "redteam-scan"


def name(version_id: int | None) -> str | None:
    return None if version_id is None else f"{PREFIX}{version_id}"


def parse(ref: str | int | None) -> int | None:
    """``kb-7``, ``7`` or 7 → 7; ``None``, ``""`` or ``latest`` → None (follow the latest)."""
    if ref is None or isinstance(ref, int):
        return ref
    text = ref.strip().lower()
    if text in ("", "latest"):
        return None
    digits = text.removeprefix(PREFIX)
    if not digits.isdigit() or len(digits) > 12:
        raise InvalidInputError(f"A knowledge-base version looks like 'kb-7', not {ref!r}.")
    return int(digits)


@dataclass
class Entry:
    source: str
    doc_hash: str
    title: str
    lang: str | None
    chunk_count: int
    ingested_by: str = "system"
    ingested_at: datetime | None = None


def latest(db: Database) -> int | None:
    """The newest published version: what releases that follow the latest serve."""
    with db.session() as s:
        return s.scalar(select(func.max(KbVersion.id)).where(KbVersion.published.is_(True)))


def newest(db: Database) -> int | None:
    """The newest version, published or not (the base of the next one)."""
    with db.session() as s:
        return s.scalar(select(func.max(KbVersion.id)))


def heads(db: Database) -> tuple[int | None, int | None]:
    """(the newest published version, the newest version): one indexed query. The newest
    version changes whenever the chunks do (every ingest or removal commits one), so it keys
    the in-memory search index."""
    with db.session() as s:
        row = s.execute(
            select(
                func.max(case((KbVersion.published.is_(True), KbVersion.id))),
                func.max(KbVersion.id),
            )
        ).one()
    return row[0], row[1]


def publish(db: Database, version_id: int, *, actor: Actor | str = "system") -> None:
    actor = require(db, actor, Capability.KNOWLEDGE, action="kb.publish")
    from llmops.store.models import AuditLog

    with db.session() as s:
        row = s.get(KbVersion, version_id)
        if row is None:
            raise NotFoundError(f"Knowledge-base version {name(version_id)} does not exist.")
        row.published = True
        s.add(AuditLog(actor=actor, action="kb.publish", target=name(version_id)))


def resolve(db: Database, ref: str | int | None) -> int | None:
    """The version a reference means now (None when no version exists yet)."""
    wanted = parse(ref)
    if wanted is None:
        return latest(db)
    with db.session() as s:
        if s.get(KbVersion, wanted) is None:
            raise NotFoundError(f"Knowledge-base version {name(wanted)} does not exist.")
    return wanted


def manifest(db: Database, version_id: int | None) -> dict[str, Entry]:
    if version_id is None:
        return {}
    with db.session() as s:
        rows = s.scalars(select(KbVersionDoc).where(KbVersionDoc.version_id == version_id))
        return {
            r.source: Entry(r.source, r.doc_hash, r.title, r.lang, r.chunk_count,
                            r.ingested_by, r.ingested_at)
            for r in rows
        }  # fmt: skip


def hashes(db: Database, version_id: int) -> frozenset[str]:
    with db.session() as s:
        return frozenset(
            s.scalars(select(KbVersionDoc.doc_hash).where(KbVersionDoc.version_id == version_id))
        )


def commit(
    db: Database,
    changes: dict[str, Entry | None],
    *,
    actor: str = "system",
    note: str = "",
    publish: bool = True,
) -> int:
    """A new version: the newest manifest with ``changes`` (an entry, or None: removed).
    Unpublished (``publish=False``), only releases that pin it serve it."""
    with db.session() as s:
        parent = s.scalar(
            select(func.max(KbVersion.id)).where(KbVersion.created_by != THROWAWAY_AUTHOR)
        )
        current = {}
        if parent is not None:
            current = {
                r.source: r for r in s.scalars(
                    select(KbVersionDoc).where(KbVersionDoc.version_id == parent))
            }  # fmt: skip
        docs: dict[str, Entry] = {
            src: Entry(r.source, r.doc_hash, r.title, r.lang, r.chunk_count, r.ingested_by,
                       r.ingested_at)
            for src, r in current.items()
        }  # fmt: skip
        for src, entry in changes.items():
            if entry is None:
                docs.pop(src, None)
            else:
                docs[src] = entry
        version = KbVersion(parent_id=parent, created_by=actor, note=note[:2000],
                            sources=len(docs), chunks=sum(e.chunk_count for e in docs.values()),
                            published=publish)  # fmt: skip
        s.add(version)
        s.flush()
        gone = sorted(src for src, e in changes.items() if e is None)
        s.add(AuditLog(actor=actor, action="kb.version", target=name(version.id),
                       details={"changed": sorted(set(changes) - set(gone))[:50],
                                "removed": gone[:50], "published": publish,
                                "note": note[:200] or None}))  # fmt: skip
        for e in docs.values():
            row = KbVersionDoc(version_id=version.id, source=e.source, doc_hash=e.doc_hash,
                               title=e.title, lang=e.lang, chunk_count=e.chunk_count,
                               ingested_by=e.ingested_by)  # fmt: skip
            if e.ingested_at is not None:
                row.ingested_at = e.ingested_at
            s.add(row)
        return int(version.id)


@dataclass
class VersionRow:
    id: int
    name: str
    parent_id: int | None
    created_at: datetime
    created_by: str
    note: str
    sources: int
    chunks: int
    latest: bool
    published: bool
    releases: list[str]

    def as_dict(self) -> JSONDict:
        return {**asdict(self), "created_at": self.created_at.isoformat(timespec="seconds")}


def pinned(db: Database) -> dict[int, list[str]]:
    """Versions named by releases → those releases' ids (the releases table is small)."""
    out: dict[int, list[str]] = {}
    with db.session() as s:
        for rid, config in s.execute(select(Release.id, Release.config)):
            try:
                version = parse((config or {}).get("kb_version"))
            except InvalidInputError:
                continue
            if version is not None:
                out.setdefault(version, []).append(rid)
    return out


def list_versions(db: Database, *, limit: int = 50, offset: int = 0) -> list[VersionRow]:
    top = latest(db)
    by_release = pinned(db)
    with db.session() as s:
        rows = s.scalars(
            select(KbVersion).order_by(KbVersion.id.desc()).limit(limit).offset(offset)
        ).all()
        return [
            VersionRow(r.id, name(r.id) or "", r.parent_id, r.created_at, r.created_by,
                       r.note or "", r.sources, r.chunks, r.id == top, r.published,
                       sorted(by_release.get(r.id, [])))
            for r in rows
        ]  # fmt: skip


def collect(db: Database) -> frozenset[str]:
    """Drop versions that are neither the latest published, the newest, nor named by a
    release; return the content hashes the kept versions use (their chunks must stay)."""
    keep = set(pinned(db)) | {v for v in (latest(db), newest(db)) if v is not None}
    with db.session() as s:
        s.execute(delete(KbVersionDoc).where(KbVersionDoc.version_id.not_in(keep or {-1})))
        s.execute(delete(KbVersion).where(KbVersion.id.not_in(keep or {-1})))
        used = s.scalars(select(KbVersionDoc.doc_hash).distinct())
        return frozenset(used)


@dataclass
class SourceChange:
    source: str
    change: str  # added | removed | changed
    a: str | None
    b: str | None


def compare(db: Database, a: int, b: int) -> list[SourceChange]:
    ma, mb = manifest(db, a), manifest(db, b)
    out = []
    for src in sorted(set(ma) | set(mb)):
        ha = ma[src].doc_hash if src in ma else None
        hb = mb[src].doc_hash if src in mb else None
        if ha != hb:
            kind = "added" if ha is None else "removed" if hb is None else "changed"
            out.append(SourceChange(src, kind, ha, hb))
    return out
