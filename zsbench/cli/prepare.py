from __future__ import annotations

from pathlib import Path
from typing import Any

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

  zsbench prepare ntu60 --pyskl ntu60_3danno.pkl                # pyskl / mmaction2 annotation pickle (trusted file)

  zsbench prepare ntu60-sadvae --root resources                 # SA-DVAE (and TDSM) sk_feats/ + label_splits/

  zsbench prepare ntu60-flora --root skeleton_features          # Flora's bundle: synse/sadave/flora_features

  zsbench prepare ntu60-star --root skeleton_features           # Flora's bundle: star/starsmie_features (xsub)
"""


@handle_errors
def prepare(
    dataset: str = typer.Argument(..., help=f"One of: {', '.join(DATASETS.names())}."),
    root: Path | None = typer.Option(None, "--root", help="Folder with the raw dataset files (real datasets)."),
    missing: Path | None = typer.Option(None, help="NTU missing-skeleton list; the named samples are excluded."),
    npz: Path | None = typer.Option(None, help="CTR-GCN style NTU60_CS.npz instead of raw files."),
    stgcn_data: Path | None = typer.Option(None, help="ST-GCN style *_data_joint.npy (with --stgcn-label)."),
    stgcn_label: Path | None = typer.Option(None, help="ST-GCN style *_label.pkl (with --stgcn-data)."),
    pyskl_file: Path | None = typer.Option(
        None, "--pyskl", help="pyskl / mmaction2 annotation pickle (ntu60_3danno.pkl); your own trusted file."
    ),
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
    from zsbench.data.preprocess import PrepareOptions
    from zsbench.data.targets import PrepareRequest, prepare_dataset
    from zsbench.errors import DataError, UsageError

    spec = DATASETS.get(DATASETS.check(dataset))
    if frame_base not in (0, 1):
        raise UsageError(f"--frame-base is {frame_base}, expected 0 or 1")
    options = PrepareOptions(frames=frames, temporal=temporal, centre=centre, dtype=dtype, non_finite=non_finite)
    request = PrepareRequest(
        root=root, missing=missing, npz=npz, stgcn_data=stgcn_data, stgcn_label=stgcn_label, pyskl=pyskl_file,
        options=options, frame_base=frame_base, workers=workers, skip_bad=skip_bad, train_subjects=train_subjects,
        test_subjects=test_subjects, seed=seed, write_skeletons=write_skeletons,
    )  # fmt: skip
    try:
        with progress_bar() as progress:
            prepared = prepare_dataset(spec, request, progress)
    except OSError as error:  # what the store writer did not already explain (an input that vanished, ...)
        raise DataError(f"{error.filename or dataset}: {error.strerror or error}") from error
    for message in prepared.messages:
        stderr.print(message)
    path = prepared.path
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
    _warn_imports(manifest, manifest_file)


def _warn_imports(manifest: dict[str, Any], manifest_file: Path) -> None:
    """Say what a pyskl import or a feature-bundle import left out (all of it is listed in the manifest)."""
    unlisted = manifest.get("unlisted_samples") or {}
    for partition, count in unlisted.items():
        if count:
            stderr.print(f"[yellow]warning:[/] {count} samples are in neither {partition}_train nor {partition}_val")
    later = manifest.get("left_out_ntu120_setups")
    if later:
        stderr.print(f"left out {later} samples of NTU-120 setups (S018+), which are not part of NTU-60")
    for entry in manifest.get("unmatched_splits") or []:
        stderr.print(
            f"[yellow]warning:[/] {entry['source']}: its unseen classes {entry['unseen']} match no zsbench split; "
            f"not imported (listed in {manifest_file})",
            highlight=False,
        )
    not_imported = manifest.get("not_imported") or []
    if not_imported:
        stderr.print(f"not imported ({len(not_imported)}, listed in {manifest_file}): " + "; ".join(not_imported[:5]))


prepare.__doc__ = HELP
