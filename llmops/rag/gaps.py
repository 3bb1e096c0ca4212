"""Knowledge gaps: what users ask that the knowledge base does not answer well.

Candidates are live turns the assistant declined, answered from weak retrieval (written by
the chat through the trace writer, redacted), or that got a thumbs-down (read from feedback
by ``refresh``). ``refresh`` embeds each new candidate once and puts it in the nearest open
cluster of its language (cosine on a vector that joins the sentence embedding with hashed
keyword stems — the embedding model is English-only, the stems carry Spanish), or starts a
new cluster. ``gaps`` reads clusters for a time range with SQL aggregates over the indexed
``gap_candidates`` table: counts, trend, example questions, the releases that answered.

From a gap: ``to_dataset`` makes its questions evaluation cases, ``draft_article`` a
markdown stub listing them, to write and ingest.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import numpy as np
from sqlalchemy import case, func, select, update

from llmops.errors import InvalidInputError, NotFoundError
from llmops.governance.roles import Actor, Capability, require
from llmops.store.db import Database
from llmops.store.models import (
    Feedback,
    GapCandidate,
    GapCluster,
    GapState,
    Trace,
    live_filter,
    utcnow,
)
from llmops.store.sql import epoch as epoch_of
from llmops.text import detect_lang, terms
from llmops.types import JSONDict

HASH_DIMS = 512
THRESHOLD = 0.55  # cosine of the joint vector to join a cluster (bench/gaps.py)
# cosine of two clusters' centroids to merge them, per language (bench/gaps.py): the
# English-only embedding puts Spanish questions of different topics closer together
MERGE = {"en": 0.6, "es": 0.7}
# weight of the sentence embedding vs the keyword stems, per language
DENSE_WEIGHT = {"en": 0.7, "es": 0.5}
BATCH = 2000
_FEEDBACK_KEY = "feedback_id"


class Embedder(Protocol):
    def embed_documents(self, texts: list[str]) -> list[list[float]]: ...


def _stems_vector(text: str) -> np.ndarray:
    vec = np.zeros(HASH_DIMS, dtype=np.float32)
    for t in terms(text):
        h = int.from_bytes(hashlib.blake2b(t.encode(), digest_size=4).digest(), "big")
        vec[h % HASH_DIMS] += 1.0
    norm = float(np.linalg.norm(vec))
    return (vec / norm).astype(np.float32) if norm else vec


def vectors(texts: Sequence[str], langs: Sequence[str], embedder: Embedder) -> np.ndarray:
    """One unit vector per question: weighted sentence embedding ⊕ hashed stems."""
    raw = np.asarray(embedder.embed_documents(list(texts)), dtype=np.float32)
    norms = np.linalg.norm(raw, axis=1, keepdims=True)
    dense = raw / np.where(norms == 0, 1, norms)
    out = []
    for d, text, lang in zip(dense, texts, langs, strict=True):
        w = DENSE_WEIGHT.get(lang, 0.6)
        v = np.concatenate([np.sqrt(w) * d, np.sqrt(1 - w) * _stems_vector(text)])
        out.append(v / (np.linalg.norm(v) or 1.0))
    return np.asarray(out, dtype=np.float32)


def _blob(v: np.ndarray) -> bytes:
    return np.asarray(v, dtype=np.float32).tobytes()


def _unblob(b: bytes) -> np.ndarray:
    return np.frombuffer(b, dtype=np.float32)


@dataclass
class RefreshReport:
    feedback: int = 0  # thumbs-down turns added as candidates
    clustered: int = 0
    new_clusters: int = 0
    merged: int = 0  # clusters merged into another (status "merged", questions moved)


def _add_thumbs_down(db: Database) -> int:
    with db.session() as s:
        state = s.get(GapState, _FEEDBACK_KEY) or GapState(key=_FEEDBACK_KEY, value=0)
        upto = s.scalar(select(func.max(Feedback.id))) or state.value  # read first: no gap
        rows = s.execute(
            select(Feedback.id, Feedback.created_at, Trace.id, Trace.input, Trace.release_id)
            .join(Trace, Trace.id == Feedback.trace_id)
            .where(Feedback.id > state.value, Feedback.id <= upto, Feedback.score < 0.5,
                   live_filter(Trace.session_id))
            .order_by(Feedback.id)
            .limit(BATCH)
        ).all()  # fmt: skip
        last = rows[-1][0] if len(rows) == BATCH else upto
        known = set(
            s.scalars(select(GapCandidate.trace_id).where(
                GapCandidate.trace_id.in_([r[2] for r in rows])))
        ) if rows else set()  # fmt: skip
        added = 0
        for _, at, tid, question, release in rows:
            if tid in known:
                s.execute(update(GapCandidate).where(GapCandidate.trace_id == tid)
                          .values(thumbs_down=True))  # fmt: skip
                continue
            if not (question or "").strip():
                continue
            known.add(tid)
            s.add(GapCandidate(trace_id=tid, at=at, reason="thumbs_down", thumbs_down=True,
                               release_id=release, lang=detect_lang(question or ""),
                               question=question))  # fmt: skip
            added += 1
        state.value = int(last)
        s.merge(state)
        return added


def refresh(
    db: Database,
    embedder: Embedder,
    *,
    threshold: float = THRESHOLD,
    merge: dict[str, float] | None = None,
) -> RefreshReport:
    """Add new thumbs-down turns, then cluster every candidate not clustered yet, then merge
    the clusters this touched into an open cluster of their language whose centroid is at
    least ``merge[lang]`` similar (one question at a time fragments a topic; centroids do
    not)."""
    merge = MERGE if merge is None else merge
    report = RefreshReport(feedback=_add_thumbs_down(db))
    while True:
        with db.session() as s:
            todo = s.execute(
                select(GapCandidate.trace_id, GapCandidate.question, GapCandidate.lang)
                .where(GapCandidate.cluster_id.is_(None))
                .order_by(GapCandidate.at)
                .limit(BATCH)
            ).all()
        if not todo:
            return report
        langs = [(lang or "en") if (lang or "en") in DENSE_WEIGHT else "en" for _, _, lang in todo]
        vecs = vectors([q for _, q, _ in todo], langs, embedder)
        _assign(db, todo, langs, vecs, threshold, merge, report)


class _Group:
    """The open clusters of one language: running sums and their unit centroids as rows of
    two matrices, updated one row at a time (a join costs one row, not the whole matrix)."""

    def __init__(self, dims: int, capacity: int = 16) -> None:
        self.clusters: list[GapCluster] = []
        self.sums = np.zeros((max(capacity, 16), dims), dtype=np.float32)
        self.unit = np.zeros_like(self.sums)
        self.alive: list[bool] = []
        self.touched: set[int] = set()
        self._base: np.ndarray | None = None  # similarities of the batch to the loaded rows
        self._loaded = 0

    def __len__(self) -> int:
        return len(self.clusters)

    def add(self, cluster: GapCluster, total: np.ndarray) -> int:
        i = len(self.clusters)
        if i == len(self.sums):
            grow = np.zeros_like(self.sums)
            self.sums, self.unit = np.vstack([self.sums, grow]), np.vstack([self.unit, grow])
        self.clusters.append(cluster)
        self.alive.append(True)
        self.sums[i] = total
        self._norm(i)
        return i

    def _norm(self, i: int) -> None:
        self.unit[i] = self.sums[i] / (np.linalg.norm(self.sums[i]) or 1.0)

    def prepare(self, batch: np.ndarray) -> None:
        """One matrix product of the batch against the clusters loaded from the store;
        ``nearest`` then recomputes only the rows this batch changed or added."""
        self._loaded = len(self)
        self._base = batch @ self.unit[: self._loaded].T if self._loaded else None

    def nearest(self, v: np.ndarray, row: int | None = None) -> tuple[int, float]:
        n = len(self)
        if not n:
            return -1, -1.0
        if self._base is None or row is None:
            sims = self.unit[:n] @ v
        else:
            sims = np.empty(n, dtype=np.float32)
            sims[: self._loaded] = self._base[row]
            fresh = [i for i in self.touched if i < self._loaded]
            if fresh:
                sims[fresh] = self.unit[fresh] @ v
            if n > self._loaded:
                sims[self._loaded :] = self.unit[self._loaded : n] @ v
        best = int(np.argmax(sims))
        return best, float(sims[best])

    def join(self, i: int, v: np.ndarray) -> None:
        self.sums[i] += v
        self._norm(i)
        self.clusters[i].size += 1
        self.touched.add(i)

    def merge(self, threshold: float) -> dict[int, int]:
        """Merge each touched cluster into its most similar open cluster, largest pairs
        first, re-checking the two current centroids before each merge (so merges do not
        chain through a drifting centroid). Returns absorbed index → surviving index."""
        n = len(self)
        touched = sorted(i for i in self.touched if self.alive[i])
        if n < 2 or not touched:
            return {}
        sims = self.unit[touched] @ self.unit[:n].T  # one matrix product
        pairs: list[tuple[float, int, int]] = []
        for row, t in enumerate(touched):
            sims[row, t] = -1.0
            pairs += [
                (float(sims[row, o]), t, int(o)) for o in np.nonzero(sims[row] >= threshold)[0]
            ]
        into: dict[int, int] = {}

        def root(i: int) -> int:
            while i in into:
                i = into[i]
            return i

        for _, x, y in sorted(pairs, reverse=True):
            a, b = root(x), root(y)
            if a == b or float(self.unit[a] @ self.unit[b]) < threshold:
                continue
            keep, gone = (
                (a, b) if (self.clusters[a].size, -a) >= (self.clusters[b].size, -b) else (b, a)
            )
            self.sums[keep] += self.sums[gone]
            self._norm(keep)
            self.clusters[keep].size += self.clusters[gone].size
            self.clusters[gone].size = 0
            self.alive[gone] = False
            self.unit[gone] = 0.0  # never the nearest again
            into[gone] = keep
        return {gone: root(gone) for gone in into}


def _assign(
    db: Database,
    todo: Sequence[Any],
    langs: list[str],
    vecs: np.ndarray,
    threshold: float,
    merge: dict[str, float],
    report: RefreshReport,
) -> None:
    dims = vecs.shape[1]
    with db.session() as s:
        clusters = s.scalars(
            select(GapCluster).where(GapCluster.status == "open").order_by(GapCluster.id)
        ).all()
        per_lang = {lang: [i for i, x in enumerate(langs) if x == lang] for lang in set(langs)}
        loaded = Counter(c.lang for c in clusters)
        groups = {
            lang: _Group(dims, loaded[lang] + len(per_lang.get(lang, ())))
            for lang in set(loaded) | set(per_lang)
        }
        for c in clusters:
            centroid = _unblob(c.centroid)
            if centroid.shape[0] == dims:
                groups[c.lang].add(c, centroid * c.size)
        row_in_lang: dict[int, int] = {}
        for lang, rows in per_lang.items():
            groups[lang].prepare(vecs[rows])
            row_in_lang.update((r, k) for k, r in enumerate(rows))
        assigned: list[tuple[str, str, int]] = []
        for n, ((tid, question, _), lang, v) in enumerate(zip(todo, langs, vecs, strict=True)):
            g = groups[lang]
            best, sim = g.nearest(v, row_in_lang[n])
            if best >= 0 and sim >= threshold:
                g.join(best, v)
            else:
                cluster = GapCluster(lang=lang, label=question[:160], centroid=b"", size=1)
                s.add(cluster)
                best = g.add(cluster, v.copy())
                g.touched.add(best)
                report.new_clusters += 1
            assigned.append((tid, lang, best))
        merged = {lang: g.merge(merge.get(lang, 0.65)) for lang, g in groups.items()}
        for lang, g in groups.items():
            into = merged[lang]
            for i in g.touched | set(into.values()):
                if g.alive[i]:
                    g.clusters[i].centroid = _blob(g.unit[i])
            for gone in into:
                if g.clusters[gone].id is None:  # new in this refresh: never stored
                    s.expunge(g.clusters[gone])
        s.flush()
        for lang, into in merged.items():
            g = groups[lang]
            for gone, keep in into.items():
                old, new = g.clusters[gone], g.clusters[keep]
                report.merged += 1
                if old.id is None:
                    continue
                old.status, old.note = "merged", f"merged into gap {new.id}"
                s.execute(update(GapCandidate).where(GapCandidate.cluster_id == old.id)
                          .values(cluster_id=new.id)
                          .execution_options(synchronize_session=False))  # fmt: skip
        by_target: dict[int, list[str]] = {}
        for tid, lang, i in assigned:
            target = groups[lang].clusters[merged[lang].get(i, i)]
            by_target.setdefault(int(target.id), []).append(tid)
        for cid, tids in by_target.items():  # one statement per cluster, no ORM bookkeeping
            s.execute(update(GapCandidate).where(GapCandidate.trace_id.in_(tids))
                      .values(cluster_id=cid).execution_options(synchronize_session=False))  # fmt: skip
        report.clustered += len(assigned)


# -- reading gaps --------------------------------------------------------------------------------
@dataclass
class Gap:
    id: int
    label: str
    lang: str
    count: int
    declined: int
    low_score: int
    thumbs_down: int
    first_at: datetime
    last_at: datetime
    trend: list[int]  # candidates per day, oldest first
    examples: list[str] = field(default_factory=list)
    releases: dict[str, int] = field(default_factory=dict)
    status: str = "open"

    def as_dict(self) -> JSONDict:
        d = asdict(self)
        d["first_at"] = self.first_at.isoformat(timespec="seconds")
        d["last_at"] = self.last_at.isoformat(timespec="seconds")
        return d


def gaps(
    db: Database,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    lang: str | None = None,
    limit: int = 20,
    include_resolved: bool = False,
    examples: int = 5,
) -> list[Gap]:
    """The largest clusters of candidates in [since, until), newest examples first."""
    until = until or datetime.now(UTC)
    since = since or until - timedelta(days=7)
    if until <= since:
        raise InvalidInputError("The range is empty.")
    g = GapCandidate
    where = [g.at >= since, g.at < until, g.cluster_id.is_not(None)]
    if lang:
        where.append(g.lang == lang)
    # the calendar days (UTC) the range touches: an hour across midnight is two
    first_day = int(since.timestamp()) // 86400
    days = int((until - timedelta(microseconds=1)).timestamp()) // 86400 - first_day + 1
    with db.session() as s:
        status_ok = [] if include_resolved else [GapCluster.status == "open"]
        top = s.execute(
            select(g.cluster_id, func.count(),
                   func.sum(case((g.reason == "declined", 1), else_=0)),
                   func.sum(case((g.reason == "low_score", 1), else_=0)),
                   func.sum(case((g.thumbs_down.is_(True), 1), else_=0)),
                   func.min(g.at), func.max(g.at))
            .join(GapCluster, GapCluster.id == g.cluster_id)
            .where(*where, *status_ok)
            .group_by(g.cluster_id)
            .order_by(func.count().desc(), g.cluster_id)
            .limit(limit)
        ).all()  # fmt: skip
        if not top:
            return []
        ids = [r[0] for r in top]
        info = {c.id: c for c in s.scalars(select(GapCluster).where(GapCluster.id.in_(ids)))}
        day = epoch_of(g.at, db.dialect) // 86400
        per_day: dict[int, list[int]] = {i: [0] * days for i in ids}
        for cid, d, n in s.execute(
            select(g.cluster_id, day, func.count())
            .where(*where, g.cluster_id.in_(ids))
            .group_by(g.cluster_id, day)
        ):
            idx = int(d) - first_day
            if cid is not None and 0 <= idx < days:
                per_day[cid][idx] = int(n)
        releases: dict[int, dict[str, int]] = {i: {} for i in ids}
        for cid, rel, n in s.execute(
            select(g.cluster_id, g.release_id, func.count())
            .where(*where, g.cluster_id.in_(ids))
            .group_by(g.cluster_id, g.release_id)
        ):
            releases[cid or 0][rel or ""] = int(n)
        out = []
        for cid, n, declined, low, down, first, last in top:
            qs = s.scalars(
                select(g.question).where(*where, g.cluster_id == cid)
                .order_by(g.at.desc()).limit(examples)
            ).all()  # fmt: skip
            c = info[cid]
            out.append(Gap(cid, c.label, c.lang, int(n), int(declined or 0), int(low or 0),
                           int(down or 0), first, last, per_day[cid], list(qs), releases[cid],
                           c.status))  # fmt: skip
    return out


def cluster_traces(db: Database, cluster_id: int, *, limit: int = 200) -> list[str]:
    with db.session() as s:
        if s.get(GapCluster, cluster_id) is None:
            raise NotFoundError(f"Gap {cluster_id} does not exist.")
        return list(
            s.scalars(
                select(GapCandidate.trace_id).where(GapCandidate.cluster_id == cluster_id)
                .order_by(GapCandidate.at.desc()).limit(limit)
            )
        )  # fmt: skip


def to_dataset(
    db: Database, cluster_id: int, dataset: str, *, actor: Actor | str = "system"
) -> int:
    """The gap's questions as cases of ``dataset`` (created if needed); returns how many."""
    actor = require(db, actor, Capability.DATASETS, action="gap.to_dataset")
    from llmops.evals.mining import add_from_traces

    return add_from_traces(db, dataset, cluster_traces(db, cluster_id), actor=actor)


