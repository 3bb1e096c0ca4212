"""Log-spaced latency bins: percentiles from counts, with a stated error bound.

SQLite has no percentile function, and sorting a million latencies per dashboard load takes
seconds. So every trace's latency (and time to first token) is counted at write time in a
bin of a logarithmic histogram, per hour and per day (``latency_histograms``), and a
percentile is read from cumulative bin counts in SQL.

A value ``x > MIN_MS`` falls in bin ``i = ceil(log_γ x)``, which covers ``(γ^(i-1), γ^i]``.
Reporting that bin as ``2·γ^i / (γ + 1)`` is off by at most ``ALPHA = (γ - 1) / (γ + 1)``
relative to *any* value in the bin (the DDSketch construction, Masson et al., VLDB 2019).
The bin that holds the nearest-rank percentile is found exactly from the counts, so:

    every percentile read from the rollups is within ±2 % of the exact nearest-rank
    percentile of the same traces (values at or below 0.01 ms are reported as 0).

Bins are plain integers, so histograms of any hours, days, releases and models merge by
adding counts.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

ALPHA = 0.02
GAMMA = (1 + ALPHA) / (1 - ALPHA)
_LOG_GAMMA = math.log(GAMMA)
MIN_MS = 0.01
ZERO_BIN = math.ceil(math.log(MIN_MS) / _LOG_GAMMA) - 1
QUANTILES = {"p50": 500, "p95": 950, "p99": 990}  # per mille: integer arithmetic in SQL


def bin_of(ms: float) -> int:
    """The bin holding ``ms`` milliseconds."""
    if ms <= MIN_MS:
        return ZERO_BIN
    return math.ceil(math.log(ms) / _LOG_GAMMA)


def bin_value(index: int) -> float:
    """The value reported for a bin: within ``ALPHA`` of everything the bin holds."""
    if index <= ZERO_BIN:
        return 0.0
    return 2 * GAMMA**index / (GAMMA + 1)


def nearest_rank(values: Iterable[float], permille: int) -> float | None:
    """The exact nearest-rank percentile: the smallest value with at least q·n values at or
    below it (what the raw-window SQL and the histograms both estimate)."""
    ordered = sorted(values)
    n = len(ordered)
    if not n:
        return None
    rank = -(-permille * n // 1000)  # ceil without floating point
    return ordered[max(rank, 1) - 1]


def percentile_of_counts(counts: Mapping[int, int], permille: int) -> float | None:
    """The percentile of a histogram given as ``{bin: count}``."""
    total = sum(counts.values())
    if not total:
        return None
    cum = 0
    for index in sorted(counts):
        cum += counts[index]
        if cum * 1000 >= permille * total:
            return bin_value(index)
    return bin_value(max(counts))
