from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from zsbench.catalog import DATASETS, SKELETON_ENCODERS
from zsbench.cli.common import handle_errors, print_json, progress_bar, stdout

HELP = f"""Pretrain a split's skeleton encoder on its seen classes only.

The validation fold's encoder is trained on the pseudo-seen classes. Checkpoints are cached under $ZSBENCH_HOME/encoders; an interrupted run resumes
from its last finished epoch. `zsbench run` reuses these checkpoints.

Encoders: {", ".join(SKELETON_ENCODERS.names())}.

Examples:

  zsbench pretrain --dataset ntu60-synth --split 48/12 --encoder tcn

  zsbench pretrain --dataset ntu60 --split 55/5 --encoder stgcn --set encoder.epochs=80 --fold test
"""
FOLDS = ("both", "test", "validation")


@handle_errors
def pretrain(
    dataset: str = typer.Option(..., help=f"One of: {', '.join(DATASETS.names())}."),
    split: str = typer.Option(..., help="Split name, e.g. 55/5, 48/12, smie:1."),
    encoder: str | None = typer.Option(None, help=f"One of: {', '.join(SKELETON_ENCODERS.names())} (default tcn)."),
    seed: int | None = typer.Option(None, help="Seed (default 0)."),
    partition: str | None = typer.Option(None, help="xsub (default), xview or xset."),
    fold: str = typer.Option("both", help="Which fold's encoder: both, test or validation."),
    config: Path | None = typer.Option(None, "--config", help="YAML file of config fields."),
    assignments: list[str] = typer.Option([], "--set", help="Override any field: --set encoder.epochs=10."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
    device: str | None = typer.Option(None, help="auto (default: CUDA if available), cpu, cuda or cuda:N."),
) -> None:
    from zsbench import paths, runtime
    from zsbench.config import build_config
    from zsbench.distributed import init_from_environment
    from zsbench.encoders.pretrain import summary, train_encoder
    from zsbench.errors import UsageError
    from zsbench.pipeline.folds import encoder_training_sets, skeleton_store_and_folds
    from zsbench.pipeline.resolve import resolve_run

    if fold not in FOLDS:
        raise UsageError(f"unknown fold {fold!r}; valid: {', '.join(FOLDS)}")
    if encoder is not None:
        SKELETON_ENCODERS.check(encoder)
        assignments = [*assignments, f"encoder.name={encoder}"]
    run = resolve_run(
        build_config(config, assignments, {"dataset": dataset, "split": split, "seed": seed, "partition": partition})
    )
    if run.spec.kind == "features":
        raise UsageError(f"{run.spec.name} holds pre-extracted features; there is no encoder to train")
    paths.require_writable(paths.encoders_dir(), "encoders")  # before anything is computed
    init_from_environment()
    runtime.configure(device)
    store, folds = skeleton_store_and_folds(run)
    chosen = [f for f in (folds.validation, folds.test) if fold in ("both", f.name)]
    rows = []
    with progress_bar() as progress:
        for item in chosen:
            training, selection = encoder_training_sets(item, store, run, folds.validation_subjects)
            trained = train_encoder(
                store.skeletons, training, run.config.encoder, run.config.seed,
                paths.encoders_dir() / store.name, store.content_hash, progress, selection,
            )  # fmt: skip
            last = trained.history[-1] if trained.history else {}
            rows.append({"fold": item.name, "checkpoint": str(trained.checkpoint), **summary(trained),
                         "samples_per_second": last.get("samples_per_second")})  # fmt: skip
    if as_json:
        print_json(rows)
        return
    table = Table(
        title=f"{run.config.encoder.name} encoder · {run.spec.name} · {run.split.name} · seed {run.config.seed}"
    )
    for column in ("fold", "classes", "final loss", "train acc", "samples/s", "reused", "checkpoint"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            str(row["fold"]), str(row["classes"]), f"{row['final_loss']:.3f}", f"{row['final_train_accuracy']:.3f}",
            f"{row['samples_per_second'] or 0:.0f}", str(row["reused"]), str(row["checkpoint"]),
        )  # fmt: skip
    stdout.print(table)


pretrain.__doc__ = HELP
