"""Small, deterministic statistics for evaluation: confidence intervals and paired tests.

Bootstrap resampling uses a fixed seed, so the same scores always give the same interval
(runs and CI gates are reproducible). numpy only; no scipy.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

RESAMPLES = 2000
SEED = 20240601
MIN_BOOTSTRAP = 20  # paired items needed before the bootstrap p-value is used


@dataclass
class Interval:
    mean: float | None
    low: float | None
    high: float | None
    n: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def mean_ci(values: Sequence[float], confidence: float = 0.95) -> Interval:
    """Mean with a percentile-bootstrap confidence interval (exact for n < 2: no interval)."""
    n = len(values)
    if n == 0:
        return Interval(None, None, None, 0)
    arr = np.asarray(values, dtype=np.float64)
    mean = float(arr.mean())
    if n < 2 or float(arr.min()) == float(arr.max()):
        return Interval(round(mean, 6), round(mean, 6), round(mean, 6), n)
    rng = np.random.default_rng(SEED)
    means = arr[rng.integers(0, n, size=(RESAMPLES, n))].mean(axis=1)
    alpha = (1 - confidence) / 2
    low, high = np.quantile(means, [alpha, 1 - alpha])
    return Interval(round(mean, 6), round(float(low), 6), round(float(high), 6), n)


def percentile(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    return round(float(np.percentile(np.asarray(values, dtype=np.float64), q * 100)), 3)


@dataclass
class Paired:
    """Candidate (b) minus baseline (a) over the items both runs scored."""

    n: int
    mean_a: float | None
    mean_b: float | None
    delta: float | None
    ci_low: float | None
    ci_high: float | None
    wins: int  # b better
    losses: int  # b worse
    ties: int
    p_bootstrap: float | None  # two-sided, paired bootstrap of the mean difference
    p_sign: float | None  # two-sided exact sign test on wins vs losses

    @property
    def p_value(self) -> float | None:
        """The test to trust: the bootstrap from ``MIN_BOOTSTRAP`` pairs on; below that its
        intervals are too optimistic, so the exact sign test decides."""
        return self.p_bootstrap if self.n >= MIN_BOOTSTRAP else self.p_sign

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "p_value": self.p_value}


def sign_test(wins: int, losses: int) -> float | None:
    """Two-sided exact binomial test of wins vs losses (ties dropped)."""
    n = wins + losses
    if n == 0:
        return None
    k = min(wins, losses)
    if n > 1000:  # normal approximation with continuity correction
        z = (abs(wins - losses) - 1) / math.sqrt(n)
        return min(1.0, math.erfc(max(z, 0.0) / math.sqrt(2)))
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2**n
    return min(1.0, 2 * tail)


def paired(a: Sequence[float], b: Sequence[float], *, tolerance: float = 1e-9) -> Paired:
    """Paired comparison of two equally long score lists (item i in both)."""
    if len(a) != len(b):
        raise ValueError("paired samples must have the same length")
    n = len(a)
    if n == 0:
        return Paired(0, None, None, None, None, None, 0, 0, 0, None, None)
    xa = np.asarray(a, dtype=np.float64)
    xb = np.asarray(b, dtype=np.float64)
    diff = xb - xa
    wins = int((diff > tolerance).sum())
    losses = int((diff < -tolerance).sum())
    ties = n - wins - losses
    delta = float(diff.mean())
    if wins == losses == 0:
        low = high = delta
        p_boot: float | None = 1.0
    else:
        rng = np.random.default_rng(SEED)
        means = diff[rng.integers(0, n, size=(RESAMPLES, n))].mean(axis=1)
        low, high = (float(x) for x in np.quantile(means, [0.025, 0.975]))
        # share of resampled means on the other side of 0, doubled (percentile bootstrap)
        below = float((means <= 0).mean())
        above = float((means >= 0).mean())
        p_boot = min(1.0, 2 * min(below, above))
    return Paired(
        n=n,
        mean_a=round(float(xa.mean()), 6),
        mean_b=round(float(xb.mean()), 6),
        delta=round(delta, 6),
        ci_low=round(low, 6),
        ci_high=round(high, 6),
        wins=wins,
        losses=losses,
        ties=ties,
        p_bootstrap=round(p_boot, 6) if p_boot is not None else None,
        p_sign=sign_test(wins, losses),
    )
