"""The paper layout: one row per method (× protocol × variant), one column group per split (or dataset × split).

Each group holds ZSL top-1 and GZSL H (and AUSUC on request) as mean ± std over seeds. The best and second-best
value of each column among ``strict`` rows is marked (``paper`` rows reproduce leaky protocols and do not compete).
With published anchors, a group gains, for each metric that has one, the published number and ours − published.
"""

from __future__ import annotations

import math
import re
import string
from collections import Counter
from typing import Any

import numpy as np
import pandas as pd

from zsbench.report.anchors import Published
from zsbench.report.grid import PAPER_MARK, TRANSDUCTIVE_MARK, Grid, Label, Number
from zsbench.split_settings import setting_of

METRIC_TITLES = {"zsl_top1": "ZSL", "gzsl_h": "H", "ausuc": "AUSUC"}
PLAIN_VARIANTS = ("default", "common")


def metrics_for(ausuc: bool) -> tuple[str, ...]:
    return ("zsl_top1", "gzsl_h", "ausuc") if ausuc else ("zsl_top1", "gzsl_h")


def split_order(summary: pd.DataFrame) -> list[tuple[str, str]]:
    """(dataset, split) pairs, datasets alphabetically, within one the larger seen share first (55/5 before 48/12)."""
    pairs = summary[["dataset", "split"]].drop_duplicates()
    unseen = summary.groupby(["dataset", "split"])["unseen_count"].first() if "unseen_count" in summary else None

    def key(pair: tuple[str, str]) -> tuple[Any, ...]:
        sizes = re.search(r"(\d+)/(\d+)$", pair[1])
        count = int(sizes.group(2)) if sizes else int(unseen.loc[pair]) if unseen is not None else 0
        return pair[0], setting_of(pair[1]), count, pair[1]

    return sorted(((str(d), str(s)) for d, s in pairs.itertuples(index=False)), key=key)


def group_titles(pairs: list[tuple[str, str]]) -> list[str]:
    """Short split names when one setting is shown (``55/5``), the dataset in front when several datasets are."""
    settings = {setting_of(split) for _, split in pairs}
    datasets = {dataset for dataset, _ in pairs}
    titles = []
    for dataset, split in pairs:
        name = split.partition(":")[2] if len(settings) == 1 and ":" in split else split
        titles.append(f"{dataset} {name}" if len(datasets) > 1 else name)
    return titles


def _row_order(summary: pd.DataFrame) -> list[tuple[str, str, str]]:
    rows = summary[["method", "protocol", "variant"]].drop_duplicates()

    def key(row: tuple[str, str, str]) -> tuple[Any, ...]:
        method, protocol, variant = row
        return method, protocol != "strict", protocol, variant not in PLAIN_VARIANTS, variant

    return sorted(((str(m), str(p), str(v)) for m, p, v in rows.itertuples(index=False)), key=key)


def _ranks(values: list[float]) -> list[int]:
    """1 for the highest value (ties share it), 2 for the next distinct one; compared as printed (0.1 %)."""
    rounded = [round(v, 1) if math.isfinite(v) else math.nan for v in values]
    distinct = sorted({v for v in rounded if math.isfinite(v)}, reverse=True)
    if len([v for v in rounded if math.isfinite(v)]) < 2:
        return [0] * len(values)
    best = distinct[0]
    second = distinct[1] if len(distinct) > 1 and len([v for v in rounded if math.isfinite(v)]) > 2 else None
    return [1 if v == best else 2 if second is not None and v == second else 0 for v in rounded]


