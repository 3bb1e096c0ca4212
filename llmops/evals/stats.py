"""Small, deterministic statistics for evaluation: confidence intervals and paired tests.

Bootstrap resampling uses a fixed seed, so the same scores always give the same interval
(runs and CI gates are reproducible). numpy only; no scipy.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from llmops.types import JSONDict

RESAMPLES = 2000
SEED = 20240601
MIN_BOOTSTRAP = 20  # paired items needed before the bootstrap p-value is used


@dataclass
class Interval:
    mean: float | None
    low: float | None
    high: float | None
    n: int

    def as_dict(self) -> JSONDict:
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


def wilson(successes: int, n: int, z: float = 1.96) -> Interval:
    """A rate ``successes/n`` with its Wilson score interval (95% by default): unlike the
    normal approximation it stays inside [0, 1] and is not empty at 0 or n successes."""
    if n <= 0:
        return Interval(None, None, None, 0)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return Interval(round(p, 6), round(max(0.0, centre - half), 6),
                    round(min(1.0, centre + half), 6), n)  # fmt: skip


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

    def as_dict(self) -> JSONDict:
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


# -- two independent samples (release comparisons: production vs canary) ------------------------
@dataclass
class Difference:
    """``b`` minus ``a`` with a 95 % confidence interval and a two-sided p-value."""

    a: float | None
    b: float | None
    diff: float | None
    low: float | None
    high: float | None
    p_value: float | None
    n_a: int
    n_b: int

    def as_dict(self) -> JSONDict:
        return asdict(self)


def _normal_p(z: float) -> float:
    """Two-sided p-value of a standard normal statistic."""
    return min(1.0, math.erfc(abs(z) / math.sqrt(2)))


def two_proportions(x_a: int, n_a: int, x_b: int, n_b: int) -> Difference:
    """Rates ``x/n`` compared with the two-proportion z-test (pooled variance for the test,
    unpooled for the Wald interval of the difference)."""
    if n_a == 0 or n_b == 0:
        pa = x_a / n_a if n_a else None
        pb = x_b / n_b if n_b else None
        return Difference(pa, pb, None, None, None, None, n_a, n_b)
    pa, pb = x_a / n_a, x_b / n_b
    pooled = (x_a + x_b) / (n_a + n_b)
    se0 = math.sqrt(pooled * (1 - pooled) * (1 / n_a + 1 / n_b))
    p = 1.0 if se0 == 0 else _normal_p((pb - pa) / se0)
    se = math.sqrt(pa * (1 - pa) / n_a + pb * (1 - pb) / n_b)
    d = pb - pa
    return Difference(pa, pb, d, d - 1.96 * se, d + 1.96 * se, p, n_a, n_b)


def mann_whitney(a: Sequence[float], b: Sequence[float]) -> float | None:
    """Two-sided p-value of the Mann-Whitney U test (normal approximation, tie-corrected,
    continuity-corrected): do the two samples come from the same distribution?"""
    n_a, n_b = len(a), len(b)
    if n_a == 0 or n_b == 0:
        return None
    values = np.concatenate([np.asarray(a, np.float64), np.asarray(b, np.float64)])
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    ranks = (np.cumsum(counts) - (counts - 1) / 2.0)[inverse]
    u = float(ranks[:n_a].sum()) - n_a * (n_a + 1) / 2
    n = n_a + n_b
    ties = float((counts**3 - counts).sum())
    var = n_a * n_b / 12 * ((n + 1) - ties / (n * (n - 1))) if n > 1 else 0.0
    if var <= 0:
        return 1.0
    mu = n_a * n_b / 2
    z = (abs(u - mu) - 0.5) / math.sqrt(var)
    return _normal_p(max(z, 0.0))


def quantile_difference(
    a: Sequence[float], b: Sequence[float], q: float, *, resamples: int = 500, cap: int = 5000
) -> Difference:
    """The difference of a quantile (``q`` in [0, 1]) between two samples, a bootstrap
    interval (each sample resampled on its own, seeded), and the Mann-Whitney p-value."""
    if not a or not b:
        qa = percentile(a, q) if a else None
        qb = percentile(b, q) if b else None
        return Difference(qa, qb, None, None, None, None, len(a), len(b))
    xa = np.asarray(a[:cap], np.float64)
    xb = np.asarray(b[:cap], np.float64)
    qa, qb = float(np.quantile(xa, q)), float(np.quantile(xb, q))
    rng = np.random.default_rng(SEED)
    da = np.quantile(xa[rng.integers(0, len(xa), size=(resamples, len(xa)))], q, axis=1)
    db = np.quantile(xb[rng.integers(0, len(xb), size=(resamples, len(xb)))], q, axis=1)
    low, high = (float(x) for x in np.quantile(db - da, [0.025, 0.975]))
    return Difference(round(qa, 3), round(qb, 3), round(qb - qa, 3), round(low, 3),
                      round(high, 3), mann_whitney(a, b), len(a), len(b))  # fmt: skip


def welch(a: Sequence[float], b: Sequence[float]) -> Difference:
    """Difference of means with Welch's unequal-variance z-approximation."""
    n_a, n_b = len(a), len(b)
    if n_a < 2 or n_b < 2:
        ma = float(np.mean(a)) if n_a else None
        mb = float(np.mean(b)) if n_b else None
        return Difference(ma, mb, None, None, None, None, n_a, n_b)
    xa, xb = np.asarray(a, np.float64), np.asarray(b, np.float64)
    ma, mb = float(xa.mean()), float(xb.mean())
    se = math.sqrt(float(xa.var(ddof=1)) / n_a + float(xb.var(ddof=1)) / n_b)
    d = mb - ma
    p = (1.0 if d == 0 else 0.0) if se == 0 else _normal_p(d / se)
    return Difference(ma, mb, d, d - 1.96 * se, d + 1.96 * se, p, n_a, n_b)


# -- agreement between raters (human review) ------------------------------------------------------
def cohen_kappa(a: Sequence[Hashable], b: Sequence[Hashable]) -> float | None:
    """Cohen's kappa of two raters over the same items (None when undefined: no items, or
    chance agreement is total)."""
    if len(a) != len(b):
        raise ValueError("both raters must label the same items")
    n = len(a)
    if n == 0:
        return None
    labels = sorted(set(a) | set(b), key=str)
    observed = sum(x == y for x, y in zip(a, b, strict=True)) / n
    expected = sum((list(a).count(c) / n) * (list(b).count(c) / n) for c in labels)
    if expected >= 1.0:
        return None
    return (observed - expected) / (1 - expected)


def fleiss_kappa(counts: Sequence[Sequence[int]]) -> float | None:
    """Fleiss' kappa from an items × categories table of how many raters chose each
    category; every item needs the same number of raters (≥ 2)."""
    table = np.asarray(counts, dtype=np.float64)
    if table.ndim != 2 or table.shape[0] == 0:
        return None
    raters = table.sum(axis=1)
    if raters.min() < 2 or raters.min() != raters.max():
        raise ValueError("Fleiss' kappa needs the same number (≥ 2) of raters per item")
    m = float(raters[0])
    p_cat = table.sum(axis=0) / table.sum()
    p_item = ((table * (table - 1)).sum(axis=1)) / (m * (m - 1))
    p_bar, p_e = float(p_item.mean()), float((p_cat**2).sum())
    if p_e >= 1.0:
        return None
    return (p_bar - p_e) / (1 - p_e)
