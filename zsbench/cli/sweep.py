from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from zsbench.cli.common import handle_errors, print_json, stderr, stdout

HELP = """Run a grid: every --method × --split × --seed × --protocol × --variant, on one dataset.

Each point is a `zsbench run`; points with a record already are skipped, so running the same sweep again
resumes it. Every point is checked before the first one runs. A failed point is reported and the sweep
goes on; the exit code is then 4. --set applies to every point; each --variant adds its own assignments
(separated by ';'), e.g. --variant "method_params.refine=false" --variant "method_params.slots=g".

Examples:

  zsbench sweep --method devise --method dvta --split 55/5 --split 48/12 --seed 0 --seed 1 --seed 2 --dataset ntu60-synth

  zsbench sweep --method dynapurls --split 48/12 --seed 0 --variant "" --variant "method_params.refine=false" --dry-run

  RAY_ADDRESS=auto zsbench sweep --backend ray --method pgfa --split smie:1 --seed 0 --seed 1

  zsbench sweep --recipe pgfa-tip2025                 # a published table (zsbench ls recipes), strict and paper

  zsbench sweep --recipe pgfa-tip2025 --stand-in --seed 0 --set encoder.name=tcn   # on the synthetic sets
"""


@handle_errors
def sweep(
    methods: list[str] = typer.Option([], "--method", help="A method (repeat for several)."),
    splits: list[str] = typer.Option([], "--split", help="A split (repeat for several)."),
    seeds: list[int] = typer.Option([], "--seed", help="A seed (repeat for several; default 0)."),
    protocols: list[str] = typer.Option([], "--protocol", help="strict or paper (repeat; default strict)."),
    variants: list[str] = typer.Option([], "--variant", help="Assignments for one variant, ';'-separated (repeat)."),
    dataset: str | None = typer.Option(
        None, help="The dataset every point runs on (default ntu60); with --recipe, replaces the tables of its family."
    ),
    recipe: str | None = typer.Option(None, help="Run a reproduction recipe (zsbench ls recipes) instead of a grid."),
    stand_in: bool = typer.Option(
        False, "--stand-in", help="With --recipe: run each table on its family's synthetic set (a pipeline check)."
    ),
    config: Path | None = typer.Option(None, "--config", help="YAML file of config fields for every point."),
    assignments: list[str] = typer.Option([], "--set", help="Override a field for every point."),
    results_dir: Path | None = typer.Option(None, help="Where records go (default $ZSBENCH_HOME/runs)."),
    backend: str = typer.Option("local", help="local (one run after another) or ray (one task per run)."),
    device: str | None = typer.Option(None, help="auto (default), cpu, cuda or cuda:N."),
    dry_run: bool = typer.Option(False, "--dry-run", help="List the points and whether each has a record; run none."),
    as_json: bool = typer.Option(False, "--json", help="Print the outcomes as one JSON document."),
) -> None:
    from zsbench import paths
    from zsbench.errors import UsageError
    from zsbench.results.store import record_path
    from zsbench.sweep import parse_variant, plan, run_sweep

    folder = results_dir or paths.runs_dir()
    if recipe is not None:
        points = _recipe_points(recipe, dataset, stand_in, methods, splits, seeds, protocols, variants, config,
                                assignments, device)  # fmt: skip
    else:
        if stand_in:
            raise UsageError("--stand-in needs --recipe")
        points = plan(
            methods, splits, seeds, protocols, [parse_variant(v) for v in variants], dataset or "ntu60", assignments,
            config, device,
        )  # fmt: skip
    if dry_run:
        rows = [
            {"run": p.label, "run_id": p.run_id, "has_record": record_path(folder, p.run_id).is_file()} for p in points
        ]
        if as_json:
            print_json(rows)
        else:
            for row in rows:
                stdout.print(
                    f"{row['run_id']}  {'done   ' if row['has_record'] else 'pending'}  {row['run']}", markup=False
                )
        return
    for where, what in ((folder, "results"), (paths.encoders_dir(), "encoders")):
        paths.require_writable(where, what)  # before anything is computed
    stderr.print(f"sweep: {len(points)} points")
    outcomes = run_sweep(
        points, folder, backend, device,
        lambda o: stderr.print(f"{o.status}: {o.point.label}" + (f": {o.error}" if o.error else ""), markup=False),
    )  # fmt: skip
    failed = [o for o in outcomes if o.status == "failed"]
    if as_json:
        print_json([{"run": o.point.label, "run_id": o.point.run_id, "status": o.status, "path": o.path,
                     "metrics": o.metrics, "error": o.error} for o in outcomes])  # fmt: skip
    else:
        table = Table(title=f"sweep · {len(outcomes)} points · {len(failed)} failed")
        for name in ("run", "status", "ZSL top-1", "GZSL H"):
            table.add_column(name)
        for o in outcomes:
            table.add_row(
                escape(o.point.label), o.status, *(_percent(o.metrics.get(k)) for k in ("zsl_top1", "gzsl_h"))
            )
        stdout.print(table)
    if failed:
        raise typer.Exit(4)


def _recipe_points(
    name: str,
    dataset: str | None,
    stand_in: bool,
    methods: list[str],
    splits: list[str],
    seeds: list[int],
    protocols: list[str],
    variants: list[str],
    config: Path | None,
    assignments: list[str],
    device: str | None,
) -> list[Any]:
    from zsbench import recipes
    from zsbench.errors import UsageError

    if splits or variants or config is not None:
        raise UsageError("--recipe sets the splits and variants itself; drop --split, --variant and --config")
    chosen = recipes.load(name)
    if stand_in:
        chosen = recipes.with_stand_ins(chosen)
    if dataset is not None:
        chosen = recipes.with_dataset(chosen, dataset)
    recipes.require_data(chosen)
    return recipes.plan_recipe(chosen, methods, seeds, protocols, assignments, device)


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}"


sweep.__doc__ = HELP
