"""Answer quality of the shipped model and knowledge base on our own EN/ES question set.

    .venv/bin/python bench/answers.py [--root PATH] [--json]

``bench/data/answers.jsonl``: 30 English and 30 Spanish operator questions, paraphrased (not
copied from the knowledge base), each with the source files that answer it and must-include
facts (folded, accent-free substrings). Through a real Runtime with the knowledge base under
``--root`` (default: this checkout) ingested into a temporary LLMOPS_HOME:

- ``recall@5``: a same-language expected source is among the top 5 retrieved chunks;
- ``selection``: sentence selection alone — the LocalModel is given the expected sources'
  chunks (oracle retrieval) and must pick a sentence holding the first fact;
- ``must_include``: end to end (``chat.ask``), the share of facts the answer contains, and
  ``all_facts``, the share of answers containing all of them.

``--root /work/main`` (with ``PYTHONPATH`` pointing there) measures another checkout: the
"before" column.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE / "data" / "answers.jsonl"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", type=Path, default=HERE.parent)
    ap.add_argument("--knowledge", type=Path, help="knowledge folder (default: ROOT/knowledge)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    sys.path.insert(0, str(args.root))
    os.environ["LLMOPS_HOME"] = tempfile.mkdtemp(prefix="llmops-bench-answers-")
    os.environ["LLMOPS_KNOWLEDGE_DIR"] = str(args.knowledge or args.root / "knowledge")
    from llmops.llm.local import LocalModel
    from llmops.llm.prompts import format_sources, rag_prompt
    from llmops.runtime import Runtime
    from llmops.text import fold

    NOTE = re.compile(
        r"(The sources I found do not mention|Las fuentes que encontr[eé] no mencionan):[^.]*\.?"
    )
    cases = [json.loads(line) for line in DATA.read_text().splitlines() if line.strip()]
    rt = Runtime()
    rt.kb.ingest()
    model = LocalModel()
    stats: dict[str, dict[str, float]] = {}
    for case in cases:
        lang, q = case["lang"], case["q"]
        want = {f"{lang}/{s}" for s in case["src"]}
        facts = [fold(f) for f in case["facts"]]
        s = stats.setdefault(lang, dict.fromkeys(
            ("n", "recall5", "sel_n", "selection", "facts", "all_facts"), 0.0))  # fmt: skip
        s["n"] += 1
        top = rt.kb.search(q, k=5)
        s["recall5"] += any(d.metadata.get("source") in want for d in top)
        oracle = [d for d in rt.kb.search(q, k=40, min_score=-1.0)
                  if d.metadata.get("source") in want][:4]  # fmt: skip
        if oracle:
            msgs = rag_prompt().format_messages(question=q, context=format_sources(oracle))
            s["sel_n"] += 1
            s["selection"] += facts[0] in fold(model.answer(msgs))
        # the "sources do not mention: X" note repeats question words: never count it
        answer = fold(NOTE.sub("", rt.chat.ask(q).answer))
        hits = sum(f in answer for f in facts)
        s["facts"] += hits / len(facts)
        s["all_facts"] += hits == len(facts)
    rt.close()
    result = {
        lang: {
            "questions": int(s["n"]),
            "recall@5": round(s["recall5"] / s["n"], 2),
            "selection": round(s["selection"] / max(1, s["sel_n"]), 2),
            "selection_n": int(s["sel_n"]),
            "must_include": round(s["facts"] / s["n"], 2),
            "all_facts": round(s["all_facts"] / s["n"], 2),
        }
        for lang, s in sorted(stats.items())
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    for lang, r in result.items():
        print(lang, " ".join(f"{k}={v}" for k, v in r.items()))


if __name__ == "__main__":
    main()
