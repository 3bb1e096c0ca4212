from __future__ import annotations

import pytest

from llmops.evals.stats import mean_ci, paired, percentile, sign_test


def test_mean_ci_is_deterministic_and_brackets_the_mean() -> None:
    values = [1.0] * 30 + [0.0] * 10
    ci = mean_ci(values)
    assert ci.mean == 0.75 and ci.n == 40
    assert ci.low is not None and ci.high is not None
    assert 0.6 < ci.low < 0.75 < ci.high < 0.9
    assert mean_ci(values) == ci  # fixed seed
    assert mean_ci([]).mean is None
    assert mean_ci([0.4]).low == mean_ci([0.4]).high == 0.4
    wide, narrow = mean_ci([1.0, 0.0] * 5), mean_ci([1.0, 0.0] * 200)
    assert (wide.high - wide.low) > 2 * (narrow.high - narrow.low)  # type: ignore[operator]


def test_sign_test_exact_values() -> None:
    assert sign_test(0, 0) is None
    assert sign_test(5, 5) == 1.0
    assert sign_test(10, 0) == pytest.approx(2 / 1024)
    assert sign_test(8, 2) == pytest.approx(0.109375)
    assert sign_test(700, 400) < 1e-6  # normal approximation branch


def test_paired_counts_wins_losses_ties_and_detects_a_real_drop() -> None:
    a = [1.0] * 40
    b = [1.0] * 25 + [0.0] * 15
    p = paired(a, b)
    assert (p.wins, p.losses, p.ties) == (0, 15, 25)
    assert p.delta == pytest.approx(-0.375)
    assert p.ci_high is not None and p.ci_high < 0
    assert p.p_bootstrap is not None and p.p_bootstrap < 0.01
    assert p.p_sign is not None and p.p_sign < 0.001
    assert p.p_value == p.p_bootstrap  # 40 pairs: the bootstrap decides
    tiny = paired([1.0] * 8, [0.0] * 4 + [1.0] * 4)
    assert tiny.p_value == tiny.p_sign == pytest.approx(0.125)

    noise = paired([1.0, 0.0] * 10, [0.0, 1.0] * 10)
    assert noise.delta == 0 and noise.p_bootstrap is not None and noise.p_bootstrap > 0.5
    same = paired([0.5, 0.7], [0.5, 0.7])
    assert same.ties == 2 and same.p_bootstrap == 1.0 and same.p_sign is None
    with pytest.raises(ValueError):
        paired([1.0], [])


def test_percentile() -> None:
    assert percentile([], 0.5) is None
    assert percentile([10.0, 20.0, 30.0, 40.0], 0.5) == 25.0


def test_wilson_interval_known_values() -> None:
    from llmops.evals.stats import wilson

    half = wilson(5, 10)
    assert (half.mean, half.low, half.high) == (0.5, pytest.approx(0.2366, abs=1e-4),
                                                pytest.approx(0.7634, abs=1e-4))  # fmt: skip
    none = wilson(0, 10)
    assert none.low == 0.0 and none.high == pytest.approx(0.2775, abs=1e-4)
    assert wilson(10, 10).high == 1.0 and wilson(10, 10).low == pytest.approx(0.7225, abs=1e-4)
    assert wilson(0, 0).mean is None
