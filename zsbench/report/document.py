"""``zsbench report`` as a library call: runs table -> the chosen layout in the chosen format.

Layouts: ``long`` (one row per method × dataset × split × protocol × variant), ``paper`` (methods as rows,
splits as column groups, see :mod:`zsbench.report.paper`) and ``leaks`` (strict − paper per method).
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from rich.table import Table

from zsbench.errors import UsageError
from zsbench.report import render, tables
from zsbench.report.aggregate import factor_common, mixed_encoder_note, summarise
from zsbench.report.anchors import Published
from zsbench.report.grid import Grid

LAYOUTS = ("long", "paper", "leaks")
GRID_FORMATS = ("table", "markdown", "latex", "html")


def default_layout(output_format: str) -> str:
    return "paper" if output_format in ("latex", "html") else "long"


@dataclass(frozen=True)
class ReportOptions:
    output_format: str = "table"
    layout: str | None = None
    ausuc: bool = False
    anchors: bool = False
    published: Path | None = None
    standalone: bool = False
    plots: Path | None = None
    title: str = "zsbench results"

    def resolved_layout(self) -> str:
        layout = self.layout or ("paper" if self.anchors else default_layout(self.output_format))
        if layout not in LAYOUTS:
            raise UsageError(f"unknown layout {layout!r}; valid: {', '.join(LAYOUTS)}")
        if layout != "long" and self.output_format not in GRID_FORMATS:
            raise UsageError(f"--layout {layout} is for --format {', '.join(GRID_FORMATS)}; csv and json are long")
        if self.anchors and layout != "paper":
            raise UsageError("--anchors goes with --layout paper")
        if self.standalone and self.output_format != "latex":
            raise UsageError("--standalone is for --format latex")
        return layout


@dataclass
class ReportOutput:
    """What to print: ``text`` (written as is) or ``table`` (a rich table); figures written; messages."""

    text: str | None = None
    table: Table | None = None
    figures: list[Path] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)


def grid_for(runs: pd.DataFrame, layout: str, options: ReportOptions) -> Grid:
    from zsbench.report.leaks import leaks_grid
    from zsbench.report.paper import paper_grid

    if layout == "leaks":
        return leaks_grid(runs, ausuc=True)
    summary, common = factor_common(summarise(runs))
    published = Published.read(options.published) if options.anchors else None
    grid = paper_grid(summary, common, options.ausuc, published)
    grid.title = options.title
    return grid


def _long(runs: pd.DataFrame, output_format: str) -> ReportOutput:
    summary = summarise(runs)
    if output_format == "json":
        return ReportOutput(
            text=json.dumps(tables.json_document(summary), indent=2, sort_keys=True, default=str) + "\n"
        )
    if output_format == "csv":
        return ReportOutput(text=tables.csv(summary))
    summary, common = factor_common(summary)
    if output_format == "table":
        return ReportOutput(table=tables.rich_table(summary, common))
    return ReportOutput(text=getattr(tables, output_format)(summary, common))


def write_figures(runs: pd.DataFrame, folder: Path) -> tuple[list[Path], list[str]]:
    from zsbench.report.plots import write_plots
    from zsbench.report.selection import main_variants

    written = write_plots(runs, summarise(runs), main_variants(runs), folder)
    return written.files, written.skipped


def build_report(runs: pd.DataFrame, options: ReportOptions) -> ReportOutput:
    """The report of ``runs`` (a :func:`zsbench.report.aggregate.runs_table`) as ``options`` ask."""
    layout = options.resolved_layout()
    output = ReportOutput()
    if options.plots is not None:
        output.figures, output.messages = write_figures(runs, options.plots)
    mixed = mixed_encoder_note(runs)
    if mixed is not None:
        output.messages.append(mixed)
    if options.output_format == "html":
        output.text = _html(runs, options, output)
        return output
    if layout == "long":
        long = _long(runs, options.output_format)
        output.text, output.table = long.text, long.table
        return _marked(output, mixed, options.output_format)
    grid = grid_for(runs, layout, options)
    if options.output_format == "table":
        output.table = render.rich_table(grid)
    elif options.output_format == "markdown":
        output.text = render.markdown(grid)
    else:
        body = render.latex(grid)
        output.text = render.latex_document(body) if options.standalone else body
    return _marked(output, mixed, options.output_format)


def _marked(output: ReportOutput, note: str | None, output_format: str) -> ReportOutput:
    """The mixed-encoder note under a markdown table and as a comment under LaTeX (stderr has it too)."""
    if note is not None and output.text is not None:
        if output_format == "markdown":
            output.text += f"\n{note}\n"
        elif output_format == "latex":
            output.text += f"% {note}\n"
    return output


def _html(runs: pd.DataFrame, options: ReportOptions, output: ReportOutput) -> str:
    from zsbench.report.html import page, protocol_lines

    layout = options.resolved_layout()
    grids = [grid_for(runs, "paper" if layout == "long" else layout, options)]
    if layout == "paper" and (runs["protocol"] != "strict").any():
        grids.append(grid_for(runs, "leaks", options))
    records = [json.loads(Path(p).read_text()) for p in runs["path"]]
    figures = [f for f in output.figures if f.suffix == ".png"]
    if options.plots is None:
        try:
            with tempfile.TemporaryDirectory() as folder:
                files, skipped = write_figures(runs, Path(folder))
                output.messages += skipped
                return page(options.title, grids, protocol_lines(records), [f for f in files if f.suffix == ".png"])
        except UsageError as error:  # matplotlib missing: the page without figures
            output.messages.append(f"{error}; the page has no figures")
    return page(options.title, grids, protocol_lines(records), figures)
