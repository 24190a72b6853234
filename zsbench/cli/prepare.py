from __future__ import annotations

from pathlib import Path

import typer

from zsbench.catalog import DATASETS
from zsbench.cli.common import handle_errors, progress_bar, stderr, stdout

HELP = f"""Turn a dataset's files into a prepared store under $ZSBENCH_HOME/datasets/NAME.

Datasets: {", ".join(DATASETS.names())}.

Examples:

  zsbench prepare ntu60-synth                                   # offline stand-in, seconds

  zsbench prepare ntu60-synth --test-subjects 4 --write-skeletons out/   # also write real-format .skeleton files

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
    centre: bool = typer.Option(
        False, "--centre", help="Subtract actor 1's SpineMid in actor 1's first present frame (CTR-GCN style)."
    ),
    dtype: str = typer.Option("float32", help="float32 or float16."),
    frame_base: int = typer.Option(0, help="PKU-MMD: base of the label files' frame indices (0 or 1)."),
    workers: int | None = typer.Option(None, help="Parser processes (default: all CPUs)."),
    skip_bad: bool = typer.Option(
        False, "--skip-bad", help="Skip unreadable or wrongly named raw files and list them in the manifest."
    ),
    non_finite: str = typer.Option(
        "error", help="A nan/inf coordinate: error (default, names the file and line) or zero (set to 0, recorded)."
    ),
    train_subjects: int = typer.Option(5, help="Synthetic: subjects drawn from the cross-subject training list."),
    test_subjects: int = typer.Option(17, help="Synthetic: subjects drawn from the cross-subject test list."),
    seed: int = typer.Option(0, help="Synthetic: generator seed."),
    write_skeletons: Path | None = typer.Option(
        None, help="Synthetic: also write every sample as a .skeleton file here."
    ),
) -> None:
    from zsbench.data import prepare as build
    from zsbench.data.preprocess import PrepareOptions
    from zsbench.data.synthetic.generator import SynthConfig
    from zsbench.errors import DataError, UsageError

    spec = DATASETS.get(DATASETS.check(dataset))
    if frame_base not in (0, 1):
        raise UsageError(f"--frame-base is {frame_base}, expected 0 or 1")
    try:
        with progress_bar() as progress:
            if spec.synthetic:
                config = SynthConfig(
                    family=spec.family,
                    train_subjects=train_subjects,
                    test_subjects=test_subjects,
                    frames=frames,
                    seed=seed,
                )
                path = build.prepare_synthetic(dataset, config, progress)
                if write_skeletons is not None:
                    from zsbench.data.synthetic.skeleton_files import write_synthetic_skeletons

                    written = write_synthetic_skeletons(config, write_skeletons, progress=progress)
                    stderr.print(f"wrote {written} .skeleton files to {write_skeletons}")
            elif spec.kind == "split-skeletons":
                options = PrepareOptions(frames=frames, dtype=dtype, non_finite=non_finite)
                path = build.prepare_smie_splits(dataset, root, options)
            elif spec.kind == "features":
                from zsbench import paths
                from zsbench.data.features import prepare_feature_store

                if root is None:
                    raise UsageError(f"{dataset} needs --root: a folder of SynSE-style shift_{{k}}_r/ split folders")
                path = prepare_feature_store(root, paths.datasets_dir() / dataset, spec.family, dataset)
            else:
                options = PrepareOptions(
                    frames=frames, temporal=temporal, centre=centre, dtype=dtype, non_finite=non_finite
                )
                if npz is not None or stgcn_data is not None:
                    if (stgcn_data is None) != (stgcn_label is None):
                        raise UsageError("--stgcn-data and --stgcn-label go together")
                    pair = (stgcn_data, stgcn_label) if stgcn_data is not None and stgcn_label is not None else None
                    path = build.prepare_arrays(dataset, npz=npz, stgcn=pair, options=options)
                elif spec.family == "pku51":
                    path = build.prepare_pku(root, options, frame_base, workers, skip_bad, progress)
                else:
                    path = build.prepare_ntu(dataset, root, options, missing, workers, skip_bad, progress)
    except OSError as error:  # what the store writer did not already explain (an input that vanished, ...)
        raise DataError(f"{error.filename or dataset}: {error.strerror or error}") from error
    _warn_from_manifest(path / "manifest.json")
    stderr.print(f"prepared [bold]{dataset}[/] in {path}")
    stdout.print(str(path), highlight=False)


def _warn_from_manifest(manifest_file: Path) -> None:
    """Say what the prepared store's manifest records as left out: skipped inputs, videos in no split list."""
    import json

    manifest = json.loads(manifest_file.read_text()) if manifest_file.is_file() else {}
    skipped = manifest.get("skipped") or []
    if skipped:
        stderr.print(f"[yellow]warning:[/] skipped {len(skipped)} bad inputs (listed in {manifest_file}):")
        for entry in skipped[:5]:
            stderr.print(f"  {entry['input']}: {entry['reason']}", markup=False, highlight=False)
    unlisted = manifest.get("unlisted_videos") or []
    if unlisted:
        shown = ", ".join(unlisted[:10]) + (" ..." if len(unlisted) > 10 else "")
        stderr.print(
            f"[yellow]warning:[/] {len(unlisted)} videos are in no split list, so their samples belong to no "
            f"partition: {shown}",
            highlight=False,
        )


prepare.__doc__ = HELP
