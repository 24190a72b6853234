from __future__ import annotations

from pathlib import Path

import typer

from zsbench.catalog import DATASETS
from zsbench.cli.common import handle_errors, progress_bar, stderr, stdout

HELP = """Write a prepared skeleton store in another toolkit's format.

--pyskl OUT.pkl writes a pyskl / mmaction2 annotation pickle (the ntu60_3danno.pkl format: 'split' with
{partition}_train / {partition}_val lists, 'annotations' with frame_dir, label, keypoint (M, T, 25, 3),
total_frames), so the store can feed an mmaction2 or pyskl training.

Examples:

  zsbench export ntu60 --pyskl ntu60_zsbench.pkl

  zsbench export ntu60-synth --pyskl synth.pkl
"""


@handle_errors
def export(
    dataset: str = typer.Argument(..., help=f"A prepared store: {', '.join(DATASETS.names())}."),
    pyskl_out: Path | None = typer.Option(None, "--pyskl", help="Write a pyskl / mmaction2 annotation pickle here."),
) -> None:
    from zsbench.data.prepare import export_pyskl
    from zsbench.errors import UsageError

    DATASETS.check(dataset)
    if pyskl_out is None:
        raise UsageError("say what to write: --pyskl OUT.pkl")
    with progress_bar() as progress:
        count = export_pyskl(dataset, pyskl_out, progress)
    stderr.print(f"wrote {count} samples of [bold]{dataset}[/] to {pyskl_out}")
    stdout.print(str(pyskl_out), highlight=False)


export.__doc__ = HELP
