"""The knowledge base: sources → chunks → embeddings → a Chroma collection, and retrieval.

Ingest is idempotent by content hash (an unchanged file is a no-op), safe (new chunks are
added before a changed file's old chunks are removed, so a failure never loses what was
there) and forgiving (a malformed, empty or binary file — not UTF-8, or with NUL bytes — is
reported and skipped, and what it held before is kept).
Retrieval is hybrid: dense cosine similarity fused with BM25 over accent-folded stems
(reciprocal-rank fusion), because all-MiniLM-L6-v2 is an English model and keyword overlap
rescues Spanish and jargon-heavy questions.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict
from sqlalchemy import func, or_, select

from llmops.config import Settings
from llmops.governance.roles import Actor, Capability, require
from llmops.rag import versions
from llmops.store.db import Database
from llmops.store.models import Document as DocumentRow
from llmops.store.models import utcnow
from llmops.text import detect_lang, index_terms, split_sentences
from llmops.types import JSONDict

log = logging.getLogger(__name__)

SUPPORTED = {".md", ".markdown", ".txt", ".pdf"}
RRF_K = 60
SPLITTER_VERSION = "sections-2"
EXACT_MAX = 20_000  # up to this many chunks, dense search is an exact scan of a matrix in memory
STATE_TTL_S = 5.0  # how often a turn re-reads the versions (another process may ingest)

_LIST_ITEM = re.compile(r"^\s*([-*•+]|\d{1,3}[.)])\s+")
_HEADING = re.compile(r"^(#{1,6})\s+(.*\S)\s*$")


def _sections(text: str, title: str) -> list[tuple[str, list[str]]]:
    """(heading, paragraphs) per markdown section. A paragraph is a block of lines joined
    with spaces (so wrapped markdown and PDF text become whole sentences); list items stay
    paragraphs of their own."""
    sections: list[tuple[str, list[str]]] = [(title, [])]
    for block in re.split(r"\n\s*\n", text.replace("\r\n", "\n")):
        current: list[str] = []
        for raw in block.splitlines():
            line = raw.strip()
            if not line:
                continue
            heading = _HEADING.match(line)
            if heading:
                if current:
                    sections[-1][1].append(" ".join(current))
                    current = []
                if len(heading.group(1)) > 1:  # "# Title" is the document, not a section
                    sections.append((f"{title} — {heading.group(2)}", []))
                continue
            if _LIST_ITEM.match(line):
                if current:
                    sections[-1][1].append(" ".join(current))
                current = [line]
                continue
            current.append(line)
        if current:
            sections[-1][1].append(" ".join(current))
    return [(h, paras) for h, paras in sections if paras]


def split_markdown(text: str, title: str, *, size: int = 700, overlap: int = 100) -> list[str]:
    """Chunks that never cross a section and never cut a sentence.

    Each chunk starts with a ``## <title> — <section>`` line, so a chunk carries its context
    into the embedding, the keyword index and the model's sources; sentences are packed up
    to ``size`` characters, and a section that needs several chunks repeats the last
    sentence (when shorter than ``overlap`` × 2) at the start of the next one.
    """
    chunks: list[str] = []
    for heading, paragraphs in _sections(text, title):
        head = f"## {heading}"
        lines: list[str] = []  # the chunk being filled: paragraphs, or parts of one
        length = len(head)
        for paragraph in paragraphs:
            listed = _LIST_ITEM.match(paragraph)  # a list item keeps its marker
            sentences = [paragraph] if listed else split_sentences(paragraph) or [paragraph]
            line: list[str] = []
            for sentence in sentences:
                if length + len(sentence) + 1 > size and (lines or line):
                    if line:
                        lines.append(" ".join(line))
                    chunks.append("\n".join([head, *lines]))
                    carry = line[-1] if line and len(line[-1]) <= 2 * overlap else None
                    line = [carry] if carry else []
                    lines = []
                    length = len(head) + (len(carry) + 1 if carry else 0)
                line.append(sentence)
                length += len(sentence) + 1
            if line:
                lines.append(" ".join(line))
        if lines:
            chunks.append("\n".join([head, *lines]))
    return chunks


@dataclass
class IngestReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    chunks: int = 0
    version: str | None = None  # the version this made, if it changed anything

    def as_dict(self) -> JSONDict:
        return {
            "added": self.added,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "removed": self.removed,
            "skipped": [{"source": s, "reason": r} for s, r in self.skipped],
            "chunks": self.chunks,
            "version": self.version,
        }


def _read(path: Path) -> str:
    if path.suffix.lower() == ".pdf":
        from pypdf import PdfReader

        reader = PdfReader(str(path))
        return "\n\n".join((page.extract_text() or "") for page in reader.pages)
    return path.read_text(encoding="utf-8")


def _title(text: str, fallback: str) -> str:
    for line in text.splitlines():
        if line.startswith("# "):
            return line[2:].strip()
    return fallback


def _expand(paths: Iterable[Path]) -> list[tuple[Path, str]]:
    """Files to ingest with their source names (relative to the folder given)."""
    found: list[tuple[Path, str]] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            for f in sorted(p for p in path.rglob("*") if p.is_file()):
                if f.suffix.lower() in SUPPORTED and not f.name.lower().startswith("readme"):
                    found.append((f, f.relative_to(path).as_posix()))
        else:
            found.append((path, path.name))
    return found


@dataclass
class SourceRow:
    source: str
    title: str
    lang: str | None
    chunks: int
    content_hash: str
    ingested_at: datetime
    ingested_by: str


def list_sources(
    db: Database, *, contains: str | None = None, limit: int = 50, offset: int = 0
) -> tuple[list[SourceRow], int]:
    """One page of the current sources by name (``contains``: in the name or title, any
    case), and how many match."""
    where = []
    if contains and contains.strip():
        text = contains.strip().lower()
        where.append(
            or_(
                func.lower(DocumentRow.source).contains(text, autoescape=True),
                func.lower(DocumentRow.title).contains(text, autoescape=True),
            )
        )
    with db.session() as s:
        total = int(s.scalar(select(func.count()).select_from(DocumentRow).where(*where)) or 0)
        rows = s.execute(
            select(DocumentRow.source, DocumentRow.title, DocumentRow.lang,
                   DocumentRow.chunk_count, DocumentRow.content_hash, DocumentRow.ingested_at,
                   DocumentRow.ingested_by)
            .where(*where).order_by(DocumentRow.source).limit(limit).offset(offset)
        ).all()  # fmt: skip
    return [SourceRow(*r) for r in rows], total


class KnowledgeBase:
    """A Chroma collection plus the ``documents`` table that tracks its sources."""

    def __init__(self, settings: Settings, db: Database, embeddings: Embeddings) -> None:
        import chromadb
        from chromadb.config import Settings as ChromaSettings
        from langchain_chroma import Chroma

        chroma_settings = ChromaSettings(anonymized_telemetry=False)
        if settings.chroma_host:
            client = chromadb.HttpClient(
                host=settings.chroma_host, port=settings.chroma_port, settings=chroma_settings
            )
        else:
            settings.chroma_dir.mkdir(parents=True, exist_ok=True)
            client = chromadb.PersistentClient(
                path=str(settings.chroma_dir), settings=chroma_settings
            )
        self.settings = settings
        self.db = db
        self.embeddings = embeddings
        self.vectors = Chroma(
            client=client,
            collection_name=settings.collection,
            embedding_function=embeddings,
            collection_metadata={"hnsw:space": "cosine"},
        )
        self._lock = threading.Lock()  # guards the two caches below; never held while building
        self._build_lock = threading.Lock()  # one index build at a time
        self._cache: _Index | None = None
        self._views: dict[int, _Index] = {}  # per knowledge-base version, over _cache
        self._state: tuple[float, int | None, int | None] = (-1e9, None, None)
        self._refreshing = False
        self.refresher: threading.Thread | None = None  # the last background index build

    # -- ingest -----------------------------------------------------------------------------
    def _split(self, text: str, source: str, title: str, lang: str, digest: str) -> list[Document]:
        pieces = split_markdown(
            text, title, size=self.settings.chunk_size, overlap=self.settings.chunk_overlap
        )
        return [
            Document(
                page_content=piece,
                metadata={
                    "source": source,
                    "title": title,
                    "lang": lang,
                    "doc_hash": digest,
                    "chunk_index": i,
                    "chunk_id": f"{digest[:16]}-{i:04d}",
                },
            )
            for i, piece in enumerate(pieces)
        ]

    def ingest(
        self,
        paths: Sequence[Path] | None = None,
        *,
        actor: Actor | str = "system",
        note: str = "",
        publish: bool = True,
        names: dict[Path, str] | None = None,
    ) -> IngestReport:
        """Add or update sources; a file is stored whole or not at all, and what changed
        becomes one new version (published: releases following the latest serve it; not
        published: only releases that pin it). ``names`` gives uploaded files their source
        names."""
        actor = require(self.db, actor, Capability.KNOWLEDGE, action="kb.ingest")
        report = IngestReport()
        changes: dict[str, versions.Entry | None] = {}
        for path, source in _expand(paths or [self.settings.knowledge_dir]):
            if not path.exists():
                report.skipped.append((str(path), "not found"))
                continue
            if path.suffix.lower() not in SUPPORTED:
                report.skipped.append((source, f"unsupported file type {path.suffix or '(none)'}"))
                continue
            try:
                text = _read(path)
            except UnicodeDecodeError:
                report.skipped.append((source, "not valid UTF-8 text"))
                continue
            except Exception as exc:  # noqa: BLE001 - pypdf raises many kinds
                report.skipped.append((source, f"unreadable: {type(exc).__name__}: {exc}"))
                continue
            if "\x00" in text and path.suffix.lower() != ".pdf":
                # valid UTF-8 but not text: NUL bytes are what a binary file is made of, and
                # PostgreSQL cannot store them; what was ingested before stays as it is
                report.skipped.append((source, "contains NUL bytes: a binary file, not text"))
                continue
            if not text.strip():
                report.skipped.append((source, "empty"))
                continue
            source = (names or {}).get(path, source)
            entry = self._ingest_text(text, source, path, report, actor)
            if entry is not None:
                changes[source] = entry
        if changes or (self._needs_first_version() and not report.skipped):
            self._commit(changes, report, actor=actor, note=note, publish=publish)
        return report

    def _needs_first_version(self) -> bool:
        """Sources exist but no version does (ingested before versions existed)."""
        with self.db.session() as s:
            return versions.newest(self.db) is None and s.scalar(select(DocumentRow.id)) is not None

    def _commit(
        self,
        changes: dict[str, versions.Entry | None],
        report: IngestReport,
        *,
        actor: str,
        note: str,
        publish: bool,
    ) -> None:
        if versions.newest(self.db) is None:  # the first version holds every current source
            with self.db.session() as s:
                for r in s.scalars(select(DocumentRow)):
                    changes.setdefault(r.source, versions.Entry(
                        r.source, r.content_hash, r.title, r.lang, r.chunk_count,
                        r.ingested_by, r.ingested_at))  # fmt: skip
        version = versions.commit(self.db, changes, actor=actor, note=note, publish=publish)
        report.version = versions.name(version)
        self.collect_garbage()

    def remove(
        self, sources: Sequence[str], *, actor: Actor | str = "system", note: str = ""
    ) -> IngestReport:
        """Take sources out of the knowledge base: a new version without them. Their chunks
        stay while a kept version (one a release pins) still holds them."""
        actor = require(self.db, actor, Capability.KNOWLEDGE, action="kb.remove")
        report = IngestReport()
        with self.db.session() as s:
            rows = {
                r.source: r
                for r in s.scalars(select(DocumentRow).where(DocumentRow.source.in_(list(sources))))
            }
            for src in sources:
                if src not in rows:
                    report.skipped.append((src, "not in the knowledge base"))
            for row in rows.values():
                s.delete(row)
        if rows:
            report.removed = sorted(rows)
            self._commit({src: None for src in rows}, report, actor=actor, note=note or
                         f"removed {', '.join(sorted(rows))}", publish=True)  # fmt: skip
        return report

    def collect_garbage(self) -> int:
        """Drop versions nothing needs, then the chunks no kept version or current source
        uses; returns how many chunks were deleted."""
        keep = set(versions.collect(self.db))
        with self.db.session() as s:
            keep |= set(s.scalars(select(DocumentRow.content_hash)))
        got = self.vectors.get(include=["metadatas"])
        stale = [
            i for i, m in zip(got["ids"], got["metadatas"], strict=False)
            if (m or {}).get("doc_hash") not in keep
        ]  # fmt: skip
        if stale:
            self.vectors.delete(ids=stale)
        self.forget_views()
        return len(stale)

    def forget_views(self) -> None:
        """Drop the cached index and version views and build the index again now, in the
        caller's thread (after this process changed the chunks: ``ingest``, ``remove``, or a
        red-team scan's throw-away version), so the next chat turn finds it ready."""
        with self._lock:
            self._cache = None
            self._views.clear()
            self._state = (-1e9, None, None)
        try:
            self._index()
        except Exception:  # the next search builds it (and reports what fails)
            log.warning("rebuilding the knowledge index failed", exc_info=True)

    def _ingest_text(
        self, text: str, source: str, path: Path, report: IngestReport, actor: str
    ) -> versions.Entry | None:
        # the splitter's version is part of the hash: a better splitter re-chunks once
        digest = hashlib.sha256(f"{SPLITTER_VERSION}\n{text}".encode()).hexdigest()
        with self.db.session() as s:
            row = s.scalar(select(DocumentRow).where(DocumentRow.source == source))
            if row is not None and row.content_hash == digest:
                report.unchanged.append(source)
                return None
        parts = {p.lower() for p in path.parts}
        lang = "es" if "es" in parts else "en" if "en" in parts else detect_lang(text)
        title = _title(text, path.stem)
        chunks = self._split(text, source, title, lang, digest)
        if not chunks:
            report.skipped.append((source, "no text after splitting"))
            return None
        # added before anything is dropped: a failure here leaves what was there
        self.vectors.add_documents(chunks, ids=[c.metadata["chunk_id"] for c in chunks])
        with self.db.session() as s:
            row = s.scalar(select(DocumentRow).where(DocumentRow.source == source))
            if row is None:
                s.add(
                    DocumentRow(
                        source=source,
                        title=title,
                        lang=lang,
                        content_hash=digest,
                        chunk_count=len(chunks),
                        ingested_by=actor,
                    )
                )
                report.added.append(source)
            else:
                row.title, row.lang, row.content_hash = title, lang, digest
                row.chunk_count, row.version, row.ingested_at, row.ingested_by = (
                    len(chunks),
                    row.version + 1,
                    utcnow(),
                    actor,
                )
                report.updated.append(source)
        report.chunks += len(chunks)
        return versions.Entry(source, digest, title, lang, len(chunks), actor)

    def count(self) -> int:
        return int(self.vectors._collection.count())

    def chunks(
        self, source: str, *, limit: int = 20, offset: int = 0
    ) -> tuple[list[Document], int]:
        """One page of a current source's chunks in order, and how many it has. Chunk ids
        derive from the content hash and the position, so a page is a lookup by id."""
        with self.db.session() as s:
            row = s.execute(
                select(DocumentRow.content_hash, DocumentRow.chunk_count)
                .where(DocumentRow.source == source)
            ).first()  # fmt: skip
        if row is None:
            from llmops.errors import NotFoundError

            raise NotFoundError(f"{source!r} is not in the knowledge base.")
        digest, total = row
        wanted = [f"{digest[:16]}-{i:04d}" for i in range(offset, min(offset + limit, total))]
        if not wanted:
            return [], int(total)
        got = self.vectors.get(ids=wanted, include=["documents", "metadatas"])
        docs = [
            Document(page_content=text or "", metadata=dict(meta or {}), id=i)
            for i, text, meta in zip(got["ids"], got["documents"], got["metadatas"], strict=False)
        ]
        docs.sort(key=lambda d: int(d.metadata.get("chunk_index", 0)))
        return docs, int(total)

    # -- retrieval --------------------------------------------------------------------------
    def _heads(self) -> tuple[int | None, int | None]:
        """(latest published, newest) version ids, re-read every ``STATE_TTL_S`` (another
        process may ingest), so a turn does not pay a query for them."""
        at, latest, newest = self._state
        now = time.monotonic()
        if now - at > STATE_TTL_S:
            latest, newest = versions.heads(self.db)
            self._state = (now, latest, newest)
        return latest, newest

    def _index(self) -> _Index:
        """The in-memory side of the collection (documents, their terms, BM25 and, up to
        ``EXACT_MAX`` chunks, the embedding matrix), keyed by the newest knowledge-base
        version. Built in the caller's thread only when there is none (first use, or after
        this process changed the chunks); when another process made a newer version, the
        turn keeps the index it has and a background thread builds the new one."""
        _, newest = self._heads()
        cached = self._cache
        if cached is None:
            return self._rebuild(newest)
        if cached.key != newest:
            self._refresh_in_background(newest)
        return cached

    def _refresh_in_background(self, key: int | None) -> None:
        with self._lock:
            if self._refreshing:
                return
            self._refreshing = True

        def go() -> None:
            try:
                self._rebuild(key)
            except Exception:  # keep serving the index we have; the next turn tries again
                log.warning("rebuilding the knowledge index failed", exc_info=True)
            finally:
                with self._lock:
                    self._refreshing = False

        self.refresher = threading.Thread(target=go, name="llmops-kb-index", daemon=True)
        self.refresher.start()

    def _rebuild(self, key: int | None) -> _Index:
        with self._build_lock:
            cached = self._cache
            if cached is not None and cached.key == key:
                return cached  # another thread built it while this one waited
            index = self._build(key)
            with self._lock:
                self._cache = index
                self._views.clear()
            return index

    def _build(self, key: int | None) -> _Index:
        from rank_bm25 import BM25Okapi

        n = self.count()
        exact = n <= EXACT_MAX
        include: Any = ["documents", "metadatas", *(["embeddings"] if exact else [])]
        data = self.vectors.get(include=include)
        docs = [
            Document(page_content=text or "", metadata=dict(meta or {}), id=i)
            for i, text, meta in zip(
                data["ids"], data["documents"], data["metadatas"], strict=False
            )
        ]
        corpus = [index_terms(d.page_content, d.metadata.get("lang")) or ["_"] for d in docs]
        matrix = None
        if exact and docs:
            matrix = np.asarray(data["embeddings"], dtype=np.float32)
        return _Index(
            count=len(docs),
            built=time.monotonic(),
            docs=docs,
            ids=[str(d.metadata.get("chunk_id") or d.id) for d in docs],
            term_sets=[frozenset(c) for c in corpus],
            bm25=BM25Okapi(corpus) if corpus else None,
            matrix=matrix,
            corpus=corpus,
            key=key,
        )

    def view(self, version: str | int | None = None) -> _Index:
        """The index restricted to one version's chunks (``None``: the latest published;
        everything when no version exists yet)."""
        from rank_bm25 import BM25Okapi

        base = self._index()
        wanted = versions.parse(version)
        vid = self._heads()[0] if wanted is None else wanted
        if vid is None:
            return base
        with self._lock:
            cached = self._views.get(vid)
            if cached is not None and cached.built == base.built:
                return cached
        keep = versions.hashes(self.db, vid)
        if not keep:
            from llmops.errors import NotFoundError

            if versions.resolve(self.db, vid) is None:
                raise NotFoundError(f"Knowledge-base version {versions.name(vid)} is empty.")
        pos = [i for i, d in enumerate(base.docs) if d.metadata.get("doc_hash") in keep]
        corpus = [base.corpus[i] for i in pos]
        view = _Index(
            count=base.count,
            built=base.built,
            docs=[base.docs[i] for i in pos],
            ids=[base.ids[i] for i in pos],
            term_sets=[base.term_sets[i] for i in pos],
            bm25=BM25Okapi(corpus) if corpus else None,
            matrix=base.matrix[pos] if base.matrix is not None else None,
            corpus=corpus,
            hashes=keep,
            key=base.key,
        )
        with self._lock:
            if len(self._views) > 8:
                self._views.clear()
            self._views[vid] = view
        return view

    def search(
        self,
        query: str,
        k: int = 4,
        min_score: float = 0.2,
        *,
        version: str | int | None = None,
    ) -> list[Document]:
        """Top ``k`` chunks by fused rank, each with ``metadata["score"]`` = cosine similarity.

        Dense cosine similarity and BM25 over accent-folded stems are fused by reciprocal
        rank, then weighted by query coverage — the idf-weighted share of the question's
        terms a chunk contains (a coordination factor: BM25 alone lets a chunk that repeats
        one common term outrank one that has every term once; a chunk with none keeps half
        its score). ``metadata["retriever"]`` says which found the chunk (``dense``,
        ``keyword`` or both); ``version`` picks the knowledge-base version (``kb-7``; default
        the latest published).
        """
        index = self.view(version)
        if not index.docs:
            return []
        q_vec = np.asarray(self.embeddings.embed_query(query), dtype=np.float32)
        depth = max(5 * k, 25)
        fused: dict[int, float] = {}
        cosine: dict[int, float] = {}
        if index.matrix is not None:
            sims = index.matrix @ q_vec
            for rank, idx in enumerate(np.argsort(-sims)[:depth]):
                cosine[int(idx)] = float(sims[idx])
                fused[int(idx)] = 1.0 / (RRF_K + rank)
        else:  # a large collection: Chroma's approximate index
            position = {cid: i for i, cid in enumerate(index.ids)}
            where: Any = {"doc_hash": {"$in": sorted(index.hashes)}} if index.hashes else None
            dense = self.vectors.similarity_search_by_vector_with_relevance_scores(
                q_vec.tolist(), k=depth, filter=where
            )
            for rank, (doc, distance) in enumerate(dense):  # Chroma returns cosine *distance*
                idx = position.get(str(doc.metadata.get("chunk_id") or doc.id))
                if idx is not None:
                    cosine[idx] = 1.0 - float(distance)
                    fused[idx] = 1.0 / (RRF_K + rank)
        found_dense = set(cosine)
        q_lang = detect_lang(query)
        q_terms = index_terms(query, q_lang)
        # all-MiniLM-L6-v2 is English-only: for Spanish questions keyword ranks count double
        lexical_weight = 2.0 if q_lang == "es" else 1.0
        lexical: set[int] = set()
        if index.bm25 is not None and q_terms:
            scores = index.bm25.get_scores(q_terms)
            for rank, idx in enumerate(np.argsort(-scores)[:depth]):
                if scores[idx] <= 0:
                    break
                lexical.add(int(idx))
                fused[int(idx)] = fused.get(int(idx), 0.0) + lexical_weight / (RRF_K + rank)
            idf = {t: max(float(index.bm25.idf.get(t, 0.0)), 0.05) for t in set(q_terms)}
            total = sum(idf.values())
            for idx in fused:
                covered = sum(w for t, w in idf.items() if t in index.term_sets[idx]) / total
                fused[idx] *= 0.5 + 0.5 * covered
        if index.matrix is None:
            missing = [i for i in fused if i not in cosine]
            if missing:
                got = self.vectors.get(ids=[index.docs[i].id or "" for i in missing],
                                       include=["embeddings"])  # fmt: skip
                vectors = dict(zip(got["ids"], got["embeddings"], strict=False))
                for i in missing:
                    emb = vectors.get(index.docs[i].id or "")
                    if emb is not None:
                        cosine[i] = float(np.dot(q_vec, np.asarray(emb, dtype=np.float32)))
        else:
            for i in fused:
                if i not in cosine:
                    cosine[i] = float(index.matrix[i] @ q_vec)
        results: list[Document] = []
        for idx in sorted(fused, key=lambda i: -fused[i]):
            sim = cosine.get(idx, 0.0)
            if sim < min_score and idx not in lexical:
                continue
            doc = index.docs[idx]
            meta = dict(doc.metadata)
            meta["score"] = round(sim, 4)
            meta["chunk_id"] = index.ids[idx]
            meta["retriever"] = "+".join(
                name
                for name, found in (("dense", idx in found_dense), ("keyword", idx in lexical))
                if found
            )
            results.append(
                Document(page_content=doc.page_content, metadata=meta, id=index.ids[idx])
            )
            if len(results) >= k:
                break
        return results


@dataclass
class _Index:
    count: int
    built: float
    docs: list[Document]
    ids: list[str]
    term_sets: list[frozenset[str]]
    bm25: Any
    matrix: np.ndarray | None
    corpus: list[list[str]] = field(default_factory=list)
    hashes: frozenset[str] = frozenset()  # a version's view: the content it holds
    key: int | None = None  # the newest knowledge-base version when it was built


class KnowledgeRetriever(BaseRetriever):
    """The knowledge base as a LangChain retriever, so retrieval is traced like any run."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    kb: KnowledgeBase
    k: int = 4
    min_score: float = 0.2
    version: str | None = None  # the release's pinned knowledge-base version

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun, **kwargs: Any
    ) -> list[Document]:
        # ``retriever.invoke(q, k=2)`` overrides k for one call (LangChain's standard test)
        k = int(kwargs.get("k", self.k))
        return self.kb.search(query, k=k, min_score=self.min_score, version=self.version)
