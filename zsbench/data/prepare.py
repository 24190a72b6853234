"""``zsbench prepare``: turn a dataset's source into a prepared store."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd

from zsbench import paths
from zsbench.catalog import DATASETS
from zsbench.data.store import write_store
from zsbench.data.synthetic.generator import SynthConfig, synth_samples
from zsbench.errors import DataError

Progress = Callable[[str, int, int], None]


def prepare_synthetic(name: str, config: SynthConfig, progress: Progress | None = None) -> Path:
    spec = DATASETS.get(name)
    if not spec.synthetic:
        raise DataError(f"{name} is not a synthetic dataset")
    skeletons, rows = synth_samples(config, progress)
    index = pd.DataFrame(rows)
    manifest = {
        "family": spec.family,
        "source": "zsbench synthetic generator",
        "synthetic": True,
        "options": config.to_dict(),
        "preprocessing": {"frames": config.frames, "centred": False, "dtype": "float32"},
    }
    return write_store(paths.datasets_dir(), name, skeletons, index, manifest)


def prepare_real(name: str, root: Path | None) -> Path:
    spec = DATASETS.get(name)
    if root is None or not root.is_dir() or not any(root.iterdir()):
        where = "no --root given" if root is None else f"--root {root} is missing or empty"
        raise DataError(
            f"{where}. {spec.summary}: {spec.how_to_obtain}. "
            f"To try zsbench without it, use the offline stand-in: zsbench prepare ntu60-synth"
        )
    raise DataError(f"reading the real {name} files is not implemented yet in this version of zsbench")
