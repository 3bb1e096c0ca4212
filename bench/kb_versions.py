"""Knowledge-base versions: what one shared collection filtered by version costs.

    .venv/bin/python bench/kb_versions.py [--versions 10] [--queries 200]

The design (llmops/rag/versions.py): chunks are stored once per content hash in ONE Chroma
collection; a version is a manifest (source -> content hash) and retrieval for a version
keeps the chunks whose hash it lists. The alternative the issue names — one collection per
version — would store (and embed) every chunk of every version again.

Through the real Runtime (SQLite and Chroma under a temporary LLMOPS_HOME, the shipped
MiniLM embeddings) and the shipped knowledge base:
1. Storage and ingest: ``--versions`` new versions, each changing one source (a paragraph
   appended); chunks in the collection vs the sum of the versions' chunk counts (what
   per-version collections would hold), and the time of each new version's ingest (only
   the changed file is split and embedded).
2. Retrieval: the first search on a version (its view is built from the shared index),
   then the median over ``--queries`` searches on the latest version, on the oldest pinned
   version, and on the unfiltered index — the price of the version filter.

Nothing asserts: it prints figures.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

QUESTIONS = [
    "How do I roll back a release?",
    "What does a canary release do?",
    "Which metrics should I watch in production?",
    "¿Cómo se evalúa un modelo antes de desplegarlo?",
    "¿Qué es la deriva de datos?",
    "How is personal data kept out of the store?",
]


def _median_ms(fn, n: int) -> float:
    times = []
    for i in range(n):
        t0 = time.perf_counter()
        fn(QUESTIONS[i % len(QUESTIONS)])
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--versions", type=int, default=10)
    ap.add_argument("--queries", type=int, default=200)
    args = ap.parse_args()

    home = Path(tempfile.mkdtemp(prefix="llmops-bench-kbv-"))
    os.environ["LLMOPS_HOME"] = str(home)
    from llmops.rag import versions
    from llmops.releases import core
    from llmops.runtime import Runtime

    try:
        rt = Runtime()
        kb = rt.kb
        work = home / "knowledge"
        shutil.copytree(ROOT / "knowledge", work)
        t0 = time.perf_counter()
        first = kb.ingest([work])
        base_s = time.perf_counter() - t0
        oldest = versions.parse(first.version)
        core.create_release(
            rt.db, core.ReleaseConfig(kb_version=versions.name(oldest)), name="pin oldest"
        )
        sources = sorted(p for p in work.rglob("*.md"))
        per_version_chunks = [sum(e.chunk_count for e in versions.manifest(rt.db, oldest).values())]
        ingest_s = []
        for i in range(args.versions):
            path = sources[i % len(sources)]
            with path.open("a", encoding="utf-8") as f:
                f.write(f"\n\nRevision {i}: a paragraph added to make version {i + 2} differ.\n")
            t0 = time.perf_counter()
            report = kb.ingest([work])
            ingest_s.append(time.perf_counter() - t0)
            vid = versions.parse(report.version)
            per_version_chunks.append(
                sum(e.chunk_count for e in versions.manifest(rt.db, vid).values())
            )
            # a release pins each version, so every version is kept (collect() drops
            # versions no release references)
            core.create_release(
                rt.db, core.ReleaseConfig(kb_version=versions.name(vid)), name=f"pin {vid}"
            )
        stored = kb.count()
        latest = versions.latest(rt.db)

        t0 = time.perf_counter()
        kb.search(QUESTIONS[0], k=5, version=oldest)
        first_view_ms = (time.perf_counter() - t0) * 1000
        latest_ms = _median_ms(lambda q: kb.search(q, k=5, version=latest), args.queries)
        oldest_ms = _median_ms(lambda q: kb.search(q, k=5, version=oldest), args.queries)
        # the unfiltered index: what a single-version knowledge base pays
        kb_view = kb.view
        kb.view = lambda version=None: kb._index()  # type: ignore[method-assign]
        all_ms = _median_ms(lambda q: kb.search(q, k=5), args.queries)
        kb.view = kb_view  # type: ignore[method-assign]

        print(f"knowledge base: {len(sources)} sources, first version {first.version} "
              f"ingested in {base_s:.2f} s ({per_version_chunks[0]} chunks)")  # fmt: skip
        print(f"{args.versions} more versions, one source changed each: ingest median "
              f"{statistics.median(ingest_s) * 1000:.0f} ms, max {max(ingest_s) * 1000:.0f} ms")  # fmt: skip
        print(f"chunks in the shared collection: {stored} (every version kept: each is pinned)")
        print(f"chunks per-version collections would hold: {sum(per_version_chunks)} "
              f"({len(per_version_chunks)} versions x ~{per_version_chunks[-1]})")  # fmt: skip
        print(f"first search on a version (view built): {first_view_ms:.1f} ms")
        print(f"search median over {args.queries}: latest {latest_ms:.2f} ms, "
              f"oldest version {oldest_ms:.2f} ms, unfiltered index {all_ms:.2f} ms "
              f"(ratio filtered/unfiltered {latest_ms / all_ms:.2f})")  # fmt: skip
        rt.close()
    finally:
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
