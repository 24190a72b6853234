"""Paired comparisons of methods on runs that share (dataset, split, seed, protocol).

Per pair of methods and per shared run (a *unit*): the exact McNemar test on the per-sample ZSL predictions and a
paired bootstrap CI of the ZSL accuracy difference (both need the ``.npz`` saved beside each record). Across units:
the exact sign-flip test and the Wilcoxon signed-rank test of the per-unit differences of a record metric.
Holm adjusts each family of p-values (all per-unit McNemar tests; the across-unit tests of all pairs). Each
method's spread over seeds and over random splits is reported separately.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from zsbench.errors import UsageError
from zsbench.report import stats
from zsbench.report.predictions import aligned_correctness, has_predictions, load_predictions
from zsbench.report.selection import Arm, choose_arm
from zsbench.split_settings import is_random, setting_of

UNIT_KEYS = ["dataset", "split", "seed"]


@dataclass
class UnitComparison:
    """A and B on one (dataset, split, seed). Per-sample fields are None without both ``.npz`` files."""

    dataset: str
    split: str
    seed: int
    metric_a: float
    metric_b: float
    samples: int | None = None
    zsl_a: float | None = None
    zsl_b: float | None = None
    difference: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    only_a: int | None = None
    only_b: int | None = None
    mcnemar_p: float | None = None
    mcnemar_p_holm: float | None = None


@dataclass
class PairComparison:
    a: str
    b: str
    metric: str
    units: list[UnitComparison] = field(default_factory=list)
    mean_difference: float = math.nan
    sign_flip_p: float = math.nan
    wilcoxon_p: float = math.nan
    sign_flip_p_holm: float = math.nan
    wilcoxon_p_holm: float = math.nan


@dataclass
class SpreadRow:
    """One method on one split group: a fixed split alone, or all random splits of one setting and size."""

    method: str
    dataset: str
    group: str
    metric: str
    mean: float
    std_over_seeds: float
    std_over_splits: float
    splits: int
    runs: int


@dataclass
class Comparison:
    protocol: str
    metric: str
    confidence: float
    resamples: int
    arms: list[Arm]
    pairs: list[PairComparison]
    spreads: list[SpreadRow]
    missing_predictions: list[str]

    def to_dict(self) -> dict[str, Any]:
        return _finite(asdict(self))


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def split_group(split: str, unseen_count: int) -> str:
    """Random splits of one setting and size form one group (``smie ?/5``); a fixed split is its own group."""
    setting = setting_of(split)
    if is_random(setting):
        return f"{setting} random, {unseen_count} unseen"
    return split


def _unit(row_a: pd.Series, row_b: pd.Series, metric: str, rng: np.random.Generator, resamples: int, confidence: float) -> UnitComparison:  # fmt: skip
    unit = UnitComparison(
        str(row_a["dataset"]), str(row_a["split"]), int(row_a["seed"]), float(row_a[metric]), float(row_b[metric])
    )
    path_a, path_b = Path(row_a["path"]), Path(row_b["path"])
    if not (has_predictions(path_a) and has_predictions(path_b)):
        return unit
    correct_a, correct_b = aligned_correctness(load_predictions(path_a), load_predictions(path_b))
    test = stats.mcnemar(correct_a, correct_b)
    interval = stats.paired_bootstrap_difference(correct_a, correct_b, rng, resamples, confidence)
    unit.samples = len(correct_a)
    unit.zsl_a, unit.zsl_b = float(correct_a.mean()), float(correct_b.mean())
    unit.difference, unit.ci_low, unit.ci_high = interval.estimate, interval.low, interval.high
    unit.only_a, unit.only_b, unit.mcnemar_p = test.only_a, test.only_b, test.p_value
    return unit


def compare(
    runs: pd.DataFrame,
    specs: list[str],
    protocol: str = "strict",
    metric: str = "zsl_top1",
    seed: int = 0,
    resamples: int = 2000,
    confidence: float = 0.95,
) -> Comparison:
    """Compare every pair of the methods named by ``specs`` (see :mod:`zsbench.report.selection`)."""
    if len(specs) < 2:
        raise UsageError("compare needs at least two --method options")
    if metric not in runs.columns:
        raise UsageError(f"unknown metric {metric!r}")
    arms = [choose_arm(runs, spec, protocol) for spec in specs]
    if len({(a.method, a.variant) for a in arms}) < len(arms):
        raise UsageError("the same method variant is named twice")
    rng = np.random.default_rng(seed)
    chosen = {
        arm.label: runs[(runs["method"] == arm.method) & (runs["variant"] == arm.variant) & (runs["protocol"] == protocol)]
        for arm in arms
    }  # fmt: skip
    pairs: list[PairComparison] = []
    missing: set[str] = set()
    for arm_a, arm_b in itertools.combinations(arms, 2):
        merged = chosen[arm_a.label].merge(chosen[arm_b.label], on=UNIT_KEYS, suffixes=("_a", "_b"))
        pair = PairComparison(arm_a.label, arm_b.label, metric)
        for _, row in merged.sort_values(UNIT_KEYS).iterrows():
            row_a = pd.Series({k: row[f"{k}_a"] if f"{k}_a" in row else row[k] for k in ["path", metric, *UNIT_KEYS]})
            row_b = pd.Series({k: row[f"{k}_b"] if f"{k}_b" in row else row[k] for k in ["path", metric, *UNIT_KEYS]})
            unit = _unit(row_a, row_b, metric, rng, resamples, confidence)
            if unit.mcnemar_p is None:
                missing.update(p for p in (row_a["path"], row_b["path"]) if not has_predictions(Path(p)))
            pair.units.append(unit)
        differences = np.array([u.metric_a - u.metric_b for u in pair.units], dtype=float)
        differences = differences[np.isfinite(differences)]
        if len(differences):
            pair.mean_difference = float(differences.mean())
            pair.sign_flip_p = stats.sign_flip_p(differences, rng)
            pair.wilcoxon_p = stats.wilcoxon_p(differences)
        pairs.append(pair)
    _adjust(pairs)
    return Comparison(
        protocol, metric, confidence, resamples, arms, pairs, _spreads(chosen, metric), sorted(str(p) for p in missing)
    )


def _adjust(pairs: list[PairComparison]) -> None:
    units = [u for p in pairs for u in p.units if u.mcnemar_p is not None]
    for unit, adjusted in zip(units, stats.holm([u.mcnemar_p for u in units]), strict=True):  # type: ignore[misc]
        unit.mcnemar_p_holm = float(adjusted)
    for name in ("sign_flip_p", "wilcoxon_p"):
        values = stats.holm([getattr(p, name) for p in pairs])
        for pair, adjusted in zip(pairs, values, strict=True):
            setattr(pair, f"{name}_holm", float(adjusted))


def _spreads(chosen: dict[str, pd.DataFrame], metric: str) -> list[SpreadRow]:
    rows = []
    for label, runs in chosen.items():
        runs = runs.assign(
            group=[split_group(s, int(u)) for s, u in zip(runs["split"], runs["unseen_count"], strict=True)]
        )
        for (dataset, group), part in runs.groupby(["dataset", "group"], sort=True):
            values = {str(s): list(p[metric].dropna().astype(float)) for s, p in part.groupby("split")}
            spread = stats.spread(values)
            rows.append(
                SpreadRow(label, str(dataset), str(group), metric, spread.mean, spread.over_seeds,
                          spread.over_splits, spread.splits, spread.runs)
            )  # fmt: skip
    return rows