def draft_article(db: Database, cluster_id: int) -> str:
    """A markdown stub to write and ingest: the questions users asked, to answer."""
    with db.session() as s:
        c = s.get(GapCluster, cluster_id)
        if c is None:
            raise NotFoundError(f"Gap {cluster_id} does not exist.")
        qs = s.scalars(
            select(GapCandidate.question).where(GapCandidate.cluster_id == cluster_id)
            .order_by(GapCandidate.at.desc()).limit(30)
        ).all()  # fmt: skip
    seen: list[str] = []
    for q in qs:
        if q.strip() and q.strip() not in seen:
            seen.append(q.strip())
    es = c.lang == "es"
    title = c.label.rstrip("?¿ ").strip() or "Untitled"
    intro = (
        "Preguntas que los usuarios hicieron y la base de conocimiento no respondía. "
        "Escribe la respuesta debajo de cada una y luego ingesta este archivo."
        if es
        else "Questions users asked that the knowledge base did not answer. Write the "
        "answer under each, then ingest this file."
    )
    lines = [f"# {title}", "", f"<!-- {intro} -->", ""]
    for q in seen[:15]:
        lines += [f"## {q}", "", "TODO", ""]
    return "\n".join(lines)


def resolve(
    db: Database, cluster_id: int, *, note: str = "", actor: Actor | str = "system"
) -> None:
    """Mark a gap resolved (new questions start a new cluster)."""
    actor = require(db, actor, Capability.KNOWLEDGE, action="gap.resolve")
    from llmops.store.models import AuditLog

    with db.session() as s:
        c = s.get(GapCluster, cluster_id)
        if c is None:
            raise NotFoundError(f"Gap {cluster_id} does not exist.")
        c.status, c.note = "resolved", note
        s.add(AuditLog(actor=actor, action="gap.resolve", target=str(cluster_id),
                       details={"note": note or None, "at": utcnow().isoformat()}))  # fmt: skip
