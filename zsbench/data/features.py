"""Feature stores: pre-extracted per-split skeleton features (SynSE style) used instead of an encoder.

SynSE distributes, per split with k unseen classes, a folder ``shift_{k}_r/`` holding features of a
Shift-GCN trained on that split's seen classes: ``train.npy`` / ``train_label.npy`` (seen classes,
training subjects), ``gtest.npy`` / ``g_label.npy`` (all classes, test subjects; ``ztest`` is its
unseen part) and ``gtest_out.npy`` (the backbone's classifier logits). ``shift_val_{k}_r/`` holds the
same files for the validation version (trained on the pseudo-seen classes). ``zsbench prepare
ntu60-features --root DIR`` copies each folder into ``$ZSBENCH_HOME/datasets/NAME/<split>/``.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from zsbench import __version__, splits
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


def _read_folder(folder: Path) -> dict[str, np.ndarray]:
    arrays: dict[str, np.ndarray] = {}
    for key, file_name in {**ARRAYS, **OPTIONAL}.items():
        path = folder / file_name
        if not path.is_file():
            if key in ARRAYS:
                raise DataError(f"{path} not found (a SynSE split folder holds {', '.join(ARRAYS.values())})")
            continue
        try:
            arrays[key] = np.load(path)
        except ValueError as error:
            raise DataError(f"{path}: not a readable .npy array ({error})") from error
    for part in ("train", "test"):
        features, labels = arrays[f"{part}_features"], arrays[f"{part}_labels"].reshape(-1)
        if features.ndim != 2 or len(features) != len(labels) or not np.isfinite(features).all():
            raise DataError(
                f"{folder}: {ARRAYS[f'{part}_features']} must be a finite (N, D) array with one label per row "
                f"in {ARRAYS[f'{part}_labels']}; found {features.shape} and {labels.shape}"
            )
        arrays[f"{part}_labels"] = labels.astype(np.int64)
    return arrays


def prepare_feature_store(root: Path, destination: Path, family: str, name: str) -> Path:
    """Copy SynSE-style split folders under ``root`` into a feature store, checking them against the splits."""
    pattern = re.compile(r"^shift_(\d+)_r$")
    found = sorted(p for p in root.iterdir() if p.is_dir() and pattern.match(p.name)) if root.is_dir() else []
    if not found:
        raise DataError(f"{root}: no SynSE split folders (shift_{{k}}_r/) found")
    staging = destination.with_name(f".{destination.name}.partial")
    staging.mkdir(parents=True, exist_ok=True)
    prepared = []
    for folder in found:
        unseen_count = int(pattern.match(folder.name).group(1))  # type: ignore[union-attr]
        candidates = [s for s in splits.available(family) if s.startswith("synse:")]
        split = next(
            (splits.resolve(s, family) for s in candidates if len(splits.resolve(s, family).unseen) == unseen_count),
            None,
        )
        if split is None:
            raise DataError(f"{folder}: no SynSE split of {family} has {unseen_count} unseen classes")
        arrays = _read_folder(folder)
        stray = sorted(set(arrays["train_labels"].tolist()) - set(split.seen))
        if stray:
            raise DataError(
                f"{folder}/train_label.npy: classes {stray} are unseen in {split.name}; wrong split folder?"
            )
        target = staging / _folder_name(split.name)
        target.mkdir(exist_ok=True)
        for key, array in arrays.items():
            np.save(target / f"{key}.npy", array)
        validation = root / f"shift_val_{unseen_count}_r"
        if validation.is_dir():
            (target / "validation").mkdir(exist_ok=True)
            for key, array in _read_folder(validation).items():
                np.save(target / "validation" / f"{key}.npy", array)
        prepared.append(split.name)
    manifest = {
        "name": name, "kind": "features", "family": family, "format_version": FORMAT_VERSION,
        "zsbench_version": __version__, "source": str(root), "splits": prepared,
    }  # fmt: skip
    write_json_atomic(staging / "manifest.json", manifest)
    if destination.exists():
        shutil.rmtree(destination)
    staging.rename(destination)
    return destination


def load_split_features(store: Path, split: ClassSplit, validation: bool = False) -> SplitFeatures | None:
    """The features of one split (or its validation version); None when the store has no validation version."""
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
