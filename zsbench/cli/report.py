from __future__ import annotations

import sys
from pathlib import Path

import typer

from zsbench.cli.common import handle_errors, print_json, stderr, stdout
from zsbench.report.tables import FORMATS

HELP = """Aggregate run records: one row per method × dataset × split × protocol, mean ± std over seeds.

Examples:

  zsbench report

  zsbench report --format latex > table.tex

  zsbench report --results-dir results/reference --format markdown

  zsbench report --method dynapurls --method neuron --format markdown

In table, markdown and LaTeX output the settings shared by every row are printed once, below the table.
"""


@handle_errors
def report(
    results_dir: Path | None = typer.Option(None, help="Folder of run records (default $ZSBENCH_HOME/runs)."),
    output_format: str = typer.Option("table", "--format", help=f"One of: {', '.join(FORMATS)}."),
    as_json: bool = typer.Option(False, "--json", help="Same as --format json."),
    methods: list[str] = typer.Option([], "--method", help="Only these methods (repeat the option for several)."),
) -> None:
    from zsbench import paths
    from zsbench.errors import UsageError
    from zsbench.report import tables
    from zsbench.report.aggregate import factor_common, runs_table, summarise

    if as_json:
        output_format = "json"
    if output_format not in FORMATS:
        raise UsageError(f"unknown format {output_format!r}; valid: {', '.join(FORMATS)}")
    folder = results_dir or paths.runs_dir()
    runs = runs_table(folder)
    if methods and not runs.empty:
        runs = runs[runs["method"].isin(methods)]
    summary = summarise(runs)
    if summary.empty:
        stderr.print(f"no run records in {folder}")
        if output_format == "json":
            print_json([])
        return
    common: list[str] = []
    if output_format in ("table", "markdown", "latex"):
        summary, common = factor_common(summary)
    if output_format == "table":
        stdout.print(tables.rich_table(summary, common))
    elif output_format == "json":
        print_json(tables.json_document(summary))
    else:
        sys.stdout.write(
            tables.csv(summary) if output_format == "csv" else getattr(tables, output_format)(summary, common)
        )


report.__doc__ = HELP
