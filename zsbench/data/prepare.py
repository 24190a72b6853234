"""``zsbench prepare``: turn a dataset's source files into a prepared store.

Sources: the synthetic generator; raw NTU RGB+D ``.skeleton`` folders; PKU-MMD I (skeleton, label and
split folders); CTR-GCN ``.npz`` and ST-GCN ``.npy`` + ``.pkl`` arrays; pyskl / mmaction2 annotation pickles
(:func:`prepare_pyskl`, and :func:`export_pyskl` for the way back). Raw files are parsed in
parallel worker processes; the store is written through :class:`StoreWriter`, so an interrupted
``prepare`` leaves nothing that looks complete, and running it again starts cleanly.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from zsbench import paths
from zsbench.catalog import DATASETS
from zsbench.data import values
from zsbench.data.datasets import DatasetSpec
from zsbench.data.preprocess import PrepareOptions, to_fixed_length
from zsbench.data.readers import arrays, ntu, pku
from zsbench.data.store import RowFile, StoreWriter, write_json_atomic, write_store
from zsbench.errors import DataError, UsageError

if TYPE_CHECKING:  # the generator imports torch, which a raw-data prepare does not need at start-up
    from zsbench.data.synthetic.generator import SynthConfig

Progress = Callable[[str, int, int], None]
NTU60_SETUPS = 17
CHUNK = 16


def prepare_synthetic(name: str, config: SynthConfig, progress: Progress | None = None) -> Path:
    from zsbench.data.synthetic.generator import synth_samples

    spec = DATASETS.get(name)
    if not spec.synthetic:
        raise DataError(f"{name} is not a synthetic dataset")
    paths.require_writable(paths.datasets_dir(), "datasets")
    skeletons, rows = synth_samples(config, progress)
    index = pd.DataFrame(rows)
    manifest = {
        "family": spec.family,
        "source": "zsbench synthetic generator",
        "synthetic": True,
        "options": config.to_dict(),
        "preprocessing": {"frames": config.frames, "centre": False, "dtype": "float32"},
    }
    return write_store(paths.datasets_dir(), name, skeletons, index, manifest)


def _require_root(spec: DatasetSpec, root: Path | None) -> Path:
    if root is None or not root.is_dir() or not any(root.iterdir()):
        where = "no --root given" if root is None else f"--root {root} is missing or empty"
        raise DataError(
            f"{where}. {spec.summary}: {spec.how_to_obtain}. "
            f"To try zsbench without it, use the offline stand-in: zsbench prepare ntu60-synth"
        )
    return root


@dataclass(frozen=True)
class Parsed:
    """What a worker sends back for one input; its sample it has already written into the store's rows."""

    position: int
    frames: int
    bodies: int
    checksum: str
    error: str | None


def _parse_ntu(task: tuple[int, str, PrepareOptions, RowFile]) -> Parsed:
    position, file_name, options, rows = task
    path = Path(file_name)
    try:
        data = ntu.read_file(path)
        checksum = hashlib.sha256(data).hexdigest()
        sequence = ntu.select_bodies(ntu.parse_skeleton(path, options.non_finite, data))
        bodies = int((np.abs(sequence).sum(axis=(0, 2, 3)) > 0).sum())
        sample = to_fixed_length(sequence, options)
    except (DataError, OSError) as error:
        return Parsed(position, 0, 0, "", str(error))
    rows.write(position, sample)  # a failure here is the store's (the disk), not the input's: it propagates
    return Parsed(position, len(sequence), bodies, checksum, None)


def _parallel(tasks: list[Any], worker: Callable[[Any], Parsed], workers: int) -> Iterator[Parsed]:
    if workers <= 1:
        yield from map(worker, tasks)
        return
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        yield from pool.imap_unordered(worker, tasks, chunksize=CHUNK)


