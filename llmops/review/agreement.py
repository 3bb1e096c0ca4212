"""How much reviewers agree with each other, and each automatic evaluator with them.

- Between reviewers: Cohen's kappa for every pair on the items both reviewed, and Fleiss'
  kappa over the items that got the same number (≥ 2) of verdicts (correct / partly /
  wrong). Kappa corrects raw agreement for what chance alone would give: 1 is perfect, 0 is
  chance, below 0 worse than chance.
- Evaluators vs people: for every evaluator score stored on the reviewed traces (online
  evaluation, evaluation runs), the human consensus "correct" vs not against the score
  ≥ 0.5, as Cohen's kappa and accuracy — so operators know which evaluator to trust.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from itertools import combinations

from sqlalchemy import select

from llmops.evals.stats import cohen_kappa, fleiss_kappa
from llmops.review.queues import VERDICTS, reviewed
from llmops.store.db import Database
from llmops.store.models import EvalResult, TraceScore
from llmops.types import JSONDict


@dataclass
class PairAgreement:
    a: str
    b: str
    items: int
    agreement: float
    kappa: float | None


@dataclass
class ReviewerAgreement:
    items: int  # items with at least two verdicts
    raters_per_item: int | None
    fleiss_kappa: float | None
    fleiss_items: int
    pairs: list[PairAgreement]

    def as_dict(self) -> JSONDict:
        return asdict(self)


def reviewers(db: Database, queue: str | int) -> ReviewerAgreement:
    items = [it for it in reviewed(db, queue) if len(it.verdicts) >= 2]
    by_item = [{v["reviewer"]: v["verdict"] for v in it.verdicts} for it in items]
    names = sorted({r for labels in by_item for r in labels})
    pairs = []
    for a, b in combinations(names, 2):
        shared = [(m[a], m[b]) for m in by_item if a in m and b in m]
        if shared:
            la, lb = zip(*shared, strict=True)
            agree = sum(x == y for x, y in shared) / len(shared)
            pairs.append(PairAgreement(a, b, len(shared), round(agree, 4),
                                       _round(cohen_kappa(la, lb))))  # fmt: skip
    sizes = Counter(len(m) for m in by_item)
    raters = sizes.most_common(1)[0][0] if sizes else None
    table = [[Counter(m.values()).get(v, 0) for v in VERDICTS] for m in by_item if len(m) == raters]
    fleiss = fleiss_kappa(table) if table else None
    return ReviewerAgreement(len(items), raters, _round(fleiss), len(table), pairs)


@dataclass
class EvaluatorAgreement:
    evaluator: str
    items: int
    accuracy: float
    kappa: float | None

    def as_dict(self) -> JSONDict:
        return asdict(self)


def evaluators(
    db: Database, queue: str | int, *, threshold: float = 0.5
) -> list[EvaluatorAgreement]:
    """Each evaluator's pass/fail (score ≥ ``threshold``) against the reviewers' consensus
    (correct vs not), best kappa first."""
    items = reviewed(db, queue)
    human = {it.trace_id: it.consensus == "correct" for it in items}
    scores: dict[str, dict[str, float]] = {}
    ids = list(human)
    with db.session() as s:
        for tid, name, value in s.execute(
            select(TraceScore.trace_id, TraceScore.name, TraceScore.value)
            .where(TraceScore.trace_id.in_(ids))
        ):  # fmt: skip
            scores.setdefault(name, {})[tid] = float(value)
        for run_tid, values in s.execute(
            select(EvalResult.trace_id, EvalResult.scores).where(EvalResult.trace_id.in_(ids))
        ):
            for name, value in (values or {}).items():
                if isinstance(value, int | float):
                    scores.setdefault(name, {}).setdefault(run_tid or "", float(value))
    out = []
    for name, by_trace in scores.items():
        pairs = [(human[t], v >= threshold) for t, v in by_trace.items() if t in human]
        if not pairs:
            continue
        h, e = zip(*pairs, strict=True)
        accuracy = sum(x == y for x, y in pairs) / len(pairs)
        out.append(EvaluatorAgreement(name, len(pairs), round(accuracy, 4),
                                      _round(cohen_kappa(h, e))))  # fmt: skip
    return sorted(out, key=lambda a: (a.kappa is None, -(a.kappa or 0), -a.items))


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)
