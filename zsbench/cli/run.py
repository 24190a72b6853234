from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from zsbench.catalog import DATASETS, METHODS
from zsbench.cli.common import handle_errors, print_json, progress_bar, stderr, stdout

HELP = f"""Train on a split's seen classes and evaluate ZSL and GZSL; write a run record.

Methods: {", ".join(METHODS.names())}. Datasets: {", ".join(DATASETS.names())}.
Splits: `zsbench ls splits --dataset NAME` (e.g. 55/5, 48/12, smie:1, purls:40/20, random:55/5@7).

A run with the same resolved config as an existing record is not repeated (use --overwrite).

Examples:

  zsbench run --method devise --split 48/12 --dataset ntu60-synth

  zsbench run --method devise --split smie:1 --dataset ntu60-synth --seed 2 --json

  zsbench run --config my_run.yaml --set encoder.epochs=10
"""

SHOWN_METRICS = (
    ("zsl_top1", "ZSL top-1"),
    ("zsl_top5", "ZSL top-5"),
    ("zsl_mean_class", "ZSL mean per-class"),
    ("gzsl_seen", "GZSL seen"),
    ("gzsl_unseen", "GZSL unseen"),
    ("gzsl_h", "GZSL H"),
    ("gzsl_gated_h", "GZSL H (gating)"),
    ("ausuc", "AUSUC"),
)


@handle_errors
def run(
    method: str | None = typer.Option(None, help=f"One of: {', '.join(METHODS.names())} (default devise)."),
    split: str | None = typer.Option(None, help="Split name, e.g. 55/5, 48/12, smie:1 (default 55/5)."),
    dataset: str | None = typer.Option(None, help=f"One of: {', '.join(DATASETS.names())} (default ntu60)."),
    seed: int | None = typer.Option(None, help="Seed for everything random in the run (default 0)."),
    protocol: str | None = typer.Option(None, help="strict (default, leak-free) or paper (named quirks)."),
    quirks: list[str] = typer.Option([], "--quirk", help="Turn on one of the method's paper quirks (repeat)."),
    no_quirks: list[str] = typer.Option([], "--no-quirk", help="Turn off one of the paper quirks (repeat)."),
    partition: str | None = typer.Option(None, help="xsub (default), xview or xset, as the dataset defines."),
    config: Path | None = typer.Option(None, "--config", help="YAML file of config fields (below --set and flags)."),
    assignments: list[str] = typer.Option([], "--set", help="Override any field: --set encoder.epochs=10."),
    results_dir: Path | None = typer.Option(None, help="Where records go (default $ZSBENCH_HOME/runs)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Run again even if an identical record exists."),
    as_json: bool = typer.Option(False, "--json", help="Print the run record as one JSON document."),
    device: str | None = typer.Option(None, help="auto (default: CUDA if available), cpu, cuda or cuda:N."),
) -> None:
    from zsbench import paths
    from zsbench.config import build_config
    from zsbench.results.store import ExistingRecord
    from zsbench.runner import execute

    flags = {
        "method": method,
        "split": split,
        "dataset": dataset,
        "seed": seed,
        "protocol": protocol,
        "partition": partition,
        "quirks": tuple(quirks) or None,
        "no_quirks": tuple(no_quirks) or None,
    }
    if method is not None:
        METHODS.check(method)
    if dataset is not None:
        DATASETS.check(dataset)
    run_config = build_config(config, assignments, flags)
    existing = ExistingRecord.OVERWRITE if overwrite else ExistingRecord.SKIP
    for folder, what in ((results_dir or paths.runs_dir(), "results"), (paths.encoders_dir(), "encoders")):
        paths.require_writable(folder, what)  # before anything is computed
    with progress_bar() as progress:
        record, path, reused = execute(run_config, results_dir, existing, progress, device)
    if reused:
        stderr.print(f"found an existing record for this config: {path} (use --overwrite to run again)")
    else:
        stderr.print(f"wrote {path}")
    if as_json:
        print_json(record.to_dict())
        return
    table = Table(title=f"{record.config['method']} · {record.config['dataset']} · {record.config['split']} · "
                  f"seed {record.config['seed']} · {record.protocol['name']}")  # fmt: skip
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, title in SHOWN_METRICS:
        if key in record.metrics:
            table.add_row(title, f"{100 * record.metrics[key]:.2f}")
    stdout.print(table)


run.__doc__ = HELP
