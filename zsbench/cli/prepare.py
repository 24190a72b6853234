from __future__ import annotations

from pathlib import Path

import typer

from zsbench.catalog import DATASETS
from zsbench.cli.common import handle_errors, progress_bar, stderr, stdout

HELP = f"""Turn a dataset's files into a prepared store under $ZSBENCH_HOME/datasets/NAME.

Datasets: {", ".join(DATASETS.names())}.

Examples:

  zsbench prepare ntu60-synth                                   # offline stand-in, seconds

  zsbench prepare ntu60-synth --subjects 10 --write-skeletons out/   # also write real-format .skeleton files

  zsbench prepare ntu60 --root ~/data/nturgbd_skeletons --missing NTU_RGBD_samples_with_missing_skeletons.txt

  zsbench prepare pku-mmd --root ~/data/pku-mmd                 # PKU_Skeleton_Renew/, Train_Label_PKU_final/, Split/

  zsbench prepare ntu60 --npz NTU60_CS.npz                      # CTR-GCN arrays

  zsbench prepare ntu60-smie --root data/zeroshot/ntu60 --frames 50   # SMIE/PGFA split_{{i}}/ skeleton arrays

  zsbench prepare ntu60-features --root synse_resources/ntu_results   # SynSE shift_{{k}}_r/ feature folders
"""


@handle_errors
def prepare(
    dataset: str = typer.Argument(..., help=f"One of: {', '.join(DATASETS.names())}."),
    root: Path | None = typer.Option(None, "--root", help="Folder with the raw dataset files (real datasets)."),
    missing: Path | None = typer.Option(None, help="NTU missing-skeleton list; the named samples are excluded."),
    npz: Path | None = typer.Option(None, help="CTR-GCN style NTU60_CS.npz instead of raw files."),
    stgcn_data: Path | None = typer.Option(None, help="ST-GCN style *_data_joint.npy (with --stgcn-label)."),
    stgcn_label: Path | None = typer.Option(None, help="ST-GCN style *_label.pkl (with --stgcn-data)."),
    frames: int = typer.Option(64, help="Frames per stored sample."),
    temporal: str = typer.Option(
        "resample", help="resample (interpolate to --frames) or pad (first frames, zero tail)."
    ),
    centre: bool = typer.Option(False, "--centre", help="Subtract actor 1's SpineMid in its first frame."),
    dtype: str = typer.Option("float32", help="float32 or float16."),
    frame_base: int = typer.Option(0, help="PKU-MMD: base of the label files' frame indices (0 or 1)."),
    workers: int | None = typer.Option(None, help="Parser processes (default: all CPUs)."),
    skip_bad: bool = typer.Option(False, "--skip-bad", help="Skip unreadable files and list them in the manifest."),
    subjects: int = typer.Option(4, help="Synthetic: subjects drawn from each of the train and test subject lists."),
    seed: int = typer.Option(0, help="Synthetic: generator seed."),
    write_skeletons: Path | None = typer.Option(
        None, help="Synthetic: also write every sample as a .skeleton file here."
    ),
) -> None:
    from zsbench.data import prepare as build
    from zsbench.data.preprocess import PrepareOptions
    from zsbench.data.synthetic.generator import SynthConfig
    from zsbench.errors import UsageError

    spec = DATASETS.get(DATASETS.check(dataset))
    with progress_bar() as progress:
        if spec.synthetic:
            config = SynthConfig(family=spec.family, subjects_per_partition=subjects, frames=frames, seed=seed)
            path = build.prepare_synthetic(dataset, config, progress)
            if write_skeletons is not None:
                from zsbench.data.synthetic.skeleton_files import write_synthetic_skeletons

                written = write_synthetic_skeletons(config, write_skeletons, progress=progress)
                stderr.print(f"wrote {written} .skeleton files to {write_skeletons}")
        elif spec.kind == "split-skeletons":
            path = build.prepare_smie_splits(dataset, root, PrepareOptions(frames=frames, dtype=dtype))
        elif spec.kind == "features":
            from zsbench import paths
            from zsbench.data.features import prepare_feature_store

            if root is None:
                raise UsageError(f"{dataset} needs --root: a folder of SynSE-style shift_{{k}}_r/ split folders")
            path = prepare_feature_store(root, paths.datasets_dir() / dataset, spec.family, dataset)
        else:
            options = PrepareOptions(frames=frames, temporal=temporal, centre=centre, dtype=dtype)
            if npz is not None or stgcn_data is not None:
                if (stgcn_data is None) != (stgcn_label is None):
                    raise UsageError("--stgcn-data and --stgcn-label go together")
                pair = (stgcn_data, stgcn_label) if stgcn_data is not None and stgcn_label is not None else None
                path = build.prepare_arrays(dataset, npz=npz, stgcn=pair, options=options)
            elif spec.family == "pku51":
                path = build.prepare_pku(root, options, frame_base, workers, skip_bad, progress)
            else:
                path = build.prepare_ntu(dataset, root, options, missing, workers, skip_bad, progress)
    stderr.print(f"prepared [bold]{dataset}[/] in {path}")
    stdout.print(str(path), highlight=False)


prepare.__doc__ = HELP