def _collect(
    writer: StoreWriter,
    rows: RowFile,
    results: Iterable[Parsed],
    count: int,
    describe: Callable[[int], str],
    skip_bad: bool,
    progress: Progress | None,
) -> tuple[np.ndarray, list[Parsed], list[dict[str, str]]]:
    """Gather the workers' reports (their samples are already in ``rows``); bad inputs abort or are listed.

    Only these small reports stay in memory, so memory is flat in the number of inputs.
    """
    kept: list[Parsed] = []
    skipped: list[dict[str, str]] = []
    for done, result in enumerate(results, 1):
        if result.error is not None:
            if not skip_bad:
                raise DataError(f"{result.error} (use --skip-bad to skip bad files and list them in the manifest)")
            skipped.append({"input": describe(result.position), "reason": result.error})
        else:
            kept.append(result)
        if progress is not None and (done % 64 == 0 or done == count):
            progress("parsing", done, count)
    array: np.ndarray = rows.mapped()
    if not kept:
        raise DataError("no usable samples were found")
    kept.sort(key=lambda r: r.position)
    if skipped:  # the kept samples, in order, into a second file that then replaces the first
        compact = writer.open_array(len(kept), array.shape[2], str(array.dtype), file_name="compact.npy")
        for row, result in enumerate(kept):
            compact[row] = array[result.position]
        del array
        writer.replace_array(compact, "compact.npy")
        array = compact
    return array, kept, skipped


def _ntu_files(folder: Path, family: str, skip_bad: bool) -> tuple[list[Path], list[dict[str, str]]]:
    """The ``.skeleton`` files under ``folder`` that belong to ``family``, and those refused by name.

    Names must match SsssCcccPpppRrrrAaaa with numbers valid for the family (ntu60: S001-S017 files are
    kept, later setups are the NTU-120 part and left out; A061 or P041 there is an error). A sample name
    found twice (in two subfolders) is an error.
    """
    kept: list[Path] = []
    refused: list[dict[str, str]] = []
    seen: dict[str, Path] = {}
    for path in sorted(folder.rglob("*.skeleton")):
        try:
            if not ntu.NAME_PATTERN.match(path.stem):
                raise DataError("file name does not match the name pattern SsssCcccPpppRrrrAaaa.skeleton")
            meta = ntu.parse_name(path.stem)
            if family == "ntu60" and meta.setup > NTU60_SETUPS:
                continue
            ntu.check_family(meta, family)
        except DataError as error:
            if not skip_bad:
                raise DataError(f"{path}: {error} (use --skip-bad to skip such files and list them)") from None
            refused.append({"input": str(path), "reason": str(error)})
            continue
        if path.stem in seen:
            raise DataError(f"{path}: sample {path.stem} is also {seen[path.stem]}; each sample must appear once")
        seen[path.stem] = path
        kept.append(path)
    return kept, refused


def prepare_ntu(
    name: str,
    root: Path | None,
    options: PrepareOptions,
    missing_list: Path | None = None,
    workers: int | None = None,
    skip_bad: bool = False,
    progress: Progress | None = None,
) -> Path:
    """A store from a folder of raw NTU RGB+D ``.skeleton`` files (searched recursively)."""
    spec = DATASETS.get(name)
    folder = _require_root(spec, root)
    files, bad_names = _ntu_files(folder, spec.family, skip_bad)
    missing = ntu.read_missing_list(missing_list) if missing_list is not None else set()
    files = [p for p in files if p.stem not in missing]
    if not files:
        raise DataError(f"{folder}: no NTU .skeleton files for {name} (searched recursively)")
    with StoreWriter(paths.datasets_dir(), name) as writer:
        store_rows = writer.open_rows(len(files), options.frames, options.dtype)
        tasks = [(position, str(path), options, store_rows) for position, path in enumerate(files)]
        results = _parallel(tasks, _parse_ntu, workers if workers is not None else (os.cpu_count() or 1))
        array, kept, skipped = _collect(
            writer, store_rows, results, len(files), lambda i: str(files[i]), skip_bad, progress
        )
        rows = []
        for result in kept:
            meta = ntu.parse_name(files[result.position].stem)
            rows.append(
                {"sample": meta.stem, "label": meta.label, "subject": meta.subject, "camera": meta.camera,
                 "setup": meta.setup, "replication": meta.replication, "frames": result.frames, "bodies": result.bodies}
            )  # fmt: skip
        manifest = {
            "family": spec.family,
            "source": f"raw NTU RGB+D .skeleton files under {folder}",
            "synthetic": False,
            "preprocessing": {
                **options.to_dict(),
                "bodies": "SGN/CTR-GCN denoising (zsbench.data.readers.ntu.select_bodies)",
            },
            "missing_list": str(missing_list) if missing_list else None,
            "excluded_as_missing": len(missing),
            "inputs": [{"file": files[r.position].name, "sha256": r.checksum} for r in kept],
            "skipped": skipped + bad_names,
        }
        return writer.finish(array, pd.DataFrame(rows), manifest)


