from __future__ import annotations

from pathlib import Path

import typer

from zsbench.catalog import DATASETS
from zsbench.cli.common import handle_errors, progress_bar, stderr, stdout

HELP = f"""Turn a dataset's files into a prepared store under $ZSBENCH_HOME/datasets/NAME.

Datasets: {", ".join(DATASETS.names())}.

Examples:

  zsbench prepare ntu60-synth                      # offline stand-in, seconds

  zsbench prepare ntu60-synth --subjects 10        # a larger synthetic set

  zsbench prepare ntu60 --root ~/data/nturgbd_skeletons
"""


@handle_errors
def prepare(
    dataset: str = typer.Argument(..., help=f"One of: {', '.join(DATASETS.names())}."),
    root: Path | None = typer.Option(None, "--root", help="Folder with the raw dataset files (real datasets)."),
    subjects: int = typer.Option(4, help="Synthetic: subjects drawn from each of the train and test subject lists."),
    frames: int = typer.Option(
        64, help="Frames per sample in the store (synthetic samples are generated at this length)."
    ),
    seed: int = typer.Option(0, help="Synthetic: generator seed."),
) -> None:
    from zsbench.data.prepare import prepare_real, prepare_synthetic
    from zsbench.data.synthetic.generator import SynthConfig

    spec = DATASETS.get(DATASETS.check(dataset))
    with progress_bar() as progress:
        if spec.synthetic:
            config = SynthConfig(family=spec.family, subjects_per_partition=subjects, frames=frames, seed=seed)
            path = prepare_synthetic(dataset, config, progress)
        else:
            path = prepare_real(dataset, root)
    stderr.print(f"prepared [bold]{dataset}[/] in {path}")
    stdout.print(str(path), highlight=False)


prepare.__doc__ = HELP
