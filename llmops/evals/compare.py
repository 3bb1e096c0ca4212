"""Two runs side by side: paired deltas with significance, wins/losses/ties, regressions.

Items are paired by id. Items are never edited in place, so an unchanged item keeps its id
across dataset versions and runs over successive versions still pair; an edited item does
not pair with its old self (it is a different case) and is counted as unpaired. An item an
evaluator failed on has no score to pair; the comparison notes how many there were.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import Row, select

from llmops.errors import InvalidInputError
from llmops.evals.evaluators import REGISTRY, all_evaluators
from llmops.evals.runs import RunInfo, get_run
from llmops.evals.stats import Paired, paired
from llmops.store.db import Database
from llmops.store.models import DatasetItem, EvalResult
from llmops.types import JSONDict

ALPHA = 0.05


def quality_metrics(names: list[str]) -> list[str]:
    """The evaluators that measure answer quality (not latency or cost)."""
    all_evaluators()
    return [n for n in names if REGISTRY.get(n) is None or REGISTRY[n].kind != "operational"]


@dataclass
class MetricDelta:
    name: str
    stats: Paired
    significant: bool

    def as_dict(self) -> JSONDict:
        return {"name": self.name, **self.stats.as_dict(), "significant": self.significant}


@dataclass
class ItemDiff:
    item_id: int
    input: str
    lang: str | None
    delta: float | None  # mean over the compared metrics of (b - a)
    scores_a: dict[str, float | None]
    scores_b: dict[str, float | None]
    output_a: str | None
    output_b: str | None
    trace_a: str | None
    trace_b: str | None

    def as_dict(self) -> JSONDict:
        return asdict(self)


@dataclass
class Comparison:
    run_a: RunInfo
    run_b: RunInfo
    metrics: dict[str, MetricDelta]
    items: list[ItemDiff]  # most regressed first
    sort_metric: str | None
    unpaired_a: int = 0
    unpaired_b: int = 0
    notes: list[str] = field(default_factory=list)

    def regressions(self) -> list[ItemDiff]:
        return [i for i in self.items if i.delta is not None and i.delta < 0]

    def as_dict(self) -> JSONDict:
        return {
            "run_a": self.run_a.id,
            "run_b": self.run_b.id,
            "release_a": self.run_a.release_id,
            "release_b": self.run_b.release_id,
            "paired_items": len(self.items),
            "unpaired": {"a": self.unpaired_a, "b": self.unpaired_b},
            "metrics": {n: m.as_dict() for n, m in self.metrics.items()},
            "items": [i.as_dict() for i in self.items],
            "notes": self.notes,
        }


def _results(db: Database, run_id: str) -> dict[int, Row[*tuple[Any, ...]]]:
    stmt = (
        select(
            EvalResult.item_id,
            EvalResult.scores,
            EvalResult.output,
            EvalResult.trace_id,
            DatasetItem.input,
            DatasetItem.lang,
        )
        .join(DatasetItem, DatasetItem.id == EvalResult.item_id)
        .where(EvalResult.run_id == run_id)
    )
    with db.session() as s:
        return {r.item_id: r for r in s.execute(stmt)}


def compare_runs(db: Database, run_a: str, run_b: str, *, metric: str | None = None) -> Comparison:
    """Compare run ``run_b`` (candidate) with ``run_a`` (baseline)."""
    a, b = get_run(db, run_a), get_run(db, run_b)
    if a.id == b.id:
        raise InvalidInputError("Choose two different runs to compare.")
    if a.dataset_id != b.dataset_id:
        raise InvalidInputError(
            f"Runs {a.id} and {b.id} are over different datasets ({a.dataset}, {b.dataset})."
        )
    ra, rb = _results(db, a.id), _results(db, b.id)
    common = sorted(set(ra) & set(rb))
    if not common:
        raise InvalidInputError(f"Runs {a.id} and {b.id} share no scored items.")
    names = [n for n in a.evaluators if n in b.evaluators]
    if metric is not None and metric not in names:
        raise InvalidInputError(
            f"Both runs must have scored {metric!r}.", hint=f"shared: {', '.join(names)}"
        )
    notes = []
    if a.dataset_version != b.dataset_version:
        notes.append(
            f"dataset versions differ (v{a.dataset_version} vs v{b.dataset_version}): "
            "only the items both versions share are compared"
        )
    for name in names:
        for label, run in (("A", a), ("B", b)):
            if run.errors().get(name):
                notes.append(
                    f"{name} failed on {run.errors()[name]} item(s) of run {label} "
                    f"({run.first_error(name)}): those items are not compared"
                )
    metrics: dict[str, MetricDelta] = {}
    for name in names:
        pairs = [
            (ra[i].scores.get(name), rb[i].scores.get(name))
            for i in common
            if (ra[i].scores or {}).get(name) is not None
            and (rb[i].scores or {}).get(name) is not None
        ]
        if not pairs:
            continue
        stats = paired([p[0] for p in pairs], [p[1] for p in pairs])
        sig = stats.p_value is not None and stats.p_value < ALPHA and stats.delta != 0
        metrics[name] = MetricDelta(name, stats, sig)
    sort_by = [metric] if metric else quality_metrics(list(metrics))
    items = []
    for i in common:
        sa, sb = dict(ra[i].scores or {}), dict(rb[i].scores or {})
        deltas = [
            float(sb[n]) - float(sa[n])
            for n in sort_by
            if sa.get(n) is not None and sb.get(n) is not None
        ]
        items.append(
            ItemDiff(
                item_id=i,
                input=ra[i].input,
                lang=ra[i].lang,
                delta=round(sum(deltas) / len(deltas), 6) if deltas else None,
                scores_a=sa,
                scores_b=sb,
                output_a=ra[i].output,
                output_b=rb[i].output,
                trace_a=ra[i].trace_id,
                trace_b=rb[i].trace_id,
            )
        )
    items.sort(key=lambda d: (d.delta is None, d.delta if d.delta is not None else 0.0, d.item_id))
    return Comparison(
        run_a=a,
        run_b=b,
        metrics=metrics,
        items=items,
        sort_metric=metric,
        unpaired_a=len(set(ra) - set(rb)),
        unpaired_b=len(set(rb) - set(ra)),
        notes=notes,
    )