def paper_grid(
    summary: pd.DataFrame,
    common: list[str] | None = None,
    ausuc: bool = False,
    published: Published | None = None,
) -> Grid:
    """The paper-layout :class:`Grid` of a :func:`zsbench.report.aggregate.summarise` table."""
    metrics = metrics_for(ausuc)
    pairs = split_order(summary)
    rows = _row_order(summary)
    indexed = {
        (str(r["method"]), str(r["protocol"]), str(r["variant"]), str(r["dataset"]), str(r["split"])): r
        for r in summary.to_dict("records")
    }
    usual_n = Counter(int(n) for n in summary["n"]).most_common(1)[0][0]

    def anchor_value(method: str, dataset: str, split: str, metric: str) -> float:
        if published is None:
            return math.nan
        found = summary[(summary["dataset"] == dataset) & (summary["split"] == split)].iloc[0]
        anchor = published.lookup(method, str(found.get("family", dataset)), split, int(found["unseen_count"]), metric)
        return math.nan if anchor is None else anchor.value

    # Which (group, metric) gain published/difference columns: those where some row has an anchor.
    anchored = {
        (pair, metric)
        for pair in pairs
        for metric in metrics
        if any(math.isfinite(anchor_value(method, *pair, metric)) for method, _, _ in rows)
    }
    columns: list[str] = []
    groups: list[tuple[str, int]] = []
    for pair, title in zip(pairs, group_titles(pairs), strict=True):
        span = 0
        for metric in metrics:
            columns.append(METRIC_TITLES[metric])
            span += 1
            if (pair, metric) in anchored:
                columns += [f"{METRIC_TITLES[metric]} pub.", "Δ"]
                span += 2
        groups.append((title, span))

    cells: list[list[Number]] = []
    for method, protocol, variant in rows:
        line: list[Number] = []
        for pair in pairs:
            key = (method, protocol, variant, *pair)
            found = indexed.get(key)
            for metric in metrics:
                if found is None:
                    mean, std, n = math.nan, math.nan, 0
                else:
                    mean, std, n = 100 * found[f"{metric}_mean"], 100 * found[f"{metric}_std"], int(found["n"])
                line.append(Number(mean, std, n, show_n=bool(n) and n != usual_n))
                if (pair, metric) in anchored:
                    anchor = anchor_value(method, *pair, metric)
                    line += [Number(anchor), Number(mean - anchor, signed=True)]
        cells.append(line)

    # Rank each own-value column among strict rows.
    for column, title in enumerate(columns):
        if title not in METRIC_TITLES.values():
            continue
        candidates = [i for i, (_, protocol, _) in enumerate(rows) if protocol == "strict"]
        ranks = _ranks([cells[i][column].mean for i in candidates])
        for i, rank in zip(candidates, ranks, strict=True):
            old = cells[i][column]
            cells[i][column] = Number(old.mean, old.std, old.n, old.show_n, rank)

    labels, method_common = _variant_labels(summary, rows, common or [])
    letters = iter(string.ascii_lowercase)
    notes_by_variant: dict[str, str] = {}
    grid = Grid("zsbench results", "method", groups, columns)
    transductive = summary.groupby(["method", "protocol", "variant"])["transductive"].any()
    quirks = summary.groupby(["method", "protocol", "variant"])["quirks"].first()
    for (method, protocol, variant), line in zip(rows, cells, strict=True):
        marks = (TRANSDUCTIVE_MARK if transductive.loc[(method, protocol, variant)] else "") + (
            PAPER_MARK if protocol != "strict" else ""
        )
        label, note = labels[(method, protocol, variant)], ""
        if label:
            variant_key = f"{method}: {label}"
            if variant_key not in notes_by_variant:
                notes_by_variant[variant_key] = next(letters, "?")
            note = notes_by_variant[variant_key]
        grid.rows.append((Label(method, marks, note), line))
    grid.notes = _notes(summary, usual_n, notes_by_variant, quirks, rows, published is not None, common or [])
    grid.notes += [f"Every {method} row: {', '.join(items)}." for method, items in method_common.items() if items]
    return grid


def _variant_labels(
    summary: pd.DataFrame, rows: list[tuple[str, str, str]], common: list[str]
) -> tuple[dict[tuple[str, str, str], str], dict[str, list[str]]]:
    """Per row, its settings beyond those every row of its method shares (and beyond ``common``)."""
    settings = {
        (str(r["method"]), str(r["protocol"]), str(r["variant"])): [i for i in r["settings"] if i not in common]
        for r in summary.to_dict("records")
    }
    method_common: dict[str, list[str]] = {}
    for method in dict.fromkeys(m for m, _, _ in rows):
        mine = [settings[row] for row in rows if row[0] == method]
        method_common[method] = [i for i in mine[0] if all(i in other for other in mine[1:])] if len(mine) > 1 else []
    labels = {row: ", ".join(i for i in settings[row] if i not in method_common[row[0]]) for row in rows}
    return labels, method_common


def _notes(
    summary: pd.DataFrame,
    usual_n: int,
    variants: dict[str, str],
    quirks: pd.Series,
    rows: list[tuple[str, str, str]],
    anchors: bool,
    common: list[str],
) -> list[str]:
    notes = [
        f"Accuracies in %, mean ± sample std over seeds, n = {usual_n} runs per cell unless a cell says otherwise. "
        "ZSL: top-1 among the unseen classes; H: harmonic mean of GZSL seen and unseen accuracy, calibrated on the "
        "validation fold. Best of each column among strict rows in bold, second best underlined."
    ]
    if summary["transductive"].any():
        notes.append(f"{TRANSDUCTIVE_MARK} transductive: uses the whole unlabelled test set.")
    paper_rows = [(m, p, v) for m, p, v in rows if p != "strict"]
    if paper_rows:
        named = sorted({f"{m}: {str(quirks.loc[(m, p, v)]).replace(',', ', ') or 'none'}" for m, p, v in paper_rows})
        notes.append(
            f"{PAPER_MARK} paper protocol: the method's published evaluation choices, quirks included "
            f"({'; '.join(named)}); not ranked."
        )
    for variant, letter in variants.items():
        notes.append(f"({letter}) {variant}.")
    if anchors:
        notes.append("pub.: the published number (results/published.csv); Δ: ours − published.")
        if "synthetic" in summary and bool(np.any(summary["synthetic"])):
            notes.append("These runs are on a synthetic dataset: the differences from published numbers mean nothing.")
    if common:
        notes.append(f"Every row: {', '.join(common)}.")
    return notes
