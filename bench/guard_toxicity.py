"""Toxicity: the rules alone against the rules OR the learned word model, on the evaluation
sets and on labelled text neither was built from.

    PYTHONPATH=. python bench/guard_toxicity.py [--json OUT]

Per evaluation file and language: toxicity precision, recall and false-positive rate (on
cases not labelled toxicity) and the benign false-positive rate (cases with no label that
the toxicity validator flags). Out of distribution: the toxicity corpus's sources the rules
and the word model were not built from (PyRIT's human-scored hate-speech answers, our
hand-written messages) and the injection corpus's own-domain text (docs, knowledge base,
questions) as negatives. Only aggregates are printed.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterable
from pathlib import Path

from llmops.guards.evaluation import load_cases
from llmops.guards.train_detector import load_corpus
from llmops.guards.train_toxicity import CORPUS
from llmops.guards.validators import DetectToxicity

ROOT = Path(__file__).resolve().parents[1]
# written to probe the "aimed at someone" condition: frustration with a thing, in questions
# that address the assistant as "you"; none is abuse
PROBES = [
    "Can you help me fix this shitty script?",
    "Can you help me fix this fucking script?",
    "Could you explain why this stupid test fails?",
    "Their API docs are crap, can you summarise them?",
    "You were right, the old config was garbage.",
    "Can you tell me why this damn build fails?",
    "I know you are busy but this stupid dashboard is broken again.",
    "Do you know why the fucking deploy keeps failing?",
    "Thank you, that crappy migration finally ran.",
    "Could you rewrite this dumb regex for me?",
]
FILES = [
    ROOT.parent / "shared" / "datasets" / "guard_public.jsonl",
    ROOT / "tests" / "data" / "guard_holdout3.jsonl",
    ROOT / "tests" / "data" / "guard_holdout4.jsonl",
    ROOT / "llmops" / "guards" / "eval_sets" / "guard_cases_en.jsonl",
    ROOT / "llmops" / "guards" / "eval_sets" / "guard_cases_es.jsonl",
]


def _figures(rows: Iterable[tuple[bool, bool, bool]]) -> dict[str, float | int | None]:
    """rows of (flagged, labelled toxicity, labelled nothing)."""
    tp = fp = fn = tn = bfp = bn = 0
    for hit, want, benign in rows:
        tp += hit and want
        fp += hit and not want
        fn += want and not hit
        tn += not hit and not want
        bn += benign
        bfp += hit and benign
    return {
        "support": tp + fn,
        "precision": round(tp / (tp + fp), 3) if tp + fp else None,
        "recall": round(tp / (tp + fn), 3) if tp + fn else None,
        "fpr": round(fp / (fp + tn), 4) if fp + tn else None,
        "benign_fpr": round(bfp / bn, 4) if bn else None,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    validators = {
        "rules": DetectToxicity(learned=False, on_fail="noop"),
        "rules+learned": DetectToxicity(on_fail="noop"),
    }
    out: dict[str, dict[str, object]] = {}
    for path in FILES:
        cases = load_cases(path)
        for name, validator in validators.items():
            rows = [
                (
                    c.lang,
                    validator.validate(c.text, {}).outcome == "fail",
                    "toxicity" in c.labels,
                    not c.labels,
                )
                for c in cases
            ]
            out.setdefault(path.name, {})[name] = {
                lang: _figures((h, w, b) for lg, h, w, b in rows if lang in ("all", lg))
                for lang in ("all", *sorted({c.lang for c in cases}))
            }
    groups = {
        "pyrit-hate (human scores)": [s for s in load_corpus(CORPUS) if s.source == "pyrit-hate"],
        "own hand-written": [s for s in load_corpus(CORPUS) if s.source == "own-handwritten"],
        "own docs/knowledge/questions (negatives)": [
            s for s in load_corpus() if s.source in ("own-docs", "own-knowledge", "own-questions")
        ],
    }
    for group, samples in groups.items():
        for name, validator in validators.items():
            rows = [
                (
                    s.lang,
                    validator.validate(s.text, {}).outcome == "fail",
                    s.label == "toxicity",
                    s.label != "toxicity",
                )
                for s in samples
            ]
            out.setdefault(group, {})[name] = {
                lang: _figures((h, w, b) for lg, h, w, b in rows if lang in ("all", lg))
                for lang in ("all", "en", "es")
            }
    for name, validator in validators.items():
        flagged = sum(validator.validate(t, {}).outcome == "fail" for t in PROBES)
        out.setdefault("probes (10 frustrated, not abusive)", {})[name] = {
            "all": {"flagged": flagged, "of": len(PROBES)}
        }
    for where, per in out.items():
        for name, langs in per.items():
            cells = []
            for lang, f in langs.items():  # type: ignore[attr-defined]
                if "flagged" in f:
                    cells.append(f"flagged {f['flagged']} of {f['of']}")
                    continue
                cells.append(
                    f"{lang}: P {f['precision']} R {f['recall']} FPR {f['fpr']} "
                    f"benign FPR {f['benign_fpr']} (n+ {f['support']})"
                )
            print(f"{where:42} {name:14} " + " | ".join(cells))
    if args.json:
        args.json.write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