def _parse_pku(task: tuple[tuple[int, str, str, int, int, PrepareOptions], RowFile]) -> Parsed:
    (position, skeleton_file, label_file, segment_number, frame_base, options), rows = task
    try:
        skeleton = pku.read_skeleton(Path(skeleton_file), options.non_finite)
        segment = pku.read_labels(Path(label_file))[segment_number]
        piece = pku.cut_segments(skeleton, [segment], frame_base, source=skeleton_file, label_file=label_file)[0]
        bodies = int((np.abs(piece).sum(axis=(0, 2, 3)) > 0).sum())
        sample = to_fixed_length(piece, options)
    except (DataError, OSError) as error:
        return Parsed(position, 0, 0, "", str(error))
    rows.write(position, sample)
    return Parsed(position, len(piece), bodies, "", None)


def prepare_pku(
    root: Path | None,
    options: PrepareOptions,
    frame_base: int = 0,
    workers: int | None = None,
    skip_bad: bool = False,
    progress: Progress | None = None,
) -> Path:
    """A store of PKU-MMD I action segments: one sample per labelled interval of every video.

    PKU-MMD file names carry no subject id; the 3 views (L, M, R) of one sequence number share their
    performers, so the sequence number stands in for the subject (it groups samples for validation).
    """
    spec = DATASETS.get("pku-mmd")
    if frame_base not in (0, 1):
        raise UsageError(f"--frame-base is {frame_base}, expected 0 or 1 (the base of the label files' frame indices)")
    folder = _require_root(spec, root)
    skeleton_dir, label_dir, split_dir = (
        folder / "PKU_Skeleton_Renew",
        folder / "Train_Label_PKU_final",
        folder / "Split",
    )
    for needed in (skeleton_dir, label_dir, split_dir / "cross-subject.txt", split_dir / "cross-view.txt"):
        if not needed.exists():
            raise DataError(
                f"{needed} not found; --root must hold PKU_Skeleton_Renew/, Train_Label_PKU_final/ and Split/"
            )
    partitions = {}
    for partition, file_name in (("xsub", "cross-subject.txt"), ("xview", "cross-view.txt")):
        train, test = pku.read_split(split_dir / file_name)
        partitions[partition] = {**{v: "train" for v in train}, **{v: "test" for v in test}}
    tasks: list[tuple[int, str, str, int, int, PrepareOptions]] = []
    rows: list[dict[str, Any]] = []
    for label_file in sorted(label_dir.glob("*.txt")):
        video = label_file.stem
        for number, segment in enumerate(pku.read_labels(label_file)):
            tasks.append((len(tasks), str(skeleton_dir / f"{video}.txt"), str(label_file), number, frame_base, options))
            rows.append(
                {"sample": f"{video}#{number:02d}", "label": segment.label, "subject": int(video.split("-")[0]),
                 "camera": pku.CAMERAS.get(video.split("-")[-1], 0), "setup": 0, "replication": number,
                 "confidence": segment.confidence,
                 **{f"partition_{p}": lists.get(video, "unlisted") for p, lists in partitions.items()}}
            )  # fmt: skip
    if not tasks:
        raise DataError(f"{label_dir}: no label files")
    unlisted = sorted({str(r["sample"]).split("#")[0] for r in rows if "unlisted" in _partition_values(r)})
    with StoreWriter(paths.datasets_dir(), "pku-mmd") as writer:
        store_rows = writer.open_rows(len(tasks), options.frames, options.dtype)
        results = _parallel(
            [(task, store_rows) for task in tasks],
            _parse_pku,
            workers if workers is not None else (os.cpu_count() or 1),
        )
        array, kept, skipped = _collect(
            writer, store_rows, results, len(tasks), lambda i: str(rows[i]["sample"]), skip_bad, progress
        )
        index = pd.DataFrame([{**rows[r.position], "frames": r.frames, "bodies": r.bodies} for r in kept])
        manifest = {
            "family": spec.family,
            "source": f"PKU-MMD I under {folder}",
            "synthetic": False,
            "preprocessing": {**options.to_dict(), "frame_base": frame_base, "segments": "half-open [start, end)"},
            "inputs": sorted({Path(t[1]).name for t in tasks}),
            "unlisted_videos": unlisted,
            "skipped": skipped,
        }
        return writer.finish(array, index, manifest)


