"""The CI gate: evaluate a candidate release and fail when it is not good enough.

Two kinds of checks, each reported with its numbers:

- ``--min METRIC=VALUE``: the candidate's mean score must reach the value;
- ``--max-regression D``: on the items both runs scored, no quality metric (every evaluator
  except latency and cost) may drop by more than ``D`` against the baseline release. With
  ``require_significance`` a drop fails only when a paired test says it is not noise
  (p < 0.05: the paired bootstrap, or the exact sign test below 20 items) — on a small
  dataset that lets real regressions through, so it is off by default.

Evaluator errors fail closed. A mean leaves out the items an evaluator failed on, so a
threshold or a regression check over it would judge only the items that happened to work:
instead, a ``--min`` check fails when the candidate's evaluator errored on any item, and a
regression check fails when the evaluator errored in either run (the failed items cannot be
paired, and a drop there is unknown). The message names the evaluator, how many items failed
and the first error.

The baseline (``production`` by default) is evaluated on the same dataset version with the
same evaluators, or an earlier completed run of it is reused: releases are immutable, so a
run of the same release over the same version measures the same configuration. A run whose
evaluators errored is not reused.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from sqlalchemy import select

from llmops.errors import InvalidInputError
from llmops.evals.compare import Comparison, compare_runs, quality_metrics
from llmops.evals.evaluators import get_evaluator
from llmops.evals.runner import EvalRunner, Progress
from llmops.evals.runs import RunInfo, get_run
from llmops.releases import resolve_ref_or_file
from llmops.store.models import EvalRun
from llmops.types import JSONDict


@dataclass
class Check:
    kind: str  # min | regression | run
    metric: str
    passed: bool
    message: str
    value: float | None = None
    threshold: float | None = None

    def as_dict(self) -> JSONDict:
        return dict(self.__dict__)


@dataclass
class GateReport:
    candidate: RunInfo
    baseline: RunInfo | None
    comparison: Comparison | None
    checks: list[Check] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    def as_dict(self) -> JSONDict:
        return {
            "passed": self.passed,
            "candidate": {
                "run_id": self.candidate.id,
                "release_id": self.candidate.release_id,
                "metrics": self.candidate.scores(),
            },
            "baseline": None
            if self.baseline is None
            else {
                "run_id": self.baseline.id,
                "release_id": self.baseline.release_id,
                "metrics": self.baseline.scores(),
            },
            "checks": [c.as_dict() for c in self.checks],
        }

    def render(self) -> str:
        c = self.candidate
        lines = [
            f"eval gate: {'PASSED' if self.passed else 'FAILED'}",
            f"  dataset  {c.dataset} v{c.dataset_version} ({c.total_items} items)",
            f"  candidate {c.release_id} · run {c.id}",
        ]
        if self.baseline is not None:
            lines.append(f"  baseline  {self.baseline.release_id} · run {self.baseline.id}")
        for check in self.checks:
            lines.append(f"  {'ok  ' if check.passed else 'FAIL'} {check.message}")
        return "\n".join(lines)


def parse_mins(specs: list[str] | None) -> dict[str, float]:
    """``["contains_all=0.8", ...]`` → ``{"contains_all": 0.8}``, with clear errors."""
    out: dict[str, float] = {}
    for spec in specs or []:
        name, sep, raw = spec.partition("=")
        name = name.strip()
        if not sep or not name:
            raise InvalidInputError(f"--min {spec!r}: use METRIC=VALUE, e.g. contains_all=0.8")
        get_evaluator(name)
        try:
            value = float(raw)
        except ValueError:
            raise InvalidInputError(f"--min {spec!r}: {raw!r} is not a number") from None
        if not 0.0 <= value <= 1.0:
            raise InvalidInputError(f"--min {spec!r}: scores are between 0 and 1")
        out[name] = value
    return out


def _reusable(runner: EvalRunner, dataset_id: int, version: int, release_id: str,
              evaluators: list[str]) -> RunInfo | None:  # fmt: skip
    with runner.db.session() as s:
        rows = s.scalars(
            select(EvalRun.id)
            .where(
                EvalRun.dataset_id == dataset_id,
                EvalRun.dataset_version == version,
                EvalRun.release_id == release_id,
                EvalRun.status == "completed",
            )
            .order_by(EvalRun.created_at.desc())
            .limit(20)
        ).all()
    for run_id in rows:
        run = get_run(runner.db, run_id)
        if set(evaluators) <= set(run.evaluators) and not set(evaluators) & set(run.errors()):
            return run
    return None


def _errored(run: RunInfo, metric: str, which: str) -> str | None:
    """Why a check over ``metric`` cannot pass on ``run`` (None: its evaluator never failed)."""
    n = run.errors().get(metric)
    if not n:
        return None
    return (
        f"the evaluator failed on {n} item(s) of the {which} run "
        f"(first: {run.first_error(metric)}); a check cannot pass over evaluator errors"
    )


def run_gate(
    runner: EvalRunner,
    dataset: str,
    release: str,
    *,
    baseline: str | None = "production",
    mins: dict[str, float] | None = None,
    max_regression: float | None = 0.02,
    evaluators: list[str] | None = None,
    require_significance: bool = False,
    reuse_baseline: bool = True,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
    actor: str = "ci",
) -> GateReport:
    mins = mins or {}
    if max_regression is not None and not 0.0 <= max_regression <= 1.0:
        raise InvalidInputError("--max-regression must be between 0 and 1.")
    names = list(evaluators) if evaluators else None
    if names is not None:
        missing = [m for m in mins if m not in names]
        names += missing  # a --min metric is always evaluated
    candidate_rel = resolve_ref_or_file(runner.db, release, actor=actor)
    baseline_rel = resolve_ref_or_file(runner.db, baseline, actor=actor) if baseline else None
    created = runner.create(
        dataset, candidate_rel.id, evaluators=names, actor=actor, name=f"gate · {release}"
    )
    for metric in mins:
        if metric not in created.evaluators:
            raise InvalidInputError(f"--min {metric}: the evaluator is not part of this run.")
    candidate = runner.run(created.id, progress=progress, cancel=cancel)
    report = GateReport(candidate, None, None)
    if candidate.status != "completed":
        report.checks.append(
            Check("run", "-", False, f"the candidate run did not complete: {candidate.status}"
                  f"{' — ' + candidate.error if candidate.error else ''}")
        )  # fmt: skip
        return report
    scores = candidate.scores()
    for metric, threshold in mins.items():
        value = scores.get(metric)
        shown = "n/a" if value is None else f"{value:.3f}"
        failed = _errored(candidate, metric, "candidate")
        if failed:
            report.checks.append(
                Check("min", metric, False, f"{metric} {shown} — {failed}", value, threshold)
            )
            continue
        ok = value is not None and value >= threshold
        report.checks.append(
            Check("min", metric, ok, f"{metric} {shown} {'≥' if ok else '<'} {threshold:g}",
                  value, threshold)
        )  # fmt: skip
    if baseline_rel is None or max_regression is None:
        return report
    if baseline_rel.id == candidate.release_id:
        report.baseline = candidate
        report.checks.append(
            Check("regression", "-", True, "baseline is the candidate release: nothing to compare")
        )
        return report
    base = (
        _reusable(runner, candidate.dataset_id, candidate.dataset_version, baseline_rel.id,
                  candidate.evaluators)
        if reuse_baseline
        else None
    )  # fmt: skip
    if base is None:
        base_created = runner.create(
            candidate.dataset_id,
            baseline_rel.id,
            evaluators=candidate.evaluators,
            actor=actor,
            name=f"gate baseline · {baseline}",
        )
        if base_created.dataset_version != candidate.dataset_version:
            raise InvalidInputError("The dataset changed during the gate; run it again.")
        base = runner.run(base_created.id, progress=progress, cancel=cancel)
    report.baseline = base
    if base.status != "completed":
        report.checks.append(
            Check("run", "-", False, f"the baseline run did not complete: {base.status}")
        )
        return report
    comparison = compare_runs(runner.db, base.id, candidate.id)
    report.comparison = comparison
    shared = [n for n in candidate.evaluators if n in base.evaluators]
    for name in quality_metrics(shared):
        failed = _errored(candidate, name, "candidate") or _errored(base, name, "baseline")
        if failed:
            report.checks.append(
                Check("regression", name, False, f"{name} — {failed}", None, -max_regression)
            )
            continue
        m = comparison.metrics.get(name)
        if m is None:  # not applicable to any paired item: nothing to compare
            continue
        delta = m.stats.delta or 0.0
        worse = delta < -max_regression
        noise = require_significance and not m.significant
        ok = not worse or noise
        p = m.stats.p_value if m.stats.p_value is not None else 1.0
        detail = (
            f"{name} {m.stats.mean_b:.3f} vs {m.stats.mean_a:.3f} (Δ {delta:+.3f}, "
            f"95% CI {m.stats.ci_low:+.3f}…{m.stats.ci_high:+.3f}, p={p:.3f}; "
            f"{m.stats.wins} better, {m.stats.losses} worse, {m.stats.ties} same)"
        )
        if worse and noise:
            detail += " — a drop, but not significant"
        elif worse:
            detail += f" — drop beyond {max_regression:g}"
        report.checks.append(Check("regression", name, ok, detail, delta, -max_regression))
    return report
