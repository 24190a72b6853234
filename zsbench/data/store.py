"""The prepared store: one folder per dataset under ``$ZSBENCH_HOME/datasets/``.

Layout::

    NAME/skeletons.npy   float32|float16 (N, 3, T, 25, 2), read by memory map
    NAME/index.csv       one row per sample: sample, label, subject, camera, setup, replication, frames, ...
    NAME/manifest.json   source, options, counts, content hash; written last

A store is built in a hidden sibling folder and swapped into place when complete (see
:mod:`zsbench.data.staging`), so an interrupted ``prepare`` never leaves a folder that looks finished, and a
``prepare`` that replaces a store never leaves a moment without a valid one.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from zsbench import __version__
from zsbench.atomic import write_atomic
from zsbench.data import staging
from zsbench.data.skeleton import MAX_BODIES, NUM_JOINTS
from zsbench.errors import DataError

FORMAT_VERSION = 1
REQUIRED_COLUMNS = ("sample", "label", "subject", "camera", "setup", "replication", "frames")


@dataclass
class SkeletonStore:
    path: Path
    skeletons: np.ndarray  # (N, 3, T, 25, 2), memory-mapped
    index: pd.DataFrame
    manifest: dict[str, Any]

    @property
    def name(self) -> str:
        return str(self.manifest["name"])

    @property
    def labels(self) -> np.ndarray:
        return self.index["label"].to_numpy(dtype=np.int64)

    @property
    def content_hash(self) -> str:
        return str(self.manifest["content_hash"])


def store_path(root: Path, name: str) -> Path:
    return root / name


def is_complete(path: Path) -> bool:
    return (path / "manifest.json").is_file()


@dataclass(frozen=True)
class RowFile:
    """Where the rows of a store's ``.npy`` array lie in its file; small and picklable, so worker processes
    write their own rows (with ``os.pwrite``) and send back only what the index and manifest need.

    Rows written through a memory map stay in the writer's resident memory until the map is closed, so a
    large prepare would look (and, under memory pressure, behave) as if it held the whole array; written
    this way they go to the page cache only.
    """

    path: str
    offset: int  # bytes before row 0 (the .npy header)
    row_shape: tuple[int, ...]
    dtype: str

    def write(self, position: int, row: np.ndarray) -> None:
        if row.shape != self.row_shape:
            raise ValueError(f"row of shape {row.shape}, expected {self.row_shape}")
        data = np.ascontiguousarray(row, dtype=self.dtype).tobytes()
        descriptor = os.open(self.path, os.O_WRONLY)
        try:
            if os.pwrite(descriptor, data, self.offset + position * len(data)) != len(data):
                raise OSError(f"{self.path}: short write at row {position}")
        finally:
            os.close(descriptor)

    def mapped(self) -> np.ndarray:
        """The array as a read-write memory map, once the rows are written."""
        return np.load(self.path, mmap_mode="r+")


class StoreWriter:
    """Build a store in a hidden staging folder; :meth:`finish` swaps it into place.

    Leaving the ``with`` block without ``finish`` (an error, Ctrl-C) removes the staging folder, so
    nothing that looks like a store is left behind; an OSError met while writing (a full disk) becomes a
    DataError.
    """

    def __init__(self, root: Path, name: str) -> None:
        self.root, self.name = root, name
        self.staging = staging.new_staging(root, name)
        self.finished = False

    def __enter__(self) -> StoreWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: object) -> None:
        if not self.finished:
            staging.discard(self.staging)
        if isinstance(error, OSError) and not isinstance(error, FileNotFoundError):
            raise staging.disk_error(error, self.root / self.name) from error

    def open_array(self, count: int, frames: int, dtype: str, file_name: str = "skeletons.npy") -> np.ndarray:
        """A writable memory map (count, 3, frames, 25, 2) inside the staging folder, its disk space reserved.

        The space is allocated up front, so a full disk is an error here, not a SIGBUS while writing.
        """
        shape = (count, 3, frames, NUM_JOINTS, MAX_BODIES)
        size = int(np.prod(shape)) * np.dtype(dtype).itemsize
        staging.require_space(self.root, size, f"store {self.name}")
        path = self.staging / file_name
        array = np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=shape)
        if hasattr(os, "posix_fallocate") and size:
            with open(path, "r+b") as handle:
                os.posix_fallocate(handle.fileno(), 0, os.path.getsize(path))
        return array

    def open_rows(self, count: int, frames: int, dtype: str, file_name: str = "skeletons.npy") -> RowFile:
        """Like :meth:`open_array`, but written row by row with positional writes (see :class:`RowFile`)."""
        array = self.open_array(count, frames, dtype, file_name)
        assert isinstance(array, np.memmap)
        rows = RowFile(str(self.staging / file_name), array.offset, array.shape[1:], str(array.dtype))
        del array
        return rows

    def replace_array(self, array: np.ndarray, file_name: str) -> None:
        """Make the staging file ``file_name`` (written through :meth:`open_array`) the store's array."""
        if isinstance(array, np.memmap):
            array.flush()
        os.replace(self.staging / file_name, self.staging / "skeletons.npy")

    def finish(self, skeletons: np.ndarray, index: pd.DataFrame, manifest: dict[str, Any]) -> Path:
        _check_arrays(skeletons, index, source=f"store {self.name}")
        if not isinstance(skeletons, np.memmap):
            staging.require_space(self.root, skeletons.nbytes, f"store {self.name}")
            np.save(self.staging / "skeletons.npy", skeletons)
        else:
            skeletons.flush()
        index.to_csv(self.staging / "index.csv", index=False)
        full_manifest = {
            "name": self.name,
            "format_version": FORMAT_VERSION,
            "zsbench_version": __version__,
            "num_samples": len(index),
            "array_shape": list(skeletons.shape),
            "dtype": str(skeletons.dtype),
            "counts_per_label": {str(k): int(v) for k, v in index["label"].value_counts().sort_index().items()},
            **manifest,
            "content_hash": _content_hash(self.staging),
        }
        write_json_atomic(self.staging / "manifest.json", full_manifest)
        final = store_path(self.root, self.name)
        staging.swap_in(self.staging, final)
        self.finished = True
        return final


