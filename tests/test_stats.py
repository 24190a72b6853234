"""Hand-worked cases for each statistic in zsbench.report.stats."""

from __future__ import annotations

import math

import numpy as np
import pytest

from zsbench.report import stats


def test_mcnemar_exact_on_a_known_table() -> None:
    # b = 1, c = 9 discordant pairs: p = 2 * P(X <= 1), X ~ Bin(10, 1/2) = 2 * 11 / 1024.
    assert stats.mcnemar_exact_p(1, 9) == pytest.approx(22 / 1024)
    assert stats.mcnemar_exact_p(9, 1) == pytest.approx(22 / 1024)
    # b = c: p is capped at 1; no discordant pairs: 1.
    assert stats.mcnemar_exact_p(5, 5) == 1.0 and stats.mcnemar_exact_p(0, 0) == 1.0
    # b = 0, c = 6: 2 / 64.
    assert stats.mcnemar_exact_p(0, 6) == pytest.approx(2 / 64)


def test_mcnemar_counts_the_2x2_table_from_per_sample_correctness() -> None:
    a = np.array([1, 1, 1, 0, 0, 1, 1, 0], dtype=bool)
    b = np.array([1, 0, 0, 0, 1, 0, 1, 0], dtype=bool)
    result = stats.mcnemar(a, b)
    assert (result.both, result.only_a, result.only_b, result.neither) == (2, 3, 1, 2)
    assert result.p_value == pytest.approx(2 * (1 + 4) / 16)  # 2 * P(X <= 1), X ~ Bin(4, 1/2)
    with pytest.raises(ValueError):
        stats.mcnemar(a, b[:-1])


def test_paired_bootstrap_ci_contains_the_true_difference_on_a_simulated_pair() -> None:
    rng = np.random.default_rng(1)
    n = 4000
    # Shared difficulty makes the pair correlated, as two methods on one test set are.
    easy = rng.random(n) < 0.5
    a = np.where(easy, rng.random(n) < 0.95, rng.random(n) < 0.55)  # accuracy 0.75
    b = np.where(easy, rng.random(n) < 0.90, rng.random(n) < 0.40)  # accuracy 0.65
    interval = stats.paired_bootstrap_difference(a, b, np.random.default_rng(2), resamples=1000)
    assert interval.contains(0.10)
    assert not interval.contains(0.0)
    assert interval.estimate == pytest.approx(a.mean() - b.mean())
    assert 0.0 < interval.high - interval.low < 0.05
    # Identical classifiers: a zero-width interval at 0.
    same = stats.paired_bootstrap_difference(a, a, np.random.default_rng(3), resamples=200)
    assert same.low == same.high == 0.0


def test_holm_on_known_p_values() -> None:
    # sorted 0.01, 0.02, 0.03, 0.04 -> 4*0.01, 3*0.02, 2*0.03, 1*0.04 made monotone: .04 .06 .06 .06
    adjusted = stats.holm([0.03, 0.01, 0.04, 0.02])
    assert adjusted == pytest.approx([0.06, 0.04, 0.06, 0.06])
    assert stats.holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])
    with_nan = stats.holm([0.01, math.nan, 0.04])
    assert with_nan[0] == pytest.approx(0.02) and math.isnan(with_nan[1]) and with_nan[2] == pytest.approx(0.04)


def test_sign_flip_exact_on_a_known_case() -> None:
    # All 5 differences positive: only the all-plus and all-minus patterns are as extreme -> 2 / 32.
    assert stats.sign_flip_p(np.array([0.1, 0.2, 0.3, 0.4, 0.5])) == pytest.approx(2 / 32)
    # d = (1, -1): observed mean 0, so every pattern is at least as extreme.
    assert stats.sign_flip_p(np.array([1.0, -1.0])) == 1.0
    # (3, 1, -1): |mean| over 8 patterns = 1,1/3,5/3,1,1,5/3,1/3,1; observed 1 -> 6/8 at least as extreme.
    assert stats.sign_flip_p(np.array([3.0, 1.0, -1.0])) == pytest.approx(6 / 8)
    assert math.isnan(stats.sign_flip_p(np.array([])))


def test_wilcoxon_on_a_known_case() -> None:
    # Six positive differences with distinct ranks: exact two-sided p = 2 / 64.
    assert stats.wilcoxon_p(np.array([0.5, 1.0, 1.5, 2.0, 2.5, 3.0])) == pytest.approx(2 / 64)
    # W+ = 1 + 2 = 3 of ranks 1..4 (sum 10); P(W+ <= 3) = 5/16 (subsets {},{1},{2},{3},{1,2}) -> p = 10/16.
    assert stats.wilcoxon_p(np.array([0.1, 0.2, -0.3, -0.4])) == pytest.approx(10 / 16)
    assert math.isnan(stats.wilcoxon_p(np.zeros(3)))


def test_spread_keeps_seeds_and_splits_apart() -> None:
    result = stats.spread({"smie:1": [0.5, 0.7], "smie:2": [0.1, 0.3], "smie:3": [0.3]})
    assert result.over_seeds == pytest.approx(np.std([0.5, 0.7], ddof=1))  # mean of two equal within-split stds
    assert result.over_splits == pytest.approx(np.std([0.6, 0.2, 0.3], ddof=1))
    assert (result.splits, result.runs) == (3, 5)
    one = stats.spread({"synse:55/5": [0.4]})
    assert math.isnan(one.over_seeds) and math.isnan(one.over_splits)
