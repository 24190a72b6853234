"""Feature stores: pre-extracted per-split skeleton features (SynSE style) used instead of an encoder.

SynSE distributes, per split with k unseen classes, a folder ``shift_{k}_r/`` holding features of a
Shift-GCN trained on that split's seen classes: ``train.npy`` / ``train_label.npy`` (seen classes,
training subjects), ``gtest.npy`` / ``g_label.npy`` (all classes, test subjects; ``ztest`` is its
unseen part) and ``gtest_out.npy`` (the backbone's classifier logits). ``shift_val_{k}_r/`` holds the
same files for the validation version (trained on the pseudo-seen classes). ``zsbench prepare
ntu60-features --root DIR`` copies each folder into ``$ZSBENCH_HOME/datasets/NAME/<split>/``, through a
staging folder unique to the process (see :mod:`zsbench.data.staging`), so a failed prepare leaves nothing
and a later one never reuses its files.

Checks: every array finite; features 2-D with one integer label per row; labels within the family's
classes (train labels within the split's seen classes); train, test and validation features of one width;
logits one row per test sample.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from zsbench import __version__, splits
from zsbench.data import staging, values
from zsbench.data.store import write_json_atomic
from zsbench.errors import DataError
from zsbench.splits import ClassSplit

FORMAT_VERSION = 1
ARRAYS = {
    "train_features": "train.npy",
    "train_labels": "train_label.npy",
    "test_features": "gtest.npy",
    "test_labels": "g_label.npy",
}
OPTIONAL = {"test_logits": "gtest_out.npy"}


@dataclass
class SplitFeatures:
    train_features: np.ndarray
    train_labels: np.ndarray
    test_features: np.ndarray
    test_labels: np.ndarray
    test_logits: np.ndarray | None


def _folder_name(split_name: str) -> str:
    return split_name.replace(":", "_").replace("/", "-")


def _read_folder(folder: Path, family: str) -> dict[str, np.ndarray]:
    arrays: dict[str, np.ndarray] = {}
    for key, file_name in {**ARRAYS, **OPTIONAL}.items():
        path = folder / file_name
        if not path.is_file():
            if key in ARRAYS:
                raise DataError(f"{path} not found (a SynSE split folder holds {', '.join(ARRAYS.values())})")
            continue
        try:
            arrays[key] = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as error:
            raise DataError(f"{path}: not a readable .npy array ({error})") from error
    for part in ("train", "test"):
        feature_file, label_file = folder / ARRAYS[f"{part}_features"], folder / ARRAYS[f"{part}_labels"]
        features, labels = arrays[f"{part}_features"], arrays[f"{part}_labels"].reshape(-1)
        if features.ndim != 2 or len(features) != len(labels):
            raise DataError(
                f"{feature_file}: shape {features.shape}, expected (N, D) with one label per row in "
                f"{label_file.name} ({labels.shape[0]} labels)"
            )
        _finite(features, feature_file)
        arrays[f"{part}_labels"] = values.class_labels(labels, splits.NUM_CLASSES[family], family, _rows(label_file))
    train_width, test_width = arrays["train_features"].shape[1], arrays["test_features"].shape[1]
    if train_width != test_width:
        raise DataError(
            f"{folder / ARRAYS['test_features']}: features are {test_width} wide but "
            f"{ARRAYS['train_features']} has {train_width}; the parts of a split folder must agree in width (D)"
        )
    if "test_logits" in arrays:
        logits, logits_file = arrays["test_logits"], folder / OPTIONAL["test_logits"]
        if logits.ndim != 2 or len(logits) != len(arrays["test_features"]):
            raise DataError(
                f"{logits_file}: shape {logits.shape}, expected ({len(arrays['test_features'])}, classes): "
                f"one row per test sample of {ARRAYS['test_features']}"
            )
        _finite(logits, logits_file)
    return arrays


def _rows(path: Path) -> Callable[[int], str]:
    return lambda row: f"{path}: row {row}"


def _finite(array: np.ndarray, path: Path) -> None:
    if array.dtype.kind not in "fiu":
        raise DataError(f"{path}: dtype {array.dtype}, expected numbers")
    if array.dtype.kind == "f":
        values.finite(array, "error", lambda i: f"{path}: row {i[0]}, column {i[1]}", str(path))


def prepare_feature_store(root: Path, destination: Path, family: str, name: str) -> Path:
    """Copy SynSE-style split folders under ``root`` into a feature store, checking them against the splits."""
    pattern = re.compile(r"^shift_(\d+)_r$")
    found = sorted(p for p in root.iterdir() if p.is_dir() and pattern.match(p.name)) if root.is_dir() else []
    if not found:
        raise DataError(f"{root}: no SynSE split folders (shift_{{k}}_r/) found")
    work = staging.new_staging(destination.parent, destination.name)
    try:
        prepared = _copy_folders(root, found, work, family)
        manifest = {
            "name": name, "kind": "features", "family": family, "format_version": FORMAT_VERSION,
            "zsbench_version": __version__, "source": str(root), "splits": prepared,
        }  # fmt: skip
        write_json_atomic(work / "manifest.json", manifest)
        staging.swap_in(work, destination)
    except OSError as error:
        raise staging.disk_error(error, destination) from error
    finally:
        staging.discard(work)
    return destination


def _copy_folders(root: Path, found: list[Path], work: Path, family: str) -> list[str]:
    """Check each split folder and copy its arrays into ``work``; the names of the splits prepared."""
    pattern = re.compile(r"^shift_(\d+)_r$")
    prepared = []
    widths: dict[str, int] = {}
    for folder in found:
        unseen_count = int(pattern.match(folder.name).group(1))  # type: ignore[union-attr]
        candidates = [s for s in splits.available(family) if s.startswith("synse:")]
        split = next(
            (splits.resolve(s, family) for s in candidates if len(splits.resolve(s, family).unseen) == unseen_count),
            None,
        )
        if split is None:
            raise DataError(f"{folder}: no SynSE split of {family} has {unseen_count} unseen classes")
        arrays = _read_folder(folder, family)
        stray = sorted(set(arrays["train_labels"].tolist()) - set(split.seen))
        if stray:
            raise DataError(
                f"{folder}/train_label.npy: classes {stray} are unseen in {split.name}; wrong split folder?"
            )
        target = work / _folder_name(split.name)
        target.mkdir()
        for key, array in arrays.items():
            np.save(target / f"{key}.npy", array)
        widths[folder.name] = arrays["train_features"].shape[1]
        validation = root / f"shift_val_{unseen_count}_r"
        if validation.is_dir():
            validation_arrays = _read_folder(validation, family)
            width = validation_arrays["train_features"].shape[1]
            if width != widths[folder.name]:
                raise DataError(
                    f"{validation / ARRAYS['train_features']}: features are {width} wide but those of "
                    f"{folder.name} are {widths[folder.name]}; a split and its validation version must agree"
                )
            (target / "validation").mkdir()
            for key, array in validation_arrays.items():
                np.save(target / "validation" / f"{key}.npy", array)
        prepared.append(split.name)
    return prepared


def load_split_features(store: Path, split: ClassSplit, validation: bool = False) -> SplitFeatures | None:
    """The features of one split (or its validation version); None when the store has no validation version."""
    staging.recover(store.parent, store.name)
    manifest_path = store / "manifest.json"
    manifest: dict[str, Any] = json.loads(manifest_path.read_text())
    if split.name not in manifest["splits"]:
        raise DataError(f"{store}: no features for split {split.name}; it holds {', '.join(manifest['splits'])}")
    folder = store / _folder_name(split.name) / ("validation" if validation else "")
    if not folder.is_dir():
        return None
    logits = folder / "test_logits.npy"
    return SplitFeatures(
        train_features=np.load(folder / "train_features.npy"),
        train_labels=np.load(folder / "train_labels.npy"),
        test_features=np.load(folder / "test_features.npy"),
        test_labels=np.load(folder / "test_labels.npy"),
        test_logits=np.load(logits) if logits.is_file() else None,
    )


def checked_labels(raw: np.ndarray, family: str, path: Path) -> np.ndarray:
    """Labels of a feature bundle as int64 class indices: (N,) or (N, 1), integers or integral floats.

    Some bundles save labels as floats (1.0 for class 1); a float that is not a whole number is an error.
    """
    labels = np.asarray(raw)
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels.reshape(-1)
    if labels.ndim != 1:
        raise DataError(f"{path}: labels have shape {labels.shape}, expected (N,): one class index per row")
    if labels.dtype.kind == "f":
        whole = np.isfinite(labels) & (labels == np.round(labels))
        if not whole.all():
            row = int(np.flatnonzero(~whole)[0])
            raise DataError(f"{path}: row {row}: label is {labels[row]!r}, expected an integer class index")
        labels = labels.astype(np.int64)
    return values.class_labels(labels, splits.NUM_CLASSES[family], family, _rows(path))


def checked_features(features: np.ndarray, count: int, path: Path, labels_name: str) -> np.ndarray:
    """Features of a bundle as float32 (N, D), one row per label in ``labels_name``, every value finite."""
    if features.ndim != 2 or len(features) != count:
        raise DataError(
            f"{path}: shape {features.shape}, expected (N, D) with one row per label of {labels_name} ({count} labels)"
        )
    _finite(features, path)
    return np.asarray(features, dtype=np.float32)


def write_feature_store(
    destination: Path, manifest: dict[str, Any], parts: dict[str, tuple[SplitFeatures, SplitFeatures | None]]
) -> Path:
    """Write checked split features (split name -> (main, validation or None)) as a feature store.

    The layout is the one :func:`prepare_feature_store` writes and :func:`load_split_features` reads; ``manifest``
    adds to the fields every feature store has (name, kind, family, format version, splits).
    """
    work = staging.new_staging(destination.parent, destination.name)
    try:
        for split_name, (main, validation) in parts.items():
            target = work / _folder_name(split_name)
            for folder, features in ((target, main), (target / "validation", validation)):
                if features is None:
                    continue
                folder.mkdir(parents=True)
                for key, array in vars(features).items():
                    if array is not None:
                        np.save(folder / f"{key}.npy", array)
        full = {
            **manifest, "name": destination.name, "kind": "features", "format_version": FORMAT_VERSION,
            "zsbench_version": __version__, "splits": list(parts),
        }  # fmt: skip
        write_json_atomic(work / "manifest.json", full)
        staging.swap_in(work, destination)
    except OSError as error:
        raise staging.disk_error(error, destination) from error
    finally:
        staging.discard(work)
    return destination