def write_store(root: Path, name: str, skeletons: np.ndarray, index: pd.DataFrame, manifest: dict[str, Any]) -> Path:
    """Write a complete in-memory store atomically and return its path (replacing a store of that name)."""
    _check_arrays(skeletons, index, source=f"store {name}")
    with StoreWriter(root, name) as writer:
        return writer.finish(skeletons, index, manifest)


def load_store(root: Path, name: str, prepare_hint: str) -> SkeletonStore:
    """Open a prepared store; a missing or incomplete one is a DataError naming the prepare command."""
    staging.recover(root, name)
    path = store_path(root, name)
    if not is_complete(path):
        raise DataError(f"dataset {name!r} is not prepared (no {path / 'manifest.json'}). Run: {prepare_hint}")
    manifest_file = path / "manifest.json"
    try:
        manifest = json.loads(manifest_file.read_text())
    except json.JSONDecodeError as error:
        raise DataError(f"{manifest_file}: not valid JSON ({error})") from error
    if manifest.get("format_version") != FORMAT_VERSION:
        raise DataError(
            f"{manifest_file}: field 'format_version' is {manifest.get('format_version')!r}, "
            f"expected {FORMAT_VERSION}; re-run: {prepare_hint}"
        )
    try:
        skeletons = np.load(path / "skeletons.npy", mmap_mode="r")
        index = pd.read_csv(path / "index.csv")
    except (OSError, ValueError) as error:
        raise DataError(f"{path}: cannot read store files ({error}); re-run: {prepare_hint}") from error
    _check_arrays(skeletons, index, source=str(path))
    return SkeletonStore(path, skeletons, index, manifest)


def _check_arrays(skeletons: np.ndarray, index: pd.DataFrame, source: str) -> None:
    if skeletons.ndim != 5 or skeletons.shape[1] != 3 or skeletons.shape[3:] != (NUM_JOINTS, MAX_BODIES):
        raise DataError(f"{source}: skeleton array has shape {skeletons.shape}, expected (N, 3, T, 25, 2)")
    missing = [c for c in REQUIRED_COLUMNS if c not in index.columns]
    if missing:
        raise DataError(f"{source}: index table lacks columns {missing}")
    if len(index) != skeletons.shape[0]:
        raise DataError(f"{source}: index has {len(index)} rows but the array holds {skeletons.shape[0]} samples")


def _content_hash(folder: Path) -> str:
    digest = hashlib.blake2b(digest_size=16)
    for file_name in ("skeletons.npy", "index.csv"):
        with open(folder / file_name, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 22), b""):
                digest.update(block)
    return digest.hexdigest()


def write_json_atomic(path: Path, content: dict[str, Any]) -> None:
    text = json.dumps(content, indent=2, sort_keys=True)
    try:
        write_atomic(path, text)
    except OSError as error:
        raise staging.disk_error(error, path) from error
