"""A throw-away knowledge-base version for one scan: the attacked release's knowledge plus
the planted test documents (fake customer records, fake secrets, an injected instruction,
abusive text).

The version is unpublished (no release that follows the latest serves it), authored by
``versions.THROWAWAY_AUTHOR`` (never the base of a real version), and it is deleted with its
chunks when the scan ends — the planted documents never reach live traffic or the
``documents`` table.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import delete

from llmops.rag import versions
from llmops.rag.knowledge import SPLITTER_VERSION, KnowledgeBase
from llmops.store.models import KbVersion, KbVersionDoc

log = logging.getLogger(__name__)


@contextmanager
def planted_version(
    kb: KnowledgeBase, base: str | None, docs: dict[str, str], *, note: str = ""
) -> Iterator[str]:
    """Yield the name (``kb-N``) of a version holding ``base``'s sources plus ``docs``
    (source → markdown); remove it and its planted chunks afterwards."""
    db = kb.db
    base_id = versions.resolve(db, base)
    entries = dict(versions.manifest(db, base_id))
    chunk_ids: list[str] = []
    for source, text in docs.items():
        digest = hashlib.sha256(f"{SPLITTER_VERSION}\nredteam\n{text}".encode()).hexdigest()
        lang = "es" if source.endswith("-es.md") else "en"
        title = text.strip().splitlines()[0].lstrip("# ").strip() or source
        chunks = kb._split(text, source, title, lang, digest)
        kb.vectors.add_documents(chunks, ids=[c.metadata["chunk_id"] for c in chunks])
        chunk_ids += [c.metadata["chunk_id"] for c in chunks]
        entries[source] = versions.Entry(source, digest, title, lang, len(chunks), "redteam")
    with db.session() as s:
        row = KbVersion(parent_id=base_id, created_by=versions.THROWAWAY_AUTHOR,
                        note=(note or "red-team scan (throw-away)")[:2000],
                        sources=len(entries), chunks=sum(e.chunk_count for e in entries.values()),
                        published=False)  # fmt: skip
        s.add(row)
        s.flush()
        vid = int(row.id)
        for e in entries.values():
            s.add(KbVersionDoc(version_id=vid, source=e.source, doc_hash=e.doc_hash,
                               title=e.title, lang=e.lang, chunk_count=e.chunk_count,
                               ingested_by=e.ingested_by))  # fmt: skip
    kb.forget_views()
    try:
        yield versions.name(vid) or ""
    finally:
        try:
            with db.session() as s:
                s.execute(delete(KbVersionDoc).where(KbVersionDoc.version_id == vid))
                s.execute(delete(KbVersion).where(KbVersion.id == vid))
        except Exception:
            log.exception("could not delete the red-team knowledge-base version kb-%s", vid)
        try:
            kb.vectors.delete(ids=chunk_ids)
        finally:
            kb.forget_views()