def _partition_values(row: dict[str, Any]) -> list[Any]:
    return [value for key, value in row.items() if key.startswith("partition_")]


def _finite_sample(data: np.ndarray, position: int, options: PrepareOptions, name: str) -> np.ndarray:
    """Sample ``position`` (3, T, 25, M) of an array as float32, checked under the non-finite policy.

    ``name`` says where it is ("FILE: key 'x_train', sample 3") in an error.
    """
    with np.errstate(over="ignore"):
        sample = np.array(data[position], dtype=np.float32)

    def where(index: tuple[int, ...]) -> str:
        channel, frame, joint, body = index
        return f"{name}: frame {frame}, joint {joint + 1}, body {body + 1}, coordinate {'xyz'[channel]}"

    values.finite(sample, options.non_finite, where, name)
    return sample


def _check_labels(labels: np.ndarray, family: str, source: str) -> np.ndarray:
    from zsbench.splits import NUM_CLASSES

    return values.class_labels(labels, NUM_CLASSES[family], family, lambda i: f"{source}: sample {i}")


def prepare_arrays(
    name: str,
    npz: Path | None = None,
    stgcn: tuple[Path, Path] | None = None,
    partition: str = "xsub",
    options: PrepareOptions | None = None,
) -> Path:
    """A store from preprocessed arrays: a CTR-GCN ``.npz`` (its train/test become the partition) or ST-GCN
    ``*_data_joint.npy`` + ``*_label.pkl`` (names give subjects, cameras and setups)."""
    spec = DATASETS.get(name)
    options = options or PrepareOptions()
    if npz is not None:
        x_train, y_train, x_test, y_test = arrays.load_ctrgcn_npz(npz)
        y_train = _check_labels(y_train, spec.family, f"{npz}: key 'y_train'")
        y_test = _check_labels(y_test, spec.family, f"{npz}: key 'y_test'")
        data = np.concatenate([x_train, x_test])
        labels = np.concatenate([y_train, y_test])
        split = ["train"] * len(x_train) + ["test"] * len(x_test)
        # CTR-GCN arrays carry no names: sample order stands in; subjects are unknown (-1).
        index = pd.DataFrame(
            {"sample": [f"{npz.stem}#{i}" for i in range(len(data))], "label": labels, "subject": -1, "camera": -1,
             "setup": -1, "replication": -1, f"partition_{partition}": split}
        )  # fmt: skip
        source = f"CTR-GCN arrays {npz}"
        train_count = len(x_train)

        def describe(i: int) -> str:
            part, row = ("x_train", i) if i < train_count else ("x_test", i - train_count)
            return f"{npz}: key {part!r}, sample {row}"

    elif stgcn is not None:
        data, labels, names = arrays.load_stgcn(*stgcn)
        labels = _check_labels(labels, spec.family, str(stgcn[1]))
        metas = _stgcn_names(names, labels, spec.family, stgcn[1])
        index = pd.DataFrame(
            {"sample": [m.stem for m in metas], "label": labels, "subject": [m.subject for m in metas],
             "camera": [m.camera for m in metas], "setup": [m.setup for m in metas],
             "replication": [m.replication for m in metas]}
        )  # fmt: skip
        source = f"ST-GCN arrays {stgcn[0]} + {stgcn[1]}"
        data_path = stgcn[0]

        def describe(i: int) -> str:
            return f"{data_path}: sample {i}"

    else:
        raise DataError("give a CTR-GCN .npz or an ST-GCN data .npy and label .pkl")
    frames_present = np.zeros(len(data), dtype=np.int64)
    with StoreWriter(paths.datasets_dir(), name) as writer:
        array = writer.open_array(len(data), options.frames, options.dtype)
        for position in range(len(data)):
            sample = _finite_sample(data, position, options, describe(position))  # (3, T, 25, 2)
            frames_present[position] = int((np.abs(sample).sum(axis=(0, 2, 3)) > 0).sum())
            valid = sample[:, : max(int(frames_present[position]), 1)].transpose(1, 3, 2, 0)
            array[position] = to_fixed_length(valid, options)
        index["frames"] = frames_present
        manifest = {"family": spec.family, "source": source, "synthetic": False, "preprocessing": options.to_dict()}
        return writer.finish(array, index, manifest)


