"""The leaks view: per method (and variant), strict − paper for each metric, paired by seed.

A paper-protocol run is paired with the strict run of the same method, variant settings, dataset, split and
seed; the cell is the mean ± std over seeds of strict − paper. Negative values mean the published protocol's
quirks inflate the number.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from zsbench.report.grid import Grid, Label, Number
from zsbench.report.paper import METRIC_TITLES, group_titles, metrics_for, split_order

PAIR_KEYS = ["method", "variant", "dataset", "split", "seed"]


def paired_differences(runs: pd.DataFrame, metrics: tuple[str, ...]) -> pd.DataFrame:
    """One row per (method, variant, dataset, split, seed) that has both a strict and a paper run."""
    strict = runs[runs["protocol"] == "strict"]
    paper = runs[runs["protocol"] == "paper"]
    if strict.empty or paper.empty:
        return pd.DataFrame(columns=[*PAIR_KEYS, "quirks", "settings", "unseen_count", *metrics])
    merged = strict.merge(paper, on=PAIR_KEYS, suffixes=("_strict", "_paper"))
    out = merged[PAIR_KEYS].copy()
    out["quirks"] = merged["quirks_paper"]
    out["settings"] = merged["settings_strict"]
    out["unseen_count"] = merged["unseen_count_strict"]
    for metric in metrics:
        out[metric] = merged[f"{metric}_strict"] - merged[f"{metric}_paper"]
    return out


def leaks_grid(runs: pd.DataFrame, ausuc: bool = True) -> Grid:
    metrics = metrics_for(ausuc)
    differences = paired_differences(runs, metrics)
    if differences.empty:
        return Grid("strict − paper", "method", [], [], notes=["No method has both strict and paper runs."])
    settings = [tuple(s) for s in differences["settings"]]
    common = [item for item in settings[0] if all(item in other for other in settings[1:])]
    differences["label"] = [", ".join(i for i in row if i not in common) or "common" for row in settings]
    pairs = split_order(differences)
    columns = [METRIC_TITLES[m] for _ in pairs for m in metrics]
    grid = Grid("strict − paper", "method", [(t, len(metrics)) for t in group_titles(pairs)], columns)
    letters: dict[str, str] = {}
    counts = differences.groupby(["method", "label", "dataset", "split"]).size()
    usual_n = int(counts.mode().iloc[0]) if len(counts) else 0
    for (method, variant), group in differences.groupby(["method", "label"], sort=True):
        line: list[Number] = []
        for dataset, split in pairs:
            cell = group[(group["dataset"] == dataset) & (group["split"] == split)]
            for metric in metrics:
                values = 100 * cell[metric].to_numpy(dtype=float)
                values = values[np.isfinite(values)]
                mean = float(values.mean()) if len(values) else math.nan
                std = float(values.std(ddof=1)) if len(values) > 1 else math.nan
                line.append(Number(mean, std, len(values), show_n=len(values) != usual_n, signed=True))
        note = ""
        if variant not in ("default", "common"):
            note = letters.setdefault(str(variant), chr(ord("a") + len(letters)))
        grid.rows.append((Label(str(method), "", note), line))
    quirks = differences.groupby("method")["quirks"].first()
    grid.notes = [
        f"Percentage points, mean ± sample std over seeds of strict − paper on the same seed (n = {usual_n} pairs "
        "unless a cell says otherwise). "
        "Negative: the paper protocol reports more than the leak-free one.",
        "Paper quirks: " + "; ".join(f"{m}: {str(q).replace(',', ', ') or 'none'}" for m, q in quirks.items()) + ".",
        *(f"({letter}) {variant}." for variant, letter in letters.items()),
    ]
    if common:
        grid.notes.append(f"Every row: {', '.join(common)}.")
    return grid
