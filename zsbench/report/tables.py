"""Render a summary table as rich (terminal), markdown, LaTeX, CSV or JSON."""

from __future__ import annotations

import json
import math
from typing import Any

import pandas as pd
from rich.table import Table

FORMATS = ("table", "markdown", "latex", "html", "csv", "json")
COLUMNS = (
    ("zsl_top1", "ZSL top-1"),
    ("gzsl_seen", "GZSL S"),
    ("gzsl_unseen", "GZSL U"),
    ("gzsl_h", "GZSL H"),
    ("ausuc", "AUSUC"),
)
TRANSDUCTIVE_MARK = "†"


def _cell(row: pd.Series, metric: str, plus_minus: str) -> str:
    mean, std = row[f"{metric}_mean"], row[f"{metric}_std"]
    if math.isnan(mean):
        return "–"
    text = f"{100 * mean:.1f}"
    return text if math.isnan(std) else f"{text} {plus_minus} {100 * std:.1f}"


def _label(row: pd.Series) -> str:
    return str(row["method"]) + (TRANSDUCTIVE_MARK if row["transductive"] else "")


def _header() -> list[str]:
    return ["method", "dataset", "split", "protocol", "variant", "n", *(title for _, title in COLUMNS)]


def _rows(summary: pd.DataFrame, plus_minus: str) -> list[list[str]]:
    return [
        [_label(r), str(r["dataset"]), str(r["split"]), str(r["protocol"]), str(r["variant"]), str(r["n"]),
         *(_cell(r, metric, plus_minus) for metric, _ in COLUMNS)]
        for _, r in summary.iterrows()
    ]  # fmt: skip


FOOTNOTE = (
    "Accuracies in %, mean ± sample std over seeds (n runs). "
    f"{TRANSDUCTIVE_MARK} transductive: uses the whole unlabelled test set."
)


def _footnote(common: list[str]) -> str:
    return FOOTNOTE + (f" Every row: {', '.join(common)}." if common else "")


def rich_table(summary: pd.DataFrame, common: list[str] | None = None) -> Table:
    table = Table(title="zsbench results", caption=_footnote(common or []))
    for name in _header():
        table.add_column(
            name, justify="right" if name not in ("method", "dataset", "split", "protocol", "variant") else "left"
        )
    for row in _rows(summary, "±"):
        table.add_row(*row)
    return table


def markdown(summary: pd.DataFrame, common: list[str] | None = None) -> str:
    header = _header()
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in _rows(summary, "±")]
    return "\n".join(lines) + f"\n\n{_footnote(common or [])}\n"


def _latex_escape(text: str) -> str:
    for char, escaped in (("\\", r"\textbackslash{}"), ("_", r"\_"), ("%", r"\%"), ("&", r"\&"), ("#", r"\#")):
        text = text.replace(char, escaped)
    return text.replace(TRANSDUCTIVE_MARK, r"$^\dagger$")


def latex(summary: pd.DataFrame, common: list[str] | None = None) -> str:
    header = _header()
    lines = [
        r"\begin{tabular}{lllll r" + "r" * len(COLUMNS) + "}",
        r"\toprule",
        " & ".join(_latex_escape(h) for h in header) + r" \\",
        r"\midrule",
    ]
    lines += [" & ".join(_latex_escape(c) for c in row).replace("±", r"$\pm$") + r" \\" for row in _rows(summary, "±")]
    lines += [r"\bottomrule", r"\end{tabular}"]
    if common:
        lines.append("% every row: " + _latex_escape(", ".join(common)))
    return "\n".join(lines) + "\n"


def csv(summary: pd.DataFrame) -> str:
    return str(summary.drop(columns=["settings"], errors="ignore").to_csv(index=False))


def json_document(summary: pd.DataFrame) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = json.loads(
        summary.drop(columns=["settings"], errors="ignore").to_json(orient="records")
    )
    return records
