from __future__ import annotations

import sys
from pathlib import Path

import typer

from zsbench.cli.common import handle_errors, print_json, stderr, stdout
from zsbench.report.tables import FORMATS

LAYOUTS = ("long", "paper", "leaks")

HELP = """Aggregate run records: mean ± std over seeds per method × dataset × split × protocol × variant.

Layouts: long (one row per method × dataset × split × protocol × variant; the default for table, markdown,
csv, json), paper (methods as rows, splits as column groups, ZSL and GZSL H, best bold and second underlined;
the default for latex and html) and leaks (per method, strict − paper on the same seeds).

Examples:

  zsbench report

  zsbench report --format latex > table.tex

  zsbench report --format latex --standalone > table.tex && pdflatex table.tex

  zsbench report --results-dir results/reference/ntu60-synth --layout paper --format markdown --anchors

  zsbench report --layout leaks --format markdown

  zsbench report --plots figures/ --format html > report.html

  zsbench report --method dynapurls --method neuron --format markdown

  zsbench report --recipe pgfa-tip2025 --format markdown    # ours (strict, paper) beside the published cells

In table, markdown and LaTeX output the settings shared by every row are printed once, below the table.
"""


@handle_errors
def report(
    results_dir: Path | None = typer.Option(None, help="Folder of run records (default $ZSBENCH_HOME/runs)."),
    output_format: str = typer.Option("table", "--format", help=f"One of: {', '.join(FORMATS)}."),
    as_json: bool = typer.Option(False, "--json", help="Same as --format json."),
    methods: list[str] = typer.Option([], "--method", help="Only these methods (repeat the option for several)."),
    layout: str | None = typer.Option(None, help=f"One of: {', '.join(LAYOUTS)} (default: see above)."),
    ausuc: bool = typer.Option(False, "--ausuc", help="Paper layout: add AUSUC to each split's columns."),
    anchors: bool = typer.Option(
        False, "--anchors", help="Paper layout: add the published number and ours − published."
    ),
    published: Path | None = typer.Option(None, help="Published numbers CSV (default results/published.csv)."),
    standalone: bool = typer.Option(False, "--standalone", help="LaTeX: a whole compilable document."),
    plots: Path | None = typer.Option(None, "--plots", help="Also write figures (PNG and PDF) into this folder."),
    recipe: str | None = typer.Option(
        None, help="Only the runs of this recipe (zsbench ls recipes), paper layout beside its published numbers."
    ),
    stand_in: bool = typer.Option(False, "--stand-in", help="With --recipe: its tables on the synthetic sets."),
    dataset: str | None = typer.Option(None, help="With --recipe: the dataset that replaces its family's tables."),
) -> None:
    from zsbench import paths
    from zsbench.errors import UsageError
    from zsbench.report.aggregate import runs_table
    from zsbench.report.document import ReportOptions, build_report

    if as_json:
        output_format = "json"
    chosen = None
    if recipe is not None:
        from zsbench import recipes

        chosen = recipes.load(recipe)
        chosen = recipes.with_stand_ins(chosen) if stand_in else chosen
        chosen = recipes.with_dataset(chosen, dataset) if dataset is not None else chosen
        layout, anchors = layout or "paper", True
    elif stand_in or dataset is not None:
        raise UsageError("--stand-in and --dataset need --recipe")
    if output_format not in FORMATS:
        raise UsageError(f"unknown format {output_format!r}; valid: {', '.join(FORMATS)}")
    options = ReportOptions(output_format, layout, ausuc, anchors, published, standalone, plots)
    options.resolved_layout()
    folder = results_dir or paths.runs_dir()
    runs = runs_table(folder)
    if methods and not runs.empty:
        runs = runs[runs["method"].isin(methods)]
    if chosen is not None and not runs.empty:
        from zsbench import recipes

        runs = recipes.recipe_rows(runs, chosen)
        for note in recipes.recipe_notes(runs, chosen):
            stderr.print(note, highlight=False)
    if runs.empty:
        stderr.print(f"no run records in {folder}")
        if output_format == "json":
            print_json([])
        return
    output = build_report(runs, options)
    for message in output.messages:
        stderr.print(message, highlight=False)
    if output.figures:
        stderr.print(f"wrote {len(output.figures)} figure files to {plots}", highlight=False)
    if output.table is not None:
        stdout.print(output.table)
    elif output.text is not None:
        sys.stdout.write(output.text)


report.__doc__ = HELP