def _stgcn_names(names: list[str], labels: np.ndarray, family: str, label_path: Path) -> list[ntu.SampleName]:
    """Parse the sample names of an ST-GCN label pickle; each must fit the family and agree with its label."""
    metas = []
    for position, name in enumerate(names):
        try:
            meta = ntu.parse_name(name.removesuffix(".skeleton"))
            ntu.check_family(meta, family)
        except DataError as error:
            raise DataError(f"{label_path}: sample {position}: {error}") from None
        if meta.label != labels[position]:
            raise DataError(
                f"{label_path}: sample {position}: label is {labels[position]} but the name {name!r} says action "
                f"A{meta.label + 1:03d} (label {meta.label}, 0-based)"
            )
        metas.append(meta)
    return metas


SMIE_FILES = ("seen_train_data.npy", "seen_train_label.npy", "unseen_data.npy", "unseen_label.npy")


def prepare_smie_splits(name: str, root: Path | None, options: PrepareOptions | None = None) -> Path:
    """Per-split stores from SMIE/PGFA ``split_{i}/`` folders of raw skeleton arrays (N, 3, 50, 25, 2).

    Each folder holds one random split's seen-class training samples and unseen-class test samples, and
    becomes ``$ZSBENCH_HOME/datasets/NAME/smie_{i}/``, usable only with split ``smie:{i}``. The arrays carry no
    seen-class test samples (so GZSL is undefined on them) and no subject ids (the validation fold holds out
    training samples instead of subjects).
    """
    spec = DATASETS.get(name)
    folder = _require_root(spec, root)
    options = options or PrepareOptions(frames=50)
    found = sorted(p for p in folder.iterdir() if p.is_dir() and re.fullmatch(r"split_\d+", p.name))
    if not found:
        raise DataError(f"{folder}: no split_{{i}}/ folders")
    destination = paths.datasets_dir() / name
    prepared = []
    for split_folder in found:
        number = split_folder.name.split("_")[1]
        split = _smie_split(spec, number, split_folder)
        arrays = {}
        for file_name in SMIE_FILES:
            path = split_folder / file_name
            if not path.is_file():
                raise DataError(f"{path} not found (an SMIE split folder holds {', '.join(SMIE_FILES)})")
            arrays[file_name] = np.load(path, mmap_mode="r")
        seen_labels = np.asarray(arrays["seen_train_label.npy"]).reshape(-1).astype(np.int64)
        unseen_labels = np.asarray(arrays["unseen_label.npy"]).reshape(-1).astype(np.int64)
        for labels, expected, file_name in (
            (seen_labels, split.seen, "seen_train_label.npy"),
            (unseen_labels, split.unseen, "unseen_label.npy"),
        ):
            stray = sorted(set(labels.tolist()) - set(expected))
            if stray:
                raise DataError(f"{split_folder / file_name}: classes {stray} do not belong there in {split.name}")
        data = [arrays["seen_train_data.npy"], arrays["unseen_data.npy"]]
        for array, file_name in zip(data, ("seen_train_data.npy", "unseen_data.npy"), strict=True):
            if array.ndim != 5 or array.shape[1] != 3 or array.shape[3:] != (25, 2):
                raise DataError(f"{split_folder / file_name}: shape {array.shape}, expected (N, 3, T, 25, 2)")
        labels = np.concatenate([seen_labels, unseen_labels])
        partition = ["train"] * len(seen_labels) + ["test"] * len(unseen_labels)
        index = pd.DataFrame(
            {"sample": [f"{split_folder.name}#{i}" for i in range(len(labels))], "label": labels, "subject": -1,
             "camera": -1, "setup": -1, "replication": -1, "partition_xsub": partition}
        )  # fmt: skip
        with StoreWriter(destination, f"smie_{number}") as writer:
            out = writer.open_array(len(labels), options.frames, options.dtype)
            position = 0
            for array, file_name in zip(data, ("seen_train_data.npy", "unseen_data.npy"), strict=True):
                for row in range(len(array)):
                    sample = _finite_sample(array, row, options, f"{split_folder / file_name}: sample {row}")
                    frames = max(int((np.abs(sample).sum(axis=(0, 2, 3)) > 0).sum()), 1)
                    out[position] = to_fixed_length(sample[:, :frames].transpose(1, 3, 2, 0), options)
                    position += 1
            index["frames"] = options.frames
            writer.finish(out, index, {"family": spec.family, "source": str(split_folder), "split": split.name,
                                       "synthetic": False, "preprocessing": options.to_dict()})  # fmt: skip
        prepared.append(split.name)
    _write_split_manifest(destination, name, spec.family, prepared)
    return destination


