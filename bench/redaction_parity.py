"""Every finding of every redaction detector on the parity corpus, one JSON line a text.

    PYTHONPATH=<checkout> .venv/bin/python bench/redaction_parity.py > findings.jsonl

The corpus is ``tests/guards/redaction_corpus.py`` of *this* file's checkout, loaded by path,
while ``llmops`` comes from ``PYTHONPATH``: run it once against each checkout and ``cmp`` the
outputs to prove a change of the detectors' cheap paths changed no finding (issue 17).
Printed per text: ``llmops.redaction.find(text, "context")``, the PII scanner with and without
``overlapping``, ``secrets.find`` and ``person_context.find_person_names``.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _corpus() -> list[str]:
    spec = importlib.util.spec_from_file_location(
        "redaction_corpus", HERE.parent / "tests" / "guards" / "redaction_corpus.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return list(module.texts())


def main() -> None:
    from llmops.guards import person_context, pii, secrets
    from llmops.redaction import find

    scanner = pii.scanner()
    out = sys.stdout
    for i, text in enumerate(_corpus()):
        row = {
            "i": i,
            "text": text,
            "find": [(s.label, s.start, s.end) for s in find(text, "context")],
            "pii": [
                (e.label, e.start, e.end, e.score) for e in scanner.find(text, overlapping=True)
            ],
            "pii_kept": [(e.label, e.start, e.end, e.score) for e in scanner.find(text)],
            "secrets": [(s.kind, s.start, s.end) for s in secrets.find(text)],
            "names": [(n.start, n.end) for n in person_context.find_person_names(text)],
        }
        out.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
