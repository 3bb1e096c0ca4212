"""Knowledge gaps: how well declined questions cluster, and how fast gaps are read at scale.

    .venv/bin/python bench/gaps.py [--thresholds 0.45,0.5,0.6,0.65] [--traces 100000]
        [--repeat 5] [--backend sqlite|postgresql|both] [--json]

1. Quality. 2,000 declined questions in 20 topics the shipped knowledge base does not cover
   (parking, vacation, payroll, VPN, ...), 50 per topic and language (English and Spanish),
   expanded from the hand-written frames of ``bench/data/gap_topics.json`` (several intents
   and phrasings per topic, synonyms, word orders, terse keyword queries) and decorated
   with a seeded RNG: greetings, thanks, lower case, Spanish without accents or ``¿``, and a
   typo in some. They are stored as gap candidates through the span writer's rows (the
   ``lang`` the chat would store: ``detect_lang``), in shuffled order, and clustered by ONE
   ``llmops.rag.gaps.refresh`` with the shipped MiniLM model. Reported per language and
   overall: purity (each cluster's majority-topic share, weighted by size), topic recall
   (for each topic and language, the share of its questions in its largest cluster,
   averaged) and the number of clusters; at the default THRESHOLD (headline) and at the
   ``--thresholds`` around it (same questions, cached embeddings, clusters rebuilt).
2. Speed. ``--traces`` traces over 60 days (``llmops demo seed``'s code for 92 %, plus 8 %
   declined out-of-scope turns written with ``write_rows``; the demo's thumbs-down turns
   become candidates too), clustered once; then (a) ``gaps(db, since=30 days ago)``, the read
   the Gaps page and CLI do, and (b) ``refresh`` after 200 new declined questions arrive
   (embedded with the uncached model). Median and max of ``--repeat`` runs, on SQLite and
   — with LLMOPS_TEST_DATABASE_URL — PostgreSQL (in a fresh schema, dropped after).

Target (the issue): each <= 2 s at 100,000 traces. Nothing here asserts: it prints figures.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import re
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DATA = ROOT / "bench" / "data" / "gap_topics.json"
PER_TOPIC_LANG = 50
DECLINED_SHARE = 0.08
NEW_QUESTIONS = 200
STRESS_CLUSTERS = (3_000, 10_000)  # open clusters for the scaling measurement
DECLINE = {
    "en": "The knowledge base does not cover this, so I do not know.",
    "es": "La base de conocimiento no cubre esto; no lo sé.",
}
_ALT = re.compile(r"\[([^\]]*)\]")
_KEEP_CASE = re.compile(r"^(I\b|I'm\b|[A-Z0-9]{2,}\b)")


# -- the questions -------------------------------------------------------------------------------
def expand(frame: str) -> list[str]:
    """Every sentence a frame stands for (``[a|b|]`` is a choice; empty drops the words)."""
    parts = _ALT.split(frame)
    fixed, choices = parts[0::2], [p.split("|") for p in parts[1::2]]
    out = []
    for combo in itertools.product(*choices):
        text = "".join(f + c for f, c in itertools.zip_longest(fixed, combo, fillvalue=""))
        text = re.sub(r"\s+", " ", text).strip()
        out.append(re.sub(r"\s+([?,.!])", r"\1", text))
    return out


def _typo(rng: random.Random, text: str) -> str:
    words = list(re.finditer(r"[^\W\d_]{4,}", text))
    if not words:
        return text
    m = rng.choice(words)
    w = m.group()
    i = rng.randrange(1, len(w) - 1)
    kind = rng.randrange(3)
    if kind == 0:  # swap two letters
        w = w[:i] + w[i + 1] + w[i] + w[i + 2 :]
    elif kind == 1:  # drop one
        w = w[:i] + w[i + 1 :]
    else:  # double one
        w = w[:i] + w[i] + w[i:]
    return text[: m.start()] + w + text[m.end() :]


def decorate(rng: random.Random, text: str, lang: str, wrappers: dict[str, Any]) -> str:
    """What people add or get wrong: greetings, thanks, case, accents, ``¿``, typos."""
    from llmops.text import strip_accents

    if lang == "es":
        if rng.random() < 0.3:
            text = text.replace("¿", "")
        if rng.random() < 0.3:
            text = strip_accents(text)
    if rng.random() < 0.25:
        prefix = rng.choice(wrappers[lang]["prefix"])
        q = 1 if text.startswith("¿") else 0  # ¿ stays, the letter after it is lowered
        if not _KEEP_CASE.match(text[q:]):
            text = text[: q + 1].lower() + text[q + 1 :]
        text = prefix + text
    if rng.random() < 0.15:
        text = text + rng.choice(wrappers[lang]["suffix"])
    if rng.random() < 0.12:
        text = text.lower()
    if rng.random() < 0.10:
        text = _typo(rng, text)
    return text


def _round_robin(pools: list[list[str]]) -> list[str]:
    """One from each pool in turn, until every pool is used up."""
    out = []
    for i in itertools.count():
        live = [p for p in pools if i < len(p)]
        if not live:
            return out
        out.extend(p[i] for p in live)
    return out


def questions(seed: int = 7, per: int = PER_TOPIC_LANG) -> list[dict[str, str]]:
    """``per`` distinct questions for each topic and language: round-robin over its intents,
    and within an intent over its phrasings (each expanded and shuffled)."""
    data = json.loads(DATA.read_text(encoding="utf-8"))
    rng = random.Random(seed)
    out: list[dict[str, str]] = []
    seen: set[str] = set()
    for topic, langs in data["topics"].items():
        for lang, intents in langs.items():
            per_intent = []
            for intent, frames in intents.items():
                pools = [[(intent, s) for s in expand(f)] for f in frames]
                for pool in pools:
                    rng.shuffle(pool)
                rng.shuffle(pools)
                per_intent.append(_round_robin(pools))  # type: ignore[arg-type]
            order = _round_robin(per_intent)  # type: ignore[arg-type]
            every = list(order)
            picked = 0
            while picked < per:
                intent, base = order.pop(0) if order else rng.choice(every)  # type: ignore[misc]
                for _ in range(20):
                    text = decorate(rng, base, lang, data["wrappers"])
                    if text not in seen:
                        break
                else:
                    continue
                seen.add(text)
                out.append({"topic": topic, "intent": f"{topic}/{intent}", "lang": lang,
                            "text": text, "base": base})  # fmt: skip
                picked += 1
    return out


# -- helpers ---------------------------------------------------------------------------------------
class CachedEmbedder:
    """The real model, each distinct text embedded once (for the threshold sweep)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.cache: dict[str, list[float]] = {}

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        todo = list(dict.fromkeys(t for t in texts if t not in self.cache))
        if todo:
            self.cache.update(zip(todo, self.inner.embed_documents(todo), strict=True))
        return [self.cache[t] for t in texts]


