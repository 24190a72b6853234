from __future__ import annotations

from pathlib import Path

import typer

from zsbench.cli.common import handle_errors, print_json, stderr, stdout

HELP = """Paired comparison of methods on runs that share dataset, split, seed and protocol.

Per pair and shared run: the exact McNemar test on the per-sample ZSL predictions and a paired bootstrap CI
of the ZSL accuracy difference (from the .npz saved beside each record). Across (split, seed): the exact
sign-flip and the Wilcoxon signed-rank test of the per-run differences of --metric. Holm-adjusted p-values.
Spread over seeds and over random splits are shown separately.

A method is NAME (its variant with the fewest non-default settings) or NAME[key=value, ...].

Examples:

  zsbench compare --method devise --method dvta

  zsbench compare --results-dir results/reference/ntu60-synth --method dvta --method pgfa --metric gzsl_h

  zsbench compare --method "dynapurls" --method "dynapurls[method_params.refine=false]" --json
"""


@handle_errors
def compare(
    methods: list[str] = typer.Option([], "--method", help="A method to compare (at least two)."),
    results_dir: Path | None = typer.Option(None, help="Folder of run records (default $ZSBENCH_HOME/runs)."),
    protocol: str = typer.Option("strict", help="Compare runs of this protocol (strict or paper)."),
    metric: str = typer.Option(
        "zsl_top1", help="Record metric for the across-run tests (zsl_top1, gzsl_h, ausuc, ...)."
    ),
    resamples: int = typer.Option(2000, min=100, help="Bootstrap resamples."),
    confidence: float = typer.Option(0.95, min=0.5, max=0.999, help="Bootstrap interval level."),
    seed: int = typer.Option(0, help="Seed of the bootstrap and Monte Carlo sign-flip draws."),
    output_format: str = typer.Option("table", "--format", help="table or markdown."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    from zsbench import paths
    from zsbench.errors import DataError, UsageError
    from zsbench.report.aggregate import runs_table
    from zsbench.report.compare import compare as run_compare
    from zsbench.report.compare_view import markdown, rich_tables

    if output_format not in ("table", "markdown"):
        raise UsageError(f"unknown format {output_format!r}; valid: table, markdown")
    folder = results_dir or paths.runs_dir()
    runs = runs_table(folder)
    if runs.empty:
        raise DataError(f"no run records in {folder}; run `zsbench run` or `zsbench sweep` first")
    comparison = run_compare(runs, methods, protocol, metric, seed, resamples, confidence)
    if not any(pair.units for pair in comparison.pairs):
        raise DataError(f"the methods share no (dataset, split, seed) under the {protocol} protocol in {folder}")
    if comparison.missing_predictions:
        stderr.print(
            f"{len(comparison.missing_predictions)} record(s) have no .npz beside them: per-sample tests skipped "
            "for their runs (the across-run tests use the record metrics)",
            highlight=False,
        )
    if as_json:
        print_json(comparison.to_dict())
    elif output_format == "markdown":
        stdout.out(markdown(comparison), end="", highlight=False)
    else:
        for table in rich_tables(comparison):
            stdout.print(table)


compare.__doc__ = HELP
