"""A :class:`~zsbench.report.compare.Comparison` as rich tables (terminal) or markdown."""

from __future__ import annotations

import math

from rich.table import Table

from zsbench.report.compare import Comparison


def _pct(value: float | None, signed: bool = False) -> str:
    if value is None or not math.isfinite(value):
        return "–"
    return f"{100 * value:+.1f}" if signed else f"{100 * value:.1f}"


def _p(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "–"
    return f"{value:.2g}" if value < 0.001 else f"{value:.3f}"


def _tables(comparison: Comparison) -> list[tuple[str, list[str], list[list[str]]]]:
    level = f"{100 * comparison.confidence:.0f}%"
    units = [
        [pair.a, pair.b, u.dataset, u.split, str(u.seed), _pct(u.metric_a), _pct(u.metric_b), str(u.samples or "–"),
         _pct(u.difference, True), f"[{_pct(u.ci_low, True)}, {_pct(u.ci_high, True)}]" if u.ci_low is not None else "–",
         f"{u.only_a}/{u.only_b}" if u.only_a is not None else "–", _p(u.mcnemar_p), _p(u.mcnemar_p_holm)]
        for pair in comparison.pairs for u in pair.units
    ]  # fmt: skip
    overall = [
        [pair.a, pair.b, comparison.metric, str(len(pair.units)), _pct(pair.mean_difference, True),
         _p(pair.sign_flip_p), _p(pair.sign_flip_p_holm), _p(pair.wilcoxon_p), _p(pair.wilcoxon_p_holm)]
        for pair in comparison.pairs
    ]  # fmt: skip
    spreads = [
        [s.method, s.dataset, s.group, str(s.splits), str(s.runs), _pct(s.mean), _pct(s.std_over_seeds),
         _pct(s.std_over_splits)]
        for s in comparison.spreads
    ]  # fmt: skip
    return [
        (
            f"per run ({comparison.protocol} protocol): the record's {comparison.metric}; per-sample ZSL tests",
            ["A", "B", "dataset", "split", "seed", "A %", "B %", "samples", "ZSL A − B", f"{level} bootstrap CI",
             "only A/only B", "McNemar p", "Holm p"],
            units,
        ),
        (
            f"across (split, seed): {comparison.metric}, A − B",
            ["A", "B", "metric", "units", "mean A − B", "sign-flip p", "Holm p", "Wilcoxon p", "Holm p"],
            overall,
        ),
        (
            f"spread of {comparison.metric} (%): over seeds within a split, and over random splits",
            ["method", "dataset", "split group", "splits", "runs", "mean", "std over seeds", "std over splits"],
            spreads,
        ),
    ]  # fmt: skip


NOTE = (
    "McNemar: exact two-sided test on the discordant samples; bootstrap: {resamples} resamples of test samples, "
    "percentile interval; sign-flip: exact paired permutation test; Holm: step-down adjustment within each column "
    "of p-values."
)


def rich_tables(comparison: Comparison) -> list[Table]:
    tables = []
    for title, header, rows in _tables(comparison):
        table = Table(title=title)
        for name in header:
            table.add_column(name, justify="left" if name in ("A", "B", "method", "dataset", "split", "split group", "metric") else "right")  # fmt: skip
        for row in rows:
            table.add_row(*row)
        tables.append(table)
    tables[-1].caption = NOTE.format(resamples=comparison.resamples)
    return tables


def markdown(comparison: Comparison) -> str:
    parts = []
    for title, header, rows in _tables(comparison):
        lines = [f"**{title}**", "", "| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n\n" + NOTE.format(resamples=comparison.resamples) + "\n"
