"""pyskl / mmaction2 skeleton annotation pickles (``ntu60_3danno.pkl``, ``ntu120_3danno.pkl``; formats.md §6d).

The file is a pickled dict: ``split`` maps split names (``xsub_train``, ``xsub_val``, ``xview_train``,
``xset_val``, ...) to lists of ``frame_dir`` names, and ``annotations`` is a list of dicts with ``frame_dir``
(str, the NTU sample name), ``label`` (0-based int), ``keypoint`` ((M, T, 25, 3) float, float16 in pyskl's
``tools/data/ntu_preproc.py``) and ``total_frames`` (T). pyskl's own dataset keeps the annotations whose
``frame_dir`` is listed under the chosen split name.

Reading a pickle runs code the file names: it must be the user's own, trusted file (one made by pyskl's
``ntu_preproc.py`` or by :func:`write_pyskl`). Whatever it turns out to hold is checked against the structure
above and rejected (a DataError naming the file, the key and the expectation) if it is anything else.

:func:`write_pyskl` writes a store in the same format so that it can feed an mmaction2 / pyskl training: one
annotation per sample (body 2 left out where it is all zeros, as pyskl writes single-person samples), and for each
of the dataset's partitions the lists ``{partition}_train`` and ``{partition}_val``.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from zsbench.data import values
from zsbench.data.readers import ntu
from zsbench.data.skeleton import MAX_BODIES, NUM_JOINTS
from zsbench.errors import DataError

ANNOTATION_KEYS = ("frame_dir", "label", "keypoint", "total_frames")
PARTITION_ENDINGS = {"train": "train", "val": "test", "test": "test"}  # pyskl names its test lists *_val
PICKLE_PROTOCOL = 4  # files over 4 GB (NTU-120) need protocol 4; Python 3.4+ and every pyskl version read it
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class PysklSample:
    """One checked annotation: its sequence as (T, M, 25, 3) float32 and what its name says."""

    position: int
    name: str
    label: int
    sequence: np.ndarray
    meta: ntu.SampleName | None  # None when frame_dir is not an NTU sample name


def load_pickle(path: Path) -> Any:
    """The object in ``path`` (a trusted file: unpickling runs the code it names), errors as DataError."""
    try:
        with open(path, "rb") as handle:
            return pickle.load(handle)
    except OSError as error:
        raise DataError(f"{path}: cannot read the pyskl annotation file ({error.strerror or error})") from error
    except Exception as error:  # a pickle can raise anything while it loads; none of it is a usable file
        raise DataError(
            f"{path}: not a readable pickle ({type(error).__name__}: {error}); expected a pyskl annotation file, "
            "a dict with keys 'split' and 'annotations'"
        ) from error


def check_structure(content: Any, path: Path) -> tuple[dict[str, list[str]], list[Any]]:
    """The ``split`` dict and the ``annotations`` list of a loaded file, after checking the top-level structure."""
    if not isinstance(content, dict):
        raise DataError(
            f"{path}: holds a {type(content).__name__}, expected a dict with keys 'split' and 'annotations' "
            "(a pyskl annotation file)"
        )
    for key in ("split", "annotations"):
        if key not in content:
            raise DataError(
                f"{path}: key {key!r} is missing; a pyskl annotation file has keys 'split' and 'annotations'"
            )
    split, annotations = content["split"], content["annotations"]
    if not isinstance(split, dict):
        raise DataError(f"{path}: key 'split' is a {type(split).__name__}, expected a dict of split name -> names")
    checked: dict[str, list[str]] = {}
    for name, members in split.items():
        if not isinstance(name, str) or not isinstance(members, (list, tuple)):
            raise DataError(
                f"{path}: key 'split', entry {name!r}: a {type(members).__name__}, expected a list of frame_dir names"
            )
        bad = next((m for m in members if not isinstance(m, str)), None)
        if bad is not None:
            raise DataError(f"{path}: key 'split', entry {name!r}: holds {bad!r}, expected frame_dir names (str)")
        checked[name] = list(members)
    if not isinstance(annotations, list):
        raise DataError(f"{path}: key 'annotations' is a {type(annotations).__name__}, expected a list of dicts")
    if not annotations:
        raise DataError(f"{path}: key 'annotations' is an empty list, expected one dict per sample")
    return checked, annotations


def check_annotation(item: Any, position: int, path: Path, non_finite: str) -> tuple[str, int, np.ndarray]:
    """(frame_dir, label, keypoint as (T, M, 25, 3) float32) of ``annotations[position]``, checked."""
    where = f"{path}: annotations[{position}]"
    if not isinstance(item, dict):
        raise DataError(f"{where} is a {type(item).__name__}, expected a dict with keys {list(ANNOTATION_KEYS)}")
    missing = [key for key in ANNOTATION_KEYS if key not in item]
    if missing:
        raise DataError(f"{where}: key {missing[0]!r} is missing, expected keys {list(ANNOTATION_KEYS)}")
    name, label, keypoint, total = (item[key] for key in ANNOTATION_KEYS)
    if not isinstance(name, str) or not name:
        raise DataError(f"{where}: key 'frame_dir' is {name!r}, expected the sample name (str)")
    if isinstance(label, bool) or not isinstance(label, (int, np.integer)):
        raise DataError(f"{where}: key 'label' is {label!r} ({type(label).__name__}), expected an integer class index")
    if not isinstance(keypoint, np.ndarray) or keypoint.dtype.kind != "f":
        kind = keypoint.dtype if isinstance(keypoint, np.ndarray) else type(keypoint).__name__
        raise DataError(f"{where}: key 'keypoint' is {kind}, expected a float array (M, T, 25, 3)")
    if keypoint.ndim != 4 or keypoint.shape[0] < 1 or keypoint.shape[1] < 1 or keypoint.shape[2:] != (NUM_JOINTS, 3):
        raise DataError(
            f"{where}: key 'keypoint' has shape {keypoint.shape}, expected (M, T, 25, 3) with M, T >= 1 "
            "(3-D NTU joints; 2-D keypoints with keypoint_score are not skeleton data zsbench reads)"
        )
    if isinstance(total, bool) or not isinstance(total, (int, np.integer)) or int(total) != keypoint.shape[1]:
        raise DataError(
            f"{where}: key 'total_frames' is {total!r}, expected the keypoint's frame count {keypoint.shape[1]}"
        )
    sequence = np.asarray(keypoint, dtype=np.float32).transpose(1, 0, 2, 3)

    def at(index: tuple[int, ...]) -> str:
        frame, body, joint, channel = index
        return (
            f"{where}: key 'keypoint', body {body + 1}, frame {frame}, joint {joint + 1}, coordinate {'xyz'[channel]}"
        )

    sequence = np.array(sequence)  # writable for the zero policy
    values.finite(sequence, non_finite, at, where)
    return name, int(label), sequence


def partitions_from_split(
    split: dict[str, list[str]], names: set[str], path: Path
) -> tuple[dict[str, dict[str, str]], list[str]]:
    """Per partition (``xsub`` from ``xsub_train`` + ``xsub_val``) each listed name's role (train/test).

    Returns the partitions and the split entries that are not ``{partition}_{train|val|test}`` pairs. A name
    listed as both train and test of one partition is an error; names no annotation carries are ignored.
    """
    roles: dict[str, dict[str, str]] = {}
    other = []
    for key, members in split.items():
        prefix, _, ending = key.rpartition("_")
        if not prefix or ending not in PARTITION_ENDINGS:
            other.append(key)
            continue
        role = PARTITION_ENDINGS[ending]
        table = roles.setdefault(prefix, {})
        for member in members:
            if member not in names:
                continue
            if table.get(member, role) != role:
                raise DataError(
                    f"{path}: key 'split': {member!r} is listed for both training and testing of partition {prefix!r}"
                )
            table[member] = role
    complete = {p: t for p, t in roles.items() if {"train", "test"} <= set(t.values())}
    other += [f"{p}_*" for p in roles if p not in complete]
    return complete, other


def read_samples(annotations: list[Any], path: Path, non_finite: str) -> Iterator[PysklSample]:
    """Check and yield each annotation; each entry of ``annotations`` is released once it has been read."""
    seen: dict[str, int] = {}
    for position in range(len(annotations)):
        name, label, sequence = check_annotation(annotations[position], position, path, non_finite)
        annotations[position] = None  # the caller keeps only the converted sample: never two full copies
        if name in seen:
            raise DataError(f"{path}: annotations[{position}]: frame_dir {name!r} repeats annotations[{seen[name]}]")
        seen[name] = position
        stem = Path(name).name.removesuffix(".skeleton")
        meta = ntu.parse_name(stem) if ntu.NAME_PATTERN.match(stem) else None
        if meta is not None and meta.label != label:
            raise DataError(
                f"{path}: annotations[{position}]: key 'label' is {label} but frame_dir {name!r} says action "
                f"A{meta.label + 1:03d} (label {meta.label}, 0-based)"
            )
        yield PysklSample(position, name, label, sequence, meta)


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def export_keypoint(sample: np.ndarray, frames: int) -> np.ndarray:
    """A store sample (3, T, 25, 2) as a pyskl keypoint (M, frames, 25, 3); an all-zero body 2 is left out."""
    keypoint = np.ascontiguousarray(np.asarray(sample)[:, :frames].transpose(3, 1, 2, 0))
    bodies = MAX_BODIES if np.any(keypoint[1:] != 0) else 1
    return keypoint[:bodies].copy()


class _StreamedList:
    """Pickles as a plain ``list`` whose items are made one at a time while the file is written.

    pickle's reduce protocol takes an iterator of items to append (``listitems``); the file loads as an ordinary
    list and names no zsbench class.
    """

    def __init__(self, items: Iterator[Any]) -> None:
        self.items = items

    def __reduce__(self) -> tuple[Any, ...]:
        return (list, (), None, self.items)


def write_pyskl(
    out: Path,
    skeletons: np.ndarray,
    names: list[str],
    labels: np.ndarray,
    frames: np.ndarray,
    split: dict[str, list[str]],
    progress: Progress | None = None,
) -> int:
    """Write a pyskl annotation pickle atomically (a temporary file renamed into place); the number of samples.

    ``frames`` gives each sample's exported length (at most the store's T). Annotations are made from the store
    sample by sample while the file is written, and the pickler keeps no memo of them (``fast`` mode; nothing
    here is shared or recursive), so no copy of the whole set is ever held in memory.
    """

    def annotations() -> Iterator[dict[str, Any]]:
        for row, (name, label) in enumerate(zip(names, labels, strict=True)):
            keypoint = export_keypoint(skeletons[row], int(frames[row]))
            yield {"frame_dir": name, "label": int(label), "keypoint": keypoint, "total_frames": int(keypoint.shape[1])}
            if progress is not None and ((row + 1) % 256 == 0 or row + 1 == len(names)):
                progress("exporting", row + 1, len(names))

    temporary = out.with_name(f".{out.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(temporary, "wb") as handle:
            pickler = pickle.Pickler(handle, protocol=PICKLE_PROTOCOL)
            pickler.fast = True  # no memo: written annotations are freed at once
            pickler.dump({"split": split, "annotations": _StreamedList(annotations())})
        os.replace(temporary, out)
    except OSError as error:
        raise DataError(f"{out}: cannot write ({error.strerror or error}); nothing half-written was kept") from error
    finally:
        temporary.unlink(missing_ok=True)
    return len(names)