def _smie_split(spec: DatasetSpec, number: str, folder: Path) -> Any:
    from zsbench import splits

    try:
        return splits.resolve(f"smie:{number}", spec.family)
    except UsageError as error:
        raise DataError(f"{folder}: SMIE split {number} is not a {spec.family} split ({error})") from error


def _write_split_manifest(destination: Path, name: str, family: str, prepared: list[str]) -> None:
    manifest = {"name": name, "kind": "split-skeletons", "family": family, "splits": prepared}
    write_json_atomic(destination / "manifest.json", manifest)


def prepare_pyskl(name: str, file: Path, options: PrepareOptions, progress: Progress | None = None) -> Path:
    """A store from a pyskl / mmaction2 annotation pickle (``ntu60_3danno.pkl``, ``ntu120_3danno.pkl``).

    The pickle is the user's own, trusted file (unpickling runs code); its content is checked against the
    documented structure (:mod:`zsbench.data.readers.pyskl`). Its ``{partition}_train`` / ``{partition}_val``
    lists become the store's ``partition_{partition}`` columns (samples in neither list: ``unlisted``); a partition
    of the dataset the pickle does not list follows the NTU rules on the sample names. For ntu60, NTU-120 samples
    (setups S018 and later) are left out and counted in the manifest, as the raw-file reader leaves them out.
    """
    from zsbench.data.readers import pyskl
    from zsbench.splits import NUM_CLASSES

    spec = DATASETS.get(name)
    if spec.kind != "skeletons" or spec.synthetic or spec.family not in ntu.FAMILY_LIMITS:
        raise UsageError(f"--pyskl reads NTU RGB+D annotation pickles: use it with ntu60 or ntu120, not {name}")
    if not file.is_file():
        raise DataError(f"{file}: not found (expected a pyskl annotation pickle such as ntu60_3danno.pkl)")
    digest = pyskl.file_digest(file)
    split, annotations = pyskl.check_structure(pyskl.load_pickle(file), file)
    later_setups = {
        position for position, item in enumerate(annotations)
        if spec.family == "ntu60" and isinstance(item, dict) and _setup_of(item.get("frame_dir")) > NTU60_SETUPS
    }  # fmt: skip
    count = len(annotations) - len(later_setups)
    if count == 0:
        raise DataError(f"{file}: key 'annotations' holds no {spec.family} sample (all are NTU-120 setups S018+)")
    rows: list[dict[str, Any]] = []
    with StoreWriter(paths.datasets_dir(), name) as writer:
        array = writer.open_array(count, options.frames, options.dtype)
        for sample in pyskl.read_samples(annotations, file, options.non_finite):
            if sample.position in later_setups:
                continue
            where = f"{file}: annotations[{sample.position}]"
            if not 0 <= sample.label < NUM_CLASSES[spec.family]:
                raise DataError(
                    f"{where}: key 'label' is {sample.label}, expected 0..{NUM_CLASSES[spec.family] - 1} "
                    f"(0-based; {spec.family} has {NUM_CLASSES[spec.family]} classes)"
                )
            if sample.meta is not None:
                try:
                    ntu.check_family(sample.meta, spec.family)
                except DataError as error:
                    raise DataError(f"{where}: key 'frame_dir': {error}") from None
            meta = sample.meta
            array[len(rows)] = to_fixed_length(sample.sequence, options)
            rows.append(
                {"sample": sample.name, "label": sample.label, "subject": meta.subject if meta else -1,
                 "camera": meta.camera if meta else -1, "setup": meta.setup if meta else -1,
                 "replication": meta.replication if meta else -1, "frames": len(sample.sequence),
                 "bodies": int((np.abs(sample.sequence).sum(axis=(0, 2, 3)) > 0).sum())}
            )  # fmt: skip
            if progress is not None and (len(rows) % 256 == 0 or len(rows) == count):
                progress("converting", len(rows), count)
        del annotations
        index = pd.DataFrame(rows)
        partitions, other_splits = pyskl.partitions_from_split(split, set(index["sample"]), file)
        unlisted = {}
        for partition, roles in sorted(partitions.items()):
            index[f"partition_{partition}"] = [roles.get(s, "unlisted") for s in index["sample"]]
            unlisted[partition] = int((index[f"partition_{partition}"] == "unlisted").sum())
        manifest = {
            "family": spec.family,
            "source": f"pyskl annotation pickle {file}",
            "synthetic": False,
            "preprocessing": {**options.to_dict(), "bodies": "as in the pickle (the first 2)"},
            "inputs": [{"file": file.name, "sha256": digest}],
            "pickle_partitions": sorted(partitions),
            "pickle_other_splits": other_splits,
            "unlisted_samples": unlisted,
            "left_out_ntu120_setups": len(later_setups),
        }
        return writer.finish(array, index, manifest)