def _ts(dt: datetime) -> str:
    """Naive UTC text, as the span writer stores datetimes."""
    return dt.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def _tid(rng: random.Random, at: datetime) -> str:
    return f"{int(at.timestamp() * 1000):012x}{rng.getrandbits(80):020x}"


def _time(fn: Any, repeat: int) -> dict[str, Any]:
    fn()  # warm the database's page cache
    samples = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t) * 1000)
    return {"median_ms": round(statistics.median(samples), 1), "max_ms": round(max(samples), 1)}


def _pg_schema(url: str) -> tuple[str, str]:
    from sqlalchemy import create_engine, make_url, text

    schema = f"bench_gaps_{uuid.uuid4().hex[:8]}"
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine.dispose()
    u = make_url(url)
    u = u.set(query={**u.query, "options": f"-csearch_path={schema}"})
    return schema, u.render_as_string(hide_password=False)


def _drop_schema(url: str, schema: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    engine.dispose()


def _gap_rows(items: list[dict[str, str]], times: list[datetime], rng: random.Random,
              release: str) -> tuple[list[Any], list[Any]]:  # fmt: skip
    """Trace and gap-candidate rows of declined turns, as the span writer renders them."""
    from llmops.text import detect_lang
    from llmops.tracing.writer import GapRow, TraceRow

    traces, gaps_ = [], []
    for it, at in zip(items, times, strict=True):
        tid = _tid(rng, at)
        it["trace_id"] = tid
        lang = detect_lang(it["text"])
        end = at + timedelta(milliseconds=120)
        traces.append(TraceRow(
            id=tid, name="chat", session_id=f"s{rng.getrandbits(24):07d}", user_id=None,
            release_id=release, model="local-extractive", status="ok", started_at=_ts(at),
            ended_at=_ts(end), latency_ms=120.0, ttft_ms=110.0, input_tokens=600,
            output_tokens=14, cost=0.0, input=it["text"], output=DECLINE[lang], error=None,
            tags=None, attributes=None,
        ))  # fmt: skip
        gaps_.append(GapRow(
            trace_id=tid, at=_ts(at), reason="declined", thumbs_down=False, release_id=release,
            lang=lang, question=it["text"], top_score=round(rng.uniform(0.05, 0.3), 3),
            cluster_id=None,
        ))  # fmt: skip
    return traces, gaps_


# -- 1. quality ----------------------------------------------------------------------------------
def _assignments(db: Any) -> tuple[dict[str, int], dict[int, str]]:
    with db.engine.connect() as c:
        assign = dict(c.exec_driver_sql("SELECT trace_id, cluster_id FROM gap_candidates").all())
        langs = dict(c.exec_driver_sql("SELECT id, lang FROM gap_clusters").all())
    return assign, langs


def score(items: list[dict[str, str]], assign: dict[str, int], cl_lang: dict[int, str],
          key: str = "topic") -> dict[str, Any]:  # fmt: skip
    """Purity, recall and cluster counts against ``key`` (topic or intent), per language
    (the cluster's language for purity, the question's for recall) and overall."""
    by_cluster: dict[int, Counter[str]] = defaultdict(Counter)
    by_group: dict[tuple[str, str], Counter[int]] = defaultdict(Counter)
    for it in items:
        cid = assign[it["trace_id"]]
        by_cluster[cid][it[key]] += 1
        by_group[(it[key], it["lang"])][cid] += 1
    out: dict[str, Any] = {}
    for scope in ("en", "es", "all"):
        cs = [c for c in by_cluster if scope == "all" or cl_lang[c] == scope]
        n = sum(sum(by_cluster[c].values()) for c in cs)
        purity = sum(max(by_cluster[c].values()) for c in cs) / n if n else 0.0
        groups = [g for g in by_group if scope == "all" or g[1] == scope]
        recall = statistics.mean(
            max(by_group[g].values()) / sum(by_group[g].values()) for g in groups
        )
        out[scope] = {
            "questions": n,
            "clusters": len(cs),
            "singletons": sum(1 for c in cs if sum(by_cluster[c].values()) == 1),
            "purity": round(purity, 3),
            "recall": round(recall, 3),
        }
    return out


def diagnose(items: list[dict[str, str]], assign: dict[str, int], cl_lang: dict[int, str],
             top: int = 8) -> dict[str, Any]:  # fmt: skip
    """Clusters that merge topics, and intents split over several clusters, with examples."""
    members: dict[int, list[dict[str, str]]] = defaultdict(list)
    for it in items:
        members[assign[it["trace_id"]]].append(it)
    mixed = []
    for cid, its in members.items():
        counts = Counter(i["topic"] for i in its)
        major = counts.most_common(1)[0][1]
        if len(its) >= 4 and major / len(its) < 0.8:
            mixed.append({"cluster": cid, "lang": cl_lang[cid], "size": len(its),
                          "purity": round(major / len(its), 2),
                          "topics": dict(counts.most_common(4)),
                          "examples": [i["text"] for i in its[:4]]})  # fmt: skip
    mixed.sort(key=lambda m: (m["purity"], -m["size"]))
    split = []
    groups: dict[tuple[str, str], list[dict[str, str]]] = defaultdict(list)
    for it in items:
        groups[(it["intent"], it["lang"])].append(it)
    for (intent, lang), its in groups.items():
        sizes = Counter(assign[i["trace_id"]] for i in its)
        main, n_main = sizes.most_common(1)[0]
        recall = n_main / len(its)
        if recall < 0.7:
            others = [i["text"] for i in its if assign[i["trace_id"]] != main][:4]
            split.append({"intent": intent, "lang": lang, "questions": len(its),
                          "recall": round(recall, 2), "clusters": len(sizes),
                          "largest": [n for _, n in sizes.most_common(6)],
                          "main_example": next(i["text"] for i in its
                                               if assign[i["trace_id"]] == main),
                          "elsewhere": others})  # fmt: skip
    split.sort(key=lambda s: s["recall"])
    misdetected = [i for i in items if i["detected"] != i["lang"]]
    largest = sorted(members.values(), key=len, reverse=True)[:20]  # what the Gaps page lists
    return {
        "top20_clusters": {
            "questions_share": round(sum(map(len, largest)) / len(items), 3),
            "majority_topics": len(
                {Counter(i["topic"] for i in c).most_common(1)[0][0] for c in largest}
            ),
            "sizes": [len(c) for c in largest],
        },
        "mixed_clusters": mixed[:top],
        "mixed_clusters_total": len(mixed),
        "split_intents": split[:top],
        "split_intents_total": len(split),
        "intent_groups": len(groups),
        "lang_misdetected": len(misdetected),
        "lang_misdetected_by_lang": dict(Counter(i["lang"] for i in misdetected)),
        "lang_misdetected_examples": [i["text"] for i in misdetected[:6]],
    }


def similarity(items: list[dict[str, str]], embedder: Any) -> dict[str, Any]:
    """How far apart the vectors ``refresh`` compares are: cosine percentiles (10/50/90) of
    question pairs of the same intent, of the same topic but another intent, and of other
    topics, per language, for the joint vector and its two parts."""
    import numpy as np

    from llmops.rag import gaps

    out: dict[str, Any] = {}
    for lang in ("en", "es"):
        its = [i for i in items if i["detected"] == lang == i["lang"]]
        texts = [i["text"] for i in its]
        raw = np.asarray(embedder.embed_documents(texts), dtype=np.float32)
        dense = raw / np.linalg.norm(raw, axis=1, keepdims=True)
        stems = np.asarray([gaps._stems_vector(t) for t in texts])
        joint = gaps.vectors(texts, [lang] * len(texts), embedder)
        topic = np.asarray([i["topic"] for i in its])
        intent = np.asarray([i["intent"] for i in its])
        upper = np.triu(np.ones((len(its), len(its)), dtype=bool), k=1)
        same_intent = (intent[:, None] == intent[None, :]) & upper
        same_topic = (topic[:, None] == topic[None, :]) & upper & ~same_intent
        other = (topic[:, None] != topic[None, :]) & upper
        out[lang] = {}
        for name, m in (("joint", joint), ("dense", dense), ("stems", stems)):
            sims = m @ m.T
            out[lang][name] = {
                label: [round(float(x), 2) for x in np.percentile(sims[mask], [10, 50, 90])]
                for label, mask in (
                    ("same intent", same_intent),
                    ("same topic, other intent", same_topic),
                    ("other topic", other),
                )
            }
    return out


def quality(
    thresholds: list[float], embedder: Any, home: Path, merge: dict[str, float] | None = None
) -> tuple[dict[str, Any], CachedEmbedder]:
    from llmops.rag import gaps
    from llmops.store.db import Database
    from llmops.store.migrate import upgrade
    from llmops.text import detect_lang
    from llmops.tracing.writer import SpanWriter

    items = questions()
    rng = random.Random(11)
    rng.shuffle(items)  # the topics arrive interleaved, as in real traffic
    for it in items:
        it["detected"] = detect_lang(it["text"])
    db = Database(f"sqlite:///{home / 'quality.db'}")
    upgrade(db)
    start = datetime.now(UTC) - timedelta(days=6)
    times = [start + timedelta(seconds=200 * i) for i in range(len(items))]
    traces, rows = _gap_rows(items, times, rng, "rel_quality")
    writer = SpanWriter(db, home / "spool-q", start=False)
    writer.write_rows({"trace": traces, "gap": rows})
    cached = CachedEmbedder(embedder)
    result: dict[str, Any] = {
        "questions": len(items),
        "per_lang": dict(Counter(i["lang"] for i in items)),
        "topics": len({i["topic"] for i in items}),
        "intents": len({i["intent"] for i in items}),
        "distinct_sentences_before_decoration": len({i["base"] for i in items}),
        "runs": {},
    }
    order = [gaps.THRESHOLD] + [t for t in thresholds if abs(t - gaps.THRESHOLD) > 1e-9]
    for threshold in order:
        with db.engine.begin() as c:
            c.exec_driver_sql("UPDATE gap_candidates SET cluster_id = NULL")
            c.exec_driver_sql("DELETE FROM gap_clusters")
        t = time.perf_counter()
        report = gaps.refresh(db, cached, threshold=threshold, merge=merge)
        seconds = time.perf_counter() - t
        assert report.clustered == len(items), report
        assign, cl_lang = _assignments(db)
        run = {"topic": score(items, assign, cl_lang, "topic"),
               "intent": score(items, assign, cl_lang, "intent")}  # fmt: skip
        run["refresh_seconds"] = round(seconds, 2)
        run["embeddings_cached"] = threshold != gaps.THRESHOLD
        if threshold == gaps.THRESHOLD:
            result["diagnosis"] = diagnose(items, assign, cl_lang)
        result["runs"][f"{threshold:.2f}"] = run
    result["default_threshold"] = f"{gaps.THRESHOLD:.2f}"
    result["merge"] = merge or gaps.MERGE
    result["similarity"] = similarity(items, cached)
    db.dispose()
    return result, cached


# -- 2. speed ------------------------------------------------------------------------------------
def speed(base_url: str | None, home: Path, traces: int, repeat: int, embedder: Any,
          cached: Any) -> dict[str, Any]:  # fmt: skip
    from llmops import demo
    from llmops.rag import gaps
    from llmops.runtime import bootstrap
    from llmops.store.db import Database
    from llmops.tracing.writer import SpanWriter

    schema = None
    if base_url:
        schema, url = _pg_schema(base_url)
    else:
        url = f"sqlite:///{home / 'speed.db'}"
    out: dict[str, Any] = {"backend": "postgresql" if base_url else "sqlite"}
    try:
        db = Database(url)
        bootstrap(db)
        end = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)
        n_declined = int(traces * DECLINED_SHARE)
        t = time.perf_counter()
        report = demo.seed(db, traces=traces - n_declined, days=60, end=end)
        with db.engine.connect() as c:
            release = c.exec_driver_sql(
                "SELECT release_id FROM traces ORDER BY started_at DESC LIMIT 1"
            ).scalar()
        rng = random.Random(5)
        corpus = questions()
        items = [dict(rng.choice(corpus)) for _ in range(n_declined)]  # people ask again
        span = 60 * 86400
        times = sorted(end - timedelta(seconds=rng.random() * span) for _ in items)
        trace_rows, gap_rows = _gap_rows(items, times, rng, str(release))
        writer = SpanWriter(db, home / f"spool-{out['backend']}", start=False)
        for i in range(0, len(items), 5000):
            writer.write_rows({"trace": trace_rows[i : i + 5000], "gap": gap_rows[i : i + 5000]})
        out["seed_seconds"] = round(time.perf_counter() - t, 1)
        out["traces"] = report.traces + n_declined
        out["feedback"] = report.feedback
        t = time.perf_counter()
        calls, clustered, added, new_clusters = 0, 0, 0, 0
        while True:  # refresh reads at most BATCH feedback rows a call: drain the backlog
            first = gaps.refresh(db, cached)
            calls += 1
            clustered += first.clustered
            added += first.feedback
            new_clusters += first.new_clusters
            if not first.clustered and not first.feedback:
                break
        out["initial_refresh"] = {
            "seconds": round(time.perf_counter() - t, 1),
            "calls": calls,
            "clustered": clustered,
            "thumbs_down_added": added,
            "new_clusters": new_clusters,
            "note": "embeddings of the 2,000 questions cached from step 1",
        }
        if base_url:  # the test server runs with autovacuum off: do what it would
            with db.engine.begin() as conn:
                conn.exec_driver_sql("ANALYZE")
        now = datetime.now(UTC)
        since = now - timedelta(days=30)
        with db.engine.connect() as c:
            out["candidates"] = int(
                c.exec_driver_sql("SELECT count(*) FROM gap_candidates").scalar() or 0
            )
            out["candidates_30d"] = int(
                c.exec_driver_sql(
                    "SELECT count(*) FROM gap_candidates WHERE at >= "
                    + ("?" if db.dialect == "sqlite" else "%s"),
                    (_ts(since),),
                ).scalar()
                or 0
            )
            out["clusters"] = int(
                c.exec_driver_sql("SELECT count(*) FROM gap_clusters").scalar() or 0
            )
        found = gaps.gaps(db, since=since)
        out["gaps_returned"] = len(found)
        out["top_gap"] = {"label": found[0].label, "count": found[0].count} if found else None
        out["read"] = {
            "gaps(since=30 days ago)": _time(lambda: gaps.gaps(db, since=since), repeat),
            "gaps() (last 7 days)": _time(lambda: gaps.gaps(db), repeat),
            "gaps(since=30 days ago, lang=es)": _time(
                lambda: gaps.gaps(db, since=since, lang="es"), repeat
            ),
            "gaps(since=60 days ago, limit=100)": _time(
                lambda: gaps.gaps(db, since=now - timedelta(days=61), limit=100), repeat
            ),
        }

        def timed_refresh(times: int) -> dict[str, Any]:
            samples, embed_only = [], []
            for _ in range(times):
                new = [dict(rng.choice(corpus)) for _ in range(NEW_QUESTIONS)]
                t0 = datetime.now(UTC) - timedelta(seconds=NEW_QUESTIONS)
                at = [t0 + timedelta(seconds=i) for i in range(len(new))]
                tr, gr = _gap_rows(new, at, rng, str(release))
                writer.write_rows({"trace": tr, "gap": gr})
                t = time.perf_counter()
                rep = gaps.refresh(db, embedder)  # the real model, nothing cached
                samples.append((time.perf_counter() - t) * 1000)
                assert rep.clustered == NEW_QUESTIONS, rep
                t = time.perf_counter()
                embedder.embed_documents([n["text"] for n in new])
                embed_only.append((time.perf_counter() - t) * 1000)
            return {
                "median_ms": round(statistics.median(samples), 1),
                "max_ms": round(max(samples), 1),
                "embedding_alone_median_ms": round(statistics.median(embed_only), 1),
                "open_clusters": _open_clusters(db),
            }

        out["refresh_200_new"] = timed_refresh(repeat)
        # Real traffic repeats itself less than this corpus does: more open clusters, each
        # compared with every new question. Add random-centroid clusters (they attract
        # nothing) to see how refresh scales with the number of open clusters.
        out["refresh_200_new_more_clusters"] = []
        for total in STRESS_CLUSTERS:
            _add_clusters(db, total - _open_clusters(db))
            out["refresh_200_new_more_clusters"].append(timed_refresh(max(2, repeat // 2)))
        db.dispose()
    finally:
        if schema and base_url:
            _drop_schema(base_url, schema)
    return out


def _open_clusters(db: Any) -> int:
    with db.engine.connect() as c:
        sql = "SELECT count(*) FROM gap_clusters WHERE status = 'open'"
        return int(c.exec_driver_sql(sql).scalar() or 0)


def _add_clusters(db: Any, n: int) -> None:
    """``n`` open clusters with random unit centroids, half English, half Spanish."""
    import numpy as np

    from llmops.rag import gaps
    from llmops.rag.embeddings import DIMENSION

    if n <= 0:
        return
    m = np.random.default_rng(n).standard_normal((n, DIMENSION + gaps.HASH_DIMS))
    m = (m / np.linalg.norm(m, axis=1, keepdims=True)).astype(np.float32)
    mark = "?" if db.dialect == "sqlite" else "%s"
    now = _ts(datetime.now(UTC))
    rows = [("en" if i % 2 else "es", f"synthetic {i}", m[i].tobytes(), 1, "open", "", now)
            for i in range(n)]  # fmt: skip
    with db.engine.begin() as c:
        c.exec_driver_sql(
            "INSERT INTO gap_clusters (lang, label, centroid, size, status, note, created_at) "
            f"VALUES ({', '.join([mark] * 7)})",
            rows,
        )


# -- output --------------------------------------------------------------------------------------
def show(results: dict[str, Any]) -> None:
    q = results["quality"]
    print(f"== quality: {q['questions']:,} declined questions, {q['topics']} topics x "
          f"{q['intents'] // q['topics']} intents, {q['per_lang']} "
          f"({q['distinct_sentences_before_decoration']:,} distinct sentences before "
          "decoration); purity / recall against topics and against intents")  # fmt: skip
    print(f"{'threshold':<16}{'scope':<6}{'clusters':>9}{'single':>8}{'t.purity':>10}"
          f"{'t.recall':>10}{'i.purity':>10}{'i.recall':>10}{'refresh s':>11}")  # fmt: skip
    for thr, run in q["runs"].items():
        mark = " (default)" if thr == q["default_threshold"] else ""
        for scope in ("en", "es", "all"):
            t, i = run["topic"][scope], run["intent"][scope]
            print(f"{thr + (mark if scope == 'en' else ''):<16}{scope:<6}{t['clusters']:>9}"
                  f"{t['singletons']:>8}{t['purity']:>10.3f}{t['recall']:>10.3f}"
                  f"{i['purity']:>10.3f}{i['recall']:>10.3f}"
                  f"{run['refresh_seconds'] if scope == 'all' else '':>11}")  # fmt: skip
    d = q["diagnosis"]
    print(f"-- at the default: {d['mixed_clusters_total']} clusters (>= 4 questions) below 0.8 "
          f"topic purity; {d['split_intents_total']} of {d['intent_groups']} intent/language "
          f"groups below 0.7 recall; {d['lang_misdetected']} questions stored with the other "
          f"language {d['lang_misdetected_by_lang']}")  # fmt: skip
    t20 = d["top20_clusters"]
    print(f"   the 20 largest clusters (what the Gaps page lists) hold "
          f"{t20['questions_share']:.0%} of the questions, {t20['majority_topics']} distinct "
          f"topics; sizes {t20['sizes']}")  # fmt: skip
    for m in d["mixed_clusters"]:
        print(f"   merged [{m['lang']}] size {m['size']} purity {m['purity']}: {m['topics']}")
        for e in m["examples"][:3]:
            print(f"        {e}")
    for s in d["split_intents"]:
        print(f"   split {s['intent']}/{s['lang']} recall {s['recall']}: {s['questions']} "
              f"questions in {s['clusters']} clusters {s['largest']}; "
              f"main: {s['main_example']!r}")  # fmt: skip
        for e in s["elsewhere"][:3]:
            print(f"        elsewhere: {e}")
    print("-- cosine of question pairs (10th / 50th / 90th percentile; the join threshold "
          f"is {q['default_threshold']}):")  # fmt: skip
    for lang, parts in q["similarity"].items():
        for part, groups in parts.items():
            cells = "   ".join(f"{g}: {'/'.join(f'{x:.2f}' for x in v)}" for g, v in groups.items())
            print(f"   {lang} {part:<6} {cells}")
    for sp in results["speed"]:
        print(f"== speed: {sp['backend']}, {sp['traces']:,} traces, {sp['candidates']:,} gap "
              f"candidates ({sp['candidates_30d']:,} in the last 30 days), {sp['clusters']:,} "
              f"clusters; seeded in {sp['seed_seconds']} s, first clustering "
              f"{sp['initial_refresh']['seconds']} s over {sp['initial_refresh']['calls']} "
              "refresh calls")  # fmt: skip
        print(f"{'':<42}{'median ms':>10}{'max ms':>10}")
        for name, r in sp["read"].items():
            print(f"{name:<42}{r['median_ms']:>10}{r['max_ms']:>10}")
        for r in [sp["refresh_200_new"], *sp["refresh_200_new_more_clusters"]]:
            name = f"refresh, 200 new, {r['open_clusters']:,} open clusters"
            print(f"{name:<42}{r['median_ms']:>10}{r['max_ms']:>10}"
                  f"   (embedding alone {r['embedding_alone_median_ms']} ms)")  # fmt: skip


def _merge(text: str | None) -> dict[str, float] | None:
    if not text:
        return None
    return {k: float(v) for k, v in (part.split("=") for part in text.split(","))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--thresholds", default="0.45,0.50,0.60,0.65",
                    help="besides the default THRESHOLD")  # fmt: skip
    ap.add_argument("--traces", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both",
                    help="both = SQLite, and PostgreSQL if LLMOPS_TEST_DATABASE_URL is set")  # fmt: skip
    ap.add_argument("--merge", default=None,
                    help="centroid cosine to merge clusters per language, e.g. en=0.6,es=0.7 "
                         "(default MERGE; 1.01 = never)")  # fmt: skip
    ap.add_argument("--skip-speed", action="store_true")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    home = Path(tempfile.mkdtemp(prefix="llmops-bench-gaps-"))
    os.environ.setdefault("LLMOPS_HOME", str(home))
    from llmops.config import get_settings
    from llmops.rag.embeddings import MiniLMEmbeddings

    embedder = MiniLMEmbeddings(get_settings().embedding_model_path)
    started = time.perf_counter()
    results: dict[str, Any] = {"speed": []}
    results["quality"], cached = quality([float(x) for x in args.thresholds.split(",") if x],
                                         embedder, home, _merge(args.merge))  # fmt: skip
    if not args.skip_speed:
        pg = os.environ.get("LLMOPS_TEST_DATABASE_URL")
        if args.backend in ("sqlite", "both"):
            results["speed"].append(speed(None, home, args.traces, args.repeat, embedder, cached))
        if args.backend in ("postgresql", "both"):
            if pg:
                results["speed"].append(speed(pg, home, args.traces, args.repeat, embedder, cached))
            else:
                print("PostgreSQL skipped: set LLMOPS_TEST_DATABASE_URL", file=sys.stderr)
    results["total_seconds"] = round(time.perf_counter() - started, 1)
    if args.json:
        print(json.dumps(results, indent=2, ensure_ascii=False, default=str))
    else:
        show(results)
        print(f"total {results['total_seconds']} s")


if __name__ == "__main__":
    main()
