"""The knowledge base: sources → chunks → embeddings → a Chroma collection, and retrieval.

Ingest is idempotent by content hash (an unchanged file is a no-op), safe (new chunks are
added before a changed file's old chunks are removed, so a failure never loses what was
there) and forgiving (a malformed or empty file is reported and skipped).
Retrieval is hybrid: dense cosine similarity fused with BM25 over accent-folded stems
(reciprocal-rank fusion), because all-MiniLM-L6-v2 is an English model and keyword overlap
rescues Spanish and jargon-heavy questions.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict
from sqlalchemy import select

from llmops.config import Settings
from llmops.store.db import Database
from llmops.store.models import Document as DocumentRow
from llmops.store.models import utcnow
from llmops.text import detect_lang, terms

log = logging.getLogger(__name__)

SUPPORTED = {".md", ".markdown", ".txt", ".pdf"}
RRF_K = 60


@dataclass
class IngestReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    chunks: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "added": self.added,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "skipped": [{"source": s, "reason": r} for s, r in self.skipped],
            "chunks": self.chunks,
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
        self._lock = threading.Lock()
        self._bm25: Any = None
        self._bm25_docs: list[Document] = []
        self._bm25_count = -1

    # -- ingest -----------------------------------------------------------------------------
    def _split(self, text: str, source: str, title: str, lang: str, digest: str) -> list[Document]:
        from langchain_text_splitters import RecursiveCharacterTextSplitter

        splitter = RecursiveCharacterTextSplitter(
            chunk_size=self.settings.chunk_size,
            chunk_overlap=self.settings.chunk_overlap,
            separators=["\n## ", "\n### ", "\n\n", "\n", ". ", " "],
        )
        pieces = [p.strip() for p in splitter.split_text(text) if p.strip()]
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

    def ingest(self, paths: Sequence[Path] | None = None) -> IngestReport:
        report = IngestReport()
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
            if not text.strip():
                report.skipped.append((source, "empty"))
                continue
            self._ingest_text(text, source, path, report)
        with self._lock:
            self._bm25_count = -1
        return report

    def _ingest_text(self, text: str, source: str, path: Path, report: IngestReport) -> None:
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
        with self.db.session() as s:
            row = s.scalar(select(DocumentRow).where(DocumentRow.source == source))
            if row is not None and row.content_hash == digest:
                report.unchanged.append(source)
                return
        parts = {p.lower() for p in path.parts}
        lang = "es" if "es" in parts else "en" if "en" in parts else detect_lang(text)
        title = _title(text, path.stem)
        chunks = self._split(text, source, title, lang, digest)
        if not chunks:
            report.skipped.append((source, "no text after splitting"))
            return
        self.vectors.add_documents(chunks, ids=[c.metadata["chunk_id"] for c in chunks])
        stale = self.vectors.get(where={"source": source}, include=["metadatas"])
        old = [
            i
            for i, m in zip(stale["ids"], stale["metadatas"], strict=False)
            if m.get("doc_hash") != digest
        ]
        if old:
            self.vectors.delete(ids=old)
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
                    )
                )
                report.added.append(source)
            else:
                row.title, row.lang, row.content_hash = title, lang, digest
                row.chunk_count, row.version, row.ingested_at = (
                    len(chunks),
                    row.version + 1,
                    utcnow(),
                )
                report.updated.append(source)
        report.chunks += len(chunks)

    def count(self) -> int:
        return int(self.vectors._collection.count())

    # -- retrieval --------------------------------------------------------------------------
    def _lexical_index(self) -> tuple[Any, list[Document]]:
        from rank_bm25 import BM25Okapi

        with self._lock:
            n = self.count()
            if self._bm25_count != n:
                data = self.vectors.get(include=["documents", "metadatas"])
                docs = [
                    Document(page_content=text or "", metadata=dict(meta or {}), id=i)
                    for i, text, meta in zip(
                        data["ids"], data["documents"], data["metadatas"], strict=False
                    )
                ]
                corpus = [terms(d.page_content) or ["_"] for d in docs]
                self._bm25 = BM25Okapi(corpus) if corpus else None
                self._bm25_docs = docs
                self._bm25_count = n
            return self._bm25, self._bm25_docs

    def search(self, query: str, k: int = 4, min_score: float = 0.2) -> list[Document]:
        """Top ``k`` chunks by fused rank, each with ``metadata["score"]`` = cosine similarity."""
        if self.count() == 0:
            return []
        q_vec = np.asarray(self.embeddings.embed_query(query), dtype=np.float32)
        depth = max(3 * k, 12)
        dense = self.vectors.similarity_search_by_vector_with_relevance_scores(
            q_vec.tolist(), k=depth
        )
        fused: dict[str, float] = {}
        by_id: dict[str, Document] = {}
        cosine: dict[str, float] = {}
        for rank, (doc, distance) in enumerate(dense):  # Chroma returns cosine *distance*
            cid = doc.metadata.get("chunk_id") or doc.id or str(rank)
            by_id[cid] = doc
            cosine[cid] = 1.0 - float(distance)
            fused[cid] = fused.get(cid, 0.0) + 1.0 / (RRF_K + rank)
        bm25, docs = self._lexical_index()
        q_terms = terms(query)
        # all-MiniLM-L6-v2 is English-only: for Spanish questions keyword ranks count double
        lexical_weight = 2.0 if detect_lang(query) == "es" else 1.0
        lexical: dict[str, float] = {}
        if bm25 is not None and q_terms:
            scores = bm25.get_scores(q_terms)
            for rank, idx in enumerate(np.argsort(-scores)[:depth]):
                if scores[idx] <= 0:
                    break
                doc = docs[int(idx)]
                cid = doc.metadata.get("chunk_id") or str(doc.id)
                by_id.setdefault(cid, doc)
                lexical[cid] = float(scores[idx])
                fused[cid] = fused.get(cid, 0.0) + lexical_weight / (RRF_K + rank)
        missing = [cid for cid in fused if cid not in cosine]
        if missing:
            got = self.vectors.get(ids=[by_id[c].id or c for c in missing], include=["embeddings"])
            for cid_, emb in zip(got["ids"], got["embeddings"], strict=False):
                key = next((c for c in missing if (by_id[c].id or c) == cid_), cid_)
                cosine[key] = float(np.dot(q_vec, np.asarray(emb, dtype=np.float32)))
        ranked = sorted(fused, key=lambda c: -fused[c])
        results: list[Document] = []
        for cid in ranked:
            sim = cosine.get(cid, 0.0)
            if sim < min_score and cid not in lexical:
                continue
            doc = by_id[cid]
            meta = dict(doc.metadata)
            meta["score"] = round(sim, 4)
            meta["chunk_id"] = cid
            results.append(Document(page_content=doc.page_content, metadata=meta, id=cid))
            if len(results) >= k:
                break
        return results


class KnowledgeRetriever(BaseRetriever):
    """The knowledge base as a LangChain retriever, so retrieval is traced like any run."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    kb: KnowledgeBase
    k: int = 4
    min_score: float = 0.2

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        return self.kb.search(query, k=self.k, min_score=self.min_score)
