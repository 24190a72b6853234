"""Figures from run records and their ``.npz``: seen–unseen curves, per-class accuracy, confusion, method × split.

matplotlib (the ``plots`` extra) is imported only when a figure is drawn. Each figure is written as PNG and PDF.
Colours: the Okabe–Ito palette (safe for the common colour-vision deficiencies); the confusion matrix uses
the perceptually uniform ``cividis`` map.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from zsbench.errors import UsageError
from zsbench.report.predictions import has_predictions, load_predictions
from zsbench.report.selection import Arm

OKABE_ITO = ("#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7", "#000000")
FORMATS = ("png", "pdf")


@dataclass
class Written:
    files: list[Path]
    skipped: list[str]


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError:
        raise UsageError("plots need matplotlib: pip install 'zsbench[plots]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()


def _colour(index: int) -> str:
    return OKABE_ITO[index % len(OKABE_ITO)]


def _save(figure: Any, folder: Path, stem: str, written: list[Path]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for suffix in FORMATS:
        path = folder / f"{stem}.{suffix}"
        figure.savefig(path, dpi=150, bbox_inches="tight", metadata={"CreationDate": None} if suffix == "pdf" else None)
        written.append(path)
    _pyplot().close(figure)


def class_label(family: str, index: int) -> str:
    """NTU classes are A001…A120 (index + 1); other families show the 1-based label."""
    return f"A{index + 1:03d}" if str(family).startswith("ntu") else f"L{index + 1}"


def _arm_runs(runs: pd.DataFrame, arm: Arm) -> pd.DataFrame:
    return runs[(runs["method"] == arm.method) & (runs["variant"] == arm.variant) & (runs["protocol"] == "strict")]


def seen_unseen_curves(runs: pd.DataFrame, arms: list[Arm], folder: Path, written: list[Path], skipped: list[str]) -> None:  # fmt: skip
    from zsbench.eval.metrics import seen_unseen_curve

    plt = _pyplot()
    for (dataset, split), _ in runs.groupby(["dataset", "split"], sort=True):
        figure, axes = plt.subplots(figsize=(4.6, 4.0))
        drawn = 0
        for index, arm in enumerate(arms):
            part = _arm_runs(runs, arm)
            part = part[(part["dataset"] == dataset) & (part["split"] == split)].sort_values("seed")
            curves = [
                seen_unseen_curve(a.scores, a.labels, a.class_ids, a.seen)
                for a in (load_predictions(Path(p)) for p in part["path"] if has_predictions(Path(p)))
            ]
            if not curves:
                continue
            drawn += 1
            areas = [100 * c.ausuc() for c in curves]
            area = f"{np.mean(areas):.1f}" + (f" ± {np.std(areas, ddof=1):.1f}" if len(areas) > 1 else "")
            for number, curve in enumerate(curves):
                order = np.argsort(curve.seen, kind="stable")
                axes.step(100 * curve.seen[order], 100 * curve.unseen[order], where="post", color=_colour(index),
                          alpha=0.9 if number == 0 else 0.45, linewidth=1.4,
                          label=f"{arm.label} (AUSUC {area}, n={len(curves)})" if number == 0 else None)  # fmt: skip
        if not drawn:
            skipped.append(f"seen–unseen curve {dataset} {split}: no .npz beside the records")
            plt.close(figure)
            continue
        axes.set_xlabel("seen-class accuracy (%)")
        axes.set_ylabel("unseen-class accuracy (%)")
        axes.set_xlim(0, 100)
        axes.set_ylim(0, 100)
        axes.set_title(f"GZSL seen–unseen curve, {dataset} {split}")
        axes.legend(fontsize=7, loc="upper right")
        axes.grid(alpha=0.3)
        _save(figure, folder, f"seen-unseen_{_slug(str(dataset))}_{_slug(str(split))}", written)


def per_class_bars(runs: pd.DataFrame, records: dict[str, dict[str, Any]], arms: list[Arm], folder: Path, written: list[Path]) -> None:  # fmt: skip
    plt = _pyplot()
    for (dataset, split), _ in runs.groupby(["dataset", "split"], sort=True):
        series: list[tuple[str, dict[int, list[float]]]] = []
        family = "ntu"
        for arm in arms:
            part = _arm_runs(runs, arm)
            part = part[(part["dataset"] == dataset) & (part["split"] == split)]
            values: dict[int, list[float]] = {}
            for run_id in part["run_id"]:
                record = records[run_id]
                family = record["dataset"].get("family", family)
                for key, accuracy in record["per_class"]["zsl"].items():
                    values.setdefault(int(key), []).append(float(accuracy))
            if values:
                series.append((arm.label, values))
        if not series:
            continue
        classes = sorted({c for _, values in series for c in values})
        width = 0.8 / len(series)
        figure, axes = plt.subplots(figsize=(max(4.5, 0.45 * len(classes) * len(series) ** 0.5 + 2), 3.4))
        positions = np.arange(len(classes))
        for index, (label, values) in enumerate(series):
            means = [100 * np.mean(values[c]) if c in values else np.nan for c in classes]
            axes.bar(
                positions + (index - (len(series) - 1) / 2) * width, means, width, label=label, color=_colour(index)
            )
        axes.set_xticks(positions, [class_label(family, c) for c in classes], rotation=90 if len(classes) > 12 else 0)
        axes.set_xlabel("unseen class")
        axes.set_ylabel("ZSL accuracy (%), mean over seeds")
        axes.set_ylim(0, 100)
        axes.set_title(f"Per-class ZSL accuracy, {dataset} {split}")
        axes.legend(fontsize=7, ncol=min(len(series), 3))
        _save(figure, folder, f"per-class_{_slug(str(dataset))}_{_slug(str(split))}", written)


def confusion_matrices(runs: pd.DataFrame, records: dict[str, dict[str, Any]], arms: list[Arm], folder: Path, written: list[Path]) -> None:  # fmt: skip
    plt = _pyplot()
    for arm in arms:
        part = _arm_runs(runs, arm)
        for (dataset, split), group in part.groupby(["dataset", "split"], sort=True):
            total: np.ndarray | None = None
            classes: list[int] = []
            family = "ntu"
            for run_id in group["run_id"]:
                record = records[run_id]
                confusion = record.get("confusion", {}).get("zsl")
                if not confusion:
                    continue
                family = record["dataset"].get("family", family)
                counts = np.asarray(confusion["counts"], dtype=float)
                classes = list(confusion["classes"])
                total = counts if total is None else total + counts
            if total is None:
                continue
            rows = total.sum(axis=1, keepdims=True)
            share = 100 * total / np.where(rows > 0, rows, 1)
            size = max(3.6, 0.38 * len(classes) + 1.8)
            figure, axes = plt.subplots(figsize=(size, size * 0.85))
            image = axes.imshow(share, cmap="cividis", vmin=0, vmax=100)
            labels = [class_label(family, c) for c in classes]
            axes.set_xticks(range(len(classes)), labels, rotation=90)
            axes.set_yticks(range(len(classes)), labels)
            if len(classes) <= 12:
                for (i, j), value in np.ndenumerate(share):
                    axes.text(j, i, f"{value:.0f}", ha="center", va="center", fontsize=7,
                              color="black" if value > 55 else "white")  # fmt: skip
            axes.set_xlabel("predicted class")
            axes.set_ylabel("true class")
            axes.set_title(
                f"ZSL confusion (% of row), {arm.label}\n{dataset} {split}, {len(group)} runs summed", fontsize=9
            )
            figure.colorbar(image, ax=axes, label="% of the true class's samples")
            _save(figure, folder, f"confusion_{_slug(arm.label)}_{_slug(str(dataset))}_{_slug(str(split))}", written)


def method_split_chart(summary: pd.DataFrame, arms: list[Arm], folder: Path, written: list[Path]) -> None:
    plt = _pyplot()
    chosen = pd.concat(
        [summary[(summary["method"] == a.method) & (summary["variant"] == a.variant) & (summary["protocol"] == "strict")].assign(label=a.label) for a in arms]
    )  # fmt: skip
    if chosen.empty:
        return
    from zsbench.report.paper import split_order

    pairs = split_order(chosen)
    metrics = [("zsl_top1", "ZSL top-1 (%)"), ("gzsl_h", "GZSL H (%)")]
    figure, panels = plt.subplots(1, len(metrics), figsize=(max(6.0, 1.6 * len(pairs) * len(metrics) + 2), 3.4))
    width = 0.8 / len(arms)
    positions = np.arange(len(pairs))
    for panel, (metric, title) in zip(panels, metrics, strict=True):
        for index, arm in enumerate(arms):
            rows = chosen[chosen["label"] == arm.label]
            found = {
                (str(r["dataset"]), str(r["split"])): (100 * float(r[f"{metric}_mean"]), 100 * float(r[f"{metric}_ci"]))
                for r in rows.to_dict("records")
            }
            means = [found[p][0] if p in found else np.nan for p in pairs]
            half = [found[p][1] if p in found else np.nan for p in pairs]
            half = [0.0 if not math.isfinite(h) else h for h in half]
            panel.bar(positions + (index - (len(arms) - 1) / 2) * width, means, width, yerr=half, capsize=2,
                      label=arm.label, color=_colour(index), error_kw={"elinewidth": 0.8})  # fmt: skip
        panel.set_xticks(positions, [f"{d}\n{s}" for d, s in pairs], fontsize=8)
        panel.set_xlabel("dataset, split")
        panel.set_ylabel(title)
        panel.set_ylim(0, 100)
        panel.grid(axis="y", alpha=0.3)
    panels[0].legend(fontsize=7)
    figure.suptitle("Methods × splits: mean over seeds, 95% t-interval", fontsize=10)
    _save(figure, folder, "methods-by-split", written)


def write_plots(runs: pd.DataFrame, summary: pd.DataFrame, arms: list[Arm], folder: Path) -> Written:
    """All figures for ``arms`` (one variant per method, strict protocol) into ``folder``."""
    import json

    records = {str(r): json.loads(Path(p).read_text()) for r, p in zip(runs["run_id"], runs["path"], strict=True)}
    files: list[Path] = []
    skipped: list[str] = []
    seen_unseen_curves(runs, arms, folder, files, skipped)
    per_class_bars(runs, records, arms, folder, files)
    confusion_matrices(runs, records, arms, folder, files)
    method_split_chart(summary, arms, folder, files)
    return Written(files, skipped)
