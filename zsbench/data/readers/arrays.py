"""Preprocessed NTU arrays: the SGN / CTR-GCN ``.npz`` files and the ST-GCN / 2s-AGCN ``.npy`` + ``.pkl`` pairs.

Both loaders return skeletons in the toolkit layout (N, C=3, T, V=25, M=2) and 0-based int64 labels
(formats.md §6a, §6b).
"""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from zsbench.data import values
from zsbench.data.skeleton import MAX_BODIES, NUM_JOINTS
from zsbench.errors import DataError

CTRGCN_KEYS = ("x_train", "y_train", "x_test", "y_test")
FRAME_VALUES = MAX_BODIES * NUM_JOINTS * 3  # 150


def _labels_from(path: Path, key: str, y: np.ndarray, count: int) -> np.ndarray:
    """0-based labels from one-hot rows (N, classes); integer labels (N,) are accepted as they are."""
    if y.ndim == 1 and np.issubdtype(y.dtype, np.integer):
        labels = y.astype(np.int64)
    elif y.ndim == 2:
        if y.shape[1] == 0 or not (np.all(y.sum(axis=1) == 1) and np.all((y == 0) | (y == 1))):
            raise DataError(f"{path}: key {key!r} is not one-hot (each row one 1, the rest 0)")
        labels = y.argmax(axis=1).astype(np.int64)
    else:
        raise DataError(f"{path}: key {key!r} has shape {y.shape}, expected one-hot (N, classes)")
    if len(labels) != count:
        raise DataError(f"{path}: key {key!r} holds {len(labels)} labels for {count} samples")
    return labels


def _skeletons_from(path: Path, key: str, x: np.ndarray) -> np.ndarray:
    if x.ndim != 3 or x.shape[2] != FRAME_VALUES:
        raise DataError(f"{path}: key {key!r} has shape {x.shape}, expected (N, T, {FRAME_VALUES})")
    count, frames = x.shape[:2]
    return x.reshape(count, frames, MAX_BODIES, NUM_JOINTS, 3).transpose(0, 4, 1, 3, 2)


def load_ctrgcn_npz(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x_train, y_train, x_test, y_test) of an SGN / CTR-GCN file such as ``NTU60_CS.npz``.

    ``x_*`` (N, T, 150) body-major, then joint, then xyz, becomes (N, 3, T, 25, 2) (a transposed view, not a
    copy); one-hot ``y_*`` becomes 0-based int64. In a single-person sample body 2 is a copy of body 1, as the
    CTR-GCN scripts write it (``seq_transformation.align_frames`` stacks the body twice; formats.md §6b), and it
    is kept as it is in the file. Values are not checked here; :func:`zsbench.data.prepare.prepare_arrays` does.
    """
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile) as error:
        raise DataError(f"{path}: cannot read the .npz file ({error})") from error
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise DataError(f"{path}: a single array, expected an .npz archive with keys {list(CTRGCN_KEYS)}")
    with archive:
        missing = [key for key in CTRGCN_KEYS if key not in archive.files]
        if missing:
            raise DataError(f"{path}: keys {missing} are missing, expected {list(CTRGCN_KEYS)}")
        try:
            arrays = {key: archive[key] for key in CTRGCN_KEYS}
        except (OSError, ValueError, zipfile.BadZipFile) as error:
            raise DataError(f"{path}: cannot read the .npz file ({error})") from error
    result = []
    for part in ("train", "test"):
        x = _skeletons_from(path, f"x_{part}", arrays[f"x_{part}"])
        result += [x, _labels_from(path, f"y_{part}", arrays[f"y_{part}"], len(x))]
    x_train, y_train, x_test, y_test = result
    return x_train, y_train, x_test, y_test


def _load_pickle(path: Path) -> Any:
    try:
        with open(path, "rb") as handle:
            try:
                return pickle.load(handle)
            except UnicodeDecodeError:  # pickled by Python 2, as the oldest releases were
                handle.seek(0)
                return pickle.load(handle, encoding="latin1")
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError) as error:
        raise DataError(f"{path}: cannot read the label pickle ({error})") from error


def load_stgcn(data_path: Path, label_path: Path) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(skeletons, labels, names) of an ST-GCN / 2s-AGCN / MS-G3D pair such as ``train_data_joint.npy`` + ``train_label.pkl``.

    The skeletons (N, 3, T, 25, M) are memory-mapped. The pickle holds ``(names, labels)``; a third element
    (as some forks add) is ignored. Names keep their ``.skeleton`` suffix.
    """
    try:
        data = np.load(data_path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as error:
        raise DataError(f"{data_path}: cannot read the .npy file ({error})") from error
    if data.ndim != 5 or data.shape[1] != 3 or data.shape[3] != NUM_JOINTS:
        raise DataError(f"{data_path}: array has shape {data.shape}, expected (N, 3, T, 25, M)")
    content = _load_pickle(label_path)
    if not isinstance(content, (tuple, list)) or len(content) not in (2, 3):
        raise DataError(f"{label_path}: expected a pickled (names, labels) tuple, got {type(content).__name__}")
    names, raw_labels = content[0], content[1]
    if isinstance(raw_labels, np.ndarray):
        raw_labels = raw_labels.reshape(-1).tolist() if raw_labels.dtype.kind not in "iu" else raw_labels.reshape(-1)
    try:
        labels = values.integer_labels(raw_labels, lambda i: f"{label_path}: sample {i}")
        names = [str(name) for name in names]
    except TypeError as error:
        raise DataError(f"{label_path}: expected a sequence of names and a sequence of labels ({error})") from error
    if not len(names) == len(labels) == data.shape[0]:
        raise DataError(
            f"{label_path}: {len(names)} names and {len(labels)} labels for the {data.shape[0]} samples of {data_path}"
        )
    first_seen: dict[str, int] = {}
    for position, name in enumerate(names):
        if name in first_seen:
            raise DataError(
                f"{label_path}: sample {position}: name {name!r} repeats sample {first_seen[name]}; names must be unique"
            )
        first_seen[name] = position
    return data, labels, names
