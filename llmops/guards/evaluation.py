"""Guard evaluation on labelled cases: precision, recall and false-positive rate per label,
per language and per benign subcategory.

Cases are JSONL, one per line: ``{"text", "lang", "direction", "labels": [...], "meta"?}``
(the format of ../shared/datasets/guard_public.jsonl). The same validator classes that guard
the chat are run directly; each failing validator reports the labels it detected.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llmops.errors import InvalidInputError
from llmops.types import JSONDict

# validators that judge a text alone; grounding and prompt leak need a context: not here
CONTEXT_FREE = ("prompt_injection", "toxicity", "pii", "person_names", "secrets")


def evaluated(profile: str) -> dict[str, tuple[str, ...]]:
    """Per direction, the context-free validators that ``profile`` runs there: the
    evaluation measures what the chat actually does."""
    from llmops.guards.profiles import get_profile

    prof = get_profile(profile)
    return {
        direction: tuple(r.validator for r in prof.rules(direction) if r.validator in CONTEXT_FREE)
        for direction in ("input", "output")
    }


@dataclass
class Case:
    text: str
    lang: str
    direction: str
    labels: list[str]
    subcategory: str | None = None
    id: str | None = None


@dataclass
class Counts:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    def as_dict(self) -> JSONDict:
        p = self.tp / (self.tp + self.fp) if self.tp + self.fp else None
        r = self.tp / (self.tp + self.fn) if self.tp + self.fn else None
        fpr = self.fp / (self.fp + self.tn) if self.fp + self.tn else None
        return {
            "tp": self.tp, "fp": self.fp, "fn": self.fn, "tn": self.tn,
            "precision": None if p is None else round(p, 4),
            "recall": None if r is None else round(r, 4),
            "fpr": None if fpr is None else round(fpr, 4),
            "support": self.tp + self.fn,
        }  # fmt: skip


@dataclass
class EvalReport:
    dataset: str
    cases: int
    profile: str = "default"
    labels: dict[str, dict[str, Any]] = field(default_factory=dict)
    by_lang: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    # recall on the labelled cases of each subcategory (e.g. jailbreak/DAN-family)
    by_subcategory: dict[str, dict[str, Any]] = field(default_factory=dict)
    benign: dict[str, dict[str, Any]] = field(default_factory=dict)
    latency_ms: dict[str, float] = field(default_factory=dict)
    errors: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> JSONDict:
        return {
            "dataset": self.dataset,
            "cases": self.cases,
            "profile": self.profile,
            "labels": self.labels,
            "by_lang": self.by_lang,
            "by_subcategory": self.by_subcategory,
            "benign": self.benign,
            "latency_ms": self.latency_ms,
            "errors": self.errors,
        }


# Labelled sets shipped with the product (our own EN/ES cases, incl. Spanish PII), so guard
# quality can be measured on any server without a file of one's own.
SHIPPED_DIR = Path(__file__).resolve().parent / "eval_sets"
SHIPPED = {p.name: p for p in sorted(SHIPPED_DIR.glob("*.jsonl"))}


def load_cases(path: Path) -> list[Case]:
    """Parse and validate every line first; any bad line fails the whole file (no partial)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"Cannot read {path}: {exc}") from exc
    return parse_cases(text, str(path))


def parse_cases(text: str, name: str) -> list[Case]:
    """Cases from JSONL text (an uploaded file); errors name the line, nothing is half-read."""
    cases: list[Case] = []
    problems: list[str] = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            if not isinstance(row, dict):
                raise ValueError("not a JSON object")
            text_ = row["text"]
            labels = row.get("labels", [])
            direction = row.get("direction", "input")
            if not isinstance(text_, str) or not isinstance(labels, list):
                raise ValueError("'text' must be a string and 'labels' a list")
            if direction not in ("input", "output"):
                raise ValueError(f"direction must be input or output, not {direction!r}")
            meta = row.get("meta") or {}
            sub = meta.get("subcategory") if isinstance(meta, dict) else None
            cases.append(
                Case(text_, str(row.get("lang", "en")), direction, [str(x) for x in labels],
                     sub, row.get("id"))
            )  # fmt: skip
        except (ValueError, KeyError, TypeError) as exc:
            problems.append(f"line {n}: {exc}")
    if problems:
        shown = "; ".join(problems[:5]) + (
            f" (+{len(problems) - 5} more)" if len(problems) > 5 else ""
        )
        raise InvalidInputError(f"{name} has {len(problems)} malformed line(s): {shown}")
    if not cases:
        raise InvalidInputError(f"{name} has no cases.")
    return cases


