"""Paired statistics for comparing two methods: McNemar, paired bootstrap, sign-flip, Wilcoxon, Holm.

Every function takes plain arrays and returns plain numbers; nothing here reads records or prints.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class McNemar:
    """The 2×2 table of two classifiers on the same samples and the exact two-sided McNemar p-value.

    ``both`` right, ``only_a`` right (b), ``only_b`` right (c), ``neither`` right; only b and c carry information.
    """

    both: int
    only_a: int
    only_b: int
    neither: int
    p_value: float


def mcnemar_exact_p(only_a: int, only_b: int) -> float:
    """Exact two-sided McNemar p: the discordant pairs are Binomial(b + c, 1/2) under the null.

    p = min(1, 2 · P(X ≤ min(b, c))); with no discordant pairs there is no evidence either way (p = 1).
    """
    from scipy import stats

    discordant = only_a + only_b
    if discordant == 0:
        return 1.0
    return float(min(1.0, 2.0 * stats.binom.cdf(min(only_a, only_b), discordant, 0.5)))


def mcnemar(correct_a: np.ndarray, correct_b: np.ndarray) -> McNemar:
    """McNemar's exact test on per-sample correctness (boolean arrays over the same samples, same order)."""
    a, b = np.asarray(correct_a, dtype=bool), np.asarray(correct_b, dtype=bool)
    if a.shape != b.shape:
        raise ValueError(f"paired arrays differ in shape: {a.shape} vs {b.shape}")
    only_a, only_b = int((a & ~b).sum()), int((~a & b).sum())
    return McNemar(int((a & b).sum()), only_a, only_b, int((~a & ~b).sum()), mcnemar_exact_p(only_a, only_b))


@dataclass(frozen=True)
class Interval:
    """A point estimate with a confidence interval [low, high] at level ``confidence``."""

    estimate: float
    low: float
    high: float
    confidence: float

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high


def paired_bootstrap_difference(
    correct_a: np.ndarray,
    correct_b: np.ndarray,
    rng: np.random.Generator,
    resamples: int = 2000,
    confidence: float = 0.95,
) -> Interval:
    """Accuracy(A) − accuracy(B) with a percentile CI from resampling samples (the pairs stay together)."""
    a, b = np.asarray(correct_a, dtype=float), np.asarray(correct_b, dtype=float)
    if a.shape != b.shape or a.ndim != 1 or len(a) == 0:
        raise ValueError("paired bootstrap needs two non-empty 1-D arrays of the same length")
    difference = a - b
    # Resample in blocks so memory stays bounded for large test sets.
    means = np.empty(resamples)
    block = max(1, 2_000_000 // len(difference))
    for start in range(0, resamples, block):
        stop = min(resamples, start + block)
        picks = rng.integers(0, len(difference), size=(stop - start, len(difference)))
        means[start:stop] = difference[picks].mean(axis=1)
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(means, [tail, 1.0 - tail])
    return Interval(float(difference.mean()), float(low), float(high), confidence)


def sign_flip_p(differences: np.ndarray, rng: np.random.Generator | None = None, exact_up_to: int = 16) -> float:
    """Two-sided paired permutation test of mean(differences) = 0, flipping the sign of each difference.

    Exact (all 2^n sign patterns) for n ≤ ``exact_up_to``; otherwise 20,000 random patterns (needs ``rng``).
    Zero differences stay in (they flip to themselves). With n = 0 the p-value is NaN.
    """
    d = np.asarray(differences, dtype=float)
    n = len(d)
    if n == 0:
        return math.nan
    observed = abs(d.mean())
    if n <= exact_up_to:
        signs = np.array(list(itertools.product((1.0, -1.0), repeat=n)))
    else:
        if rng is None:
            raise ValueError(f"{n} differences: pass rng for a Monte Carlo sign-flip test")
        signs = rng.choice((1.0, -1.0), size=(20_000, n))
    statistics = np.abs(signs @ d / n)
    # A tolerance so that patterns equal to the observed one (up to rounding) count as at least as extreme.
    return float(np.mean(statistics >= observed - 1e-12 * max(1.0, observed)))


def wilcoxon_p(differences: np.ndarray) -> float:
    """Two-sided Wilcoxon signed-rank p (zero differences dropped; exact when scipy can). NaN when all are zero."""
    from scipy import stats

    d = np.asarray(differences, dtype=float)
    d = d[d != 0]
    if len(d) == 0:
        return math.nan
    return float(stats.wilcoxon(d, alternative="two-sided").pvalue)


def holm(p_values: list[float] | np.ndarray) -> np.ndarray:
    """Holm step-down adjusted p-values (same order as given); NaNs are kept and not counted."""
    p = np.asarray(p_values, dtype=float)
    adjusted = np.full_like(p, np.nan)
    valid = np.flatnonzero(np.isfinite(p))
    m = len(valid)
    order = valid[np.argsort(p[valid], kind="stable")]
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, (m - rank) * p[index])
        adjusted[index] = min(1.0, running)
    return adjusted


@dataclass(frozen=True)
class Spread:
    """Two sources of variation of a metric, kept apart.

    ``over_seeds``: the mean over splits of the sample std over seeds within one split (NaN when no split has
    two seeds). ``over_splits``: the sample std over splits of each split's mean over seeds (NaN for one split).
    """

    mean: float
    over_seeds: float
    over_splits: float
    splits: int
    runs: int


def spread(values: dict[str, list[float]]) -> Spread:
    """``values`` maps a split name to that split's values over seeds."""
    per_split = {name: np.asarray(v, dtype=float) for name, v in values.items() if len(v)}
    if not per_split:
        return Spread(math.nan, math.nan, math.nan, 0, 0)
    within = [float(v.std(ddof=1)) for v in per_split.values() if len(v) > 1]
    means = np.array([v.mean() for v in per_split.values()])
    return Spread(
        mean=float(np.concatenate(list(per_split.values())).mean()),
        over_seeds=float(np.mean(within)) if within else math.nan,
        over_splits=float(means.std(ddof=1)) if len(means) > 1 else math.nan,
        splits=len(per_split),
        runs=sum(len(v) for v in per_split.values()),
    )