def _setup_of(frame_dir: object) -> int:
    stem = Path(frame_dir).name.removesuffix(".skeleton") if isinstance(frame_dir, str) else ""
    match = ntu.NAME_PATTERN.match(stem)
    return int(match.group(1)) if match else 0


def export_pyskl(name: str, out: Path, progress: Progress | None = None) -> int:
    """Write the prepared store ``name`` as a pyskl annotation pickle at ``out``; the number of samples written.

    Each partition of the dataset becomes ``{partition}_train`` and ``{partition}_val`` lists (pyskl's names).
    Samples keep the store's length T, except in a store prepared with ``--temporal pad``, where the zero tail
    after the sample's own frames is cut (pyskl samples frames within ``total_frames``).
    """
    from zsbench.data.datasets import partition_masks
    from zsbench.data.readers import pyskl
    from zsbench.data.store import load_store

    spec = DATASETS.get(name)
    if spec.kind != "skeletons":
        raise UsageError(f"{name} is a {spec.kind} dataset; only skeleton stores (one array) can be exported")
    if not out.parent.is_dir():
        raise DataError(f"{out.parent}: the output folder does not exist")
    store = load_store(paths.datasets_dir(), name, spec.prepare_command())
    index = store.index
    length = store.skeletons.shape[2]
    if store.manifest.get("preprocessing", {}).get("temporal") == "pad":
        frames = np.clip(index["frames"].to_numpy(dtype=np.int64), 1, length)
    else:
        frames = np.full(len(index), length, dtype=np.int64)
    names = [str(s) for s in index["sample"]]
    split: dict[str, list[str]] = {}
    for partition in spec.partitions:
        try:
            train, test = partition_masks(index, spec, partition)
        except DataError:  # a store without what defines this partition: export the others
            continue
        split[f"{partition}_train"] = [n for n, keep in zip(names, train, strict=True) if keep]
        split[f"{partition}_val"] = [n for n, keep in zip(names, test, strict=True) if keep]
    return pyskl.write_pyskl(out, store.skeletons, names, store.labels, frames, split, progress)