def run_and_save(db: Any, cases: list[Case], dataset: str, profile: str = "default") -> int:
    """Evaluate and keep the results for the Guardrails page; returns the run id."""
    from llmops.guards.report import save_eval

    report = evaluate(cases, dataset, profile=profile)
    return save_eval(db, dataset, len(cases), report.as_dict())


def predict(
    text: str, direction: str, validators: dict[str, Any], names: dict[str, tuple[str, ...]]
) -> set[str]:
    """Labels the guards detect in ``text`` (the union over the direction's validators)."""
    from guardrails.validator_base import FailResult

    labels: set[str] = set()
    for name in names[direction]:
        result = validators[name].validate(text, {})
        if isinstance(result, FailResult):
            labels.update((result.metadata or {}).get("labels") or [name])
    return labels


def _family(label: str) -> str:
    return "pii" if label.startswith("pii:") else label


def evaluate(cases: Iterable[Case], dataset: str = "", profile: str = "default") -> EvalReport:
    from llmops.guards.setup import configure
    from llmops.guards.validators import VALIDATORS

    configure()
    names = evaluated(profile)
    used = set(names["input"]) | set(names["output"])
    validators = {name: VALIDATORS[name](on_fail="noop") for name in used}
    cases = list(cases)
    report = EvalReport(dataset=dataset, cases=len(cases), profile=profile)
    overall: dict[str, Counts] = defaultdict(Counts)
    by_lang: dict[str, dict[str, Counts]] = defaultdict(lambda: defaultdict(Counts))
    by_sub: dict[str, Counts] = defaultdict(Counts)
    benign: dict[str, Counts] = defaultdict(Counts)
    timings: list[float] = []
    gold_labels = sorted({lab for c in cases for lab in c.labels})
    scored = [lab for lab in gold_labels] + [
        lab for lab in ("prompt_injection", "toxicity") if lab not in gold_labels
    ]
    for case in cases:
        t0 = time.perf_counter()
        try:
            pred = predict(case.text, case.direction, validators, names)
        except Exception as exc:  # noqa: BLE001 - one broken case is reported, not fatal
            report.errors.append({"id": case.id, "error": f"{type(exc).__name__}: {exc}"})
            continue
        timings.append((time.perf_counter() - t0) * 1000)
        gold = set(case.labels)
        for label in scored:
            # a family detector that fires on another member (pii:email for pii:phone)
            # counts as a hit for neither: labels are scored exactly
            hit, want = label in pred, label in gold
            for bucket in (overall[label], by_lang[case.lang][label]):
                if hit and want:
                    bucket.tp += 1
                elif hit:
                    bucket.fp += 1
                elif want:
                    bucket.fn += 1
                else:
                    bucket.tn += 1
        if gold and case.subcategory:
            bucket = by_sub[f"{case.subcategory} ({', '.join(sorted(gold))})"]
            if gold <= pred:
                bucket.tp += 1
            else:
                bucket.fn += 1
        if not gold:
            flagged = bool(pred - {"secret"})
            for key in (
                "all",
                f"lang:{case.lang}",
                *(["sub:" + case.subcategory] if case.subcategory else []),
            ):
                if flagged:
                    benign[key].fp += 1
                else:
                    benign[key].tn += 1
    report.labels = {k: v.as_dict() for k, v in sorted(overall.items())}
    report.by_subcategory = {k: v.as_dict() for k, v in sorted(by_sub.items())}
    report.by_lang = {
        lang: {k: v.as_dict() for k, v in sorted(d.items())} for lang, d in by_lang.items()
    }
    report.benign = {k: v.as_dict() for k, v in sorted(benign.items())}
    if timings:
        ordered = sorted(timings)
        report.latency_ms = {
            "median": round(ordered[len(ordered) // 2], 3),
            "p95": round(ordered[int(0.95 * (len(ordered) - 1))], 3),
        }
    return report


def family_summary(report: EvalReport) -> dict[str, dict[str, Any]]:
    """Recall per label family (pii, prompt_injection, toxicity), for a compact view."""
    sums: dict[str, Counts] = defaultdict(Counts)
    for label, m in report.labels.items():
        c = sums[_family(label)]
        c.tp += m["tp"]
        c.fn += m["fn"]
    return {k: v.as_dict() for k, v in sums.items()}
