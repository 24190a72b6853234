"""Dataset specifications: what each dataset name means and how its partitions are defined."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from zsbench.errors import DataError, UsageError
from zsbench.families import FAMILIES
from zsbench.split_settings import is_random

NTU_XVIEW_TRAIN_CAMERAS = (2, 3)


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset name as the CLI knows it.

    ``family`` selects the class list and the splits (``ntu60``, ``ntu120``, ``pku51``);
    ``partitions`` are the train/test partitions the dataset defines, the first being the default.
    """

    name: str
    family: str
    summary: str
    partitions: tuple[str, ...]
    synthetic: bool = False
    how_to_obtain: str = ""
    kind: str = "skeletons"  # skeletons (one store) | split-skeletons (one store per split) | features (per split)
    target: str = "recorded-skeletons"  # how `zsbench prepare` makes its store (zsbench.data.targets.TARGETS)

    @property
    def default_partition(self) -> str:
        return self.partitions[0]

    def default_backbone(self, split_setting: str) -> str:
        """The encoder every method of a run reads unless the run names another (one backbone per table).

        Synthetic sets: ``jointmix``, fast enough to train on a CPU. Real data: the backbone the seed methods'
        released code used for the split setting — the SMIE-size ST-GCN on random splits (SMIE, SA-DVAE,
        PGFA setting 1), Shift-GCN on fixed class lists (SynSE, PURLS, STAR; PGFA setting 2, Neuron).
        Feature stores bring their own features and train no encoder.
        """
        if self.kind == "features":
            return "features"
        if self.synthetic:
            return "jointmix"
        return "stgcn" if is_random(split_setting) else "shiftgcn"

    def prepare_command(self) -> str:
        return f"zsbench prepare {self.name}" + ("" if self.synthetic else " --root DIR")


def partition_masks(index: pd.DataFrame, spec: DatasetSpec, partition: str) -> tuple[np.ndarray, np.ndarray]:
    """Boolean (train, test) masks over the store's samples for one of the dataset's partitions.

    A store may carry an explicit ``partition_<name>`` column of ``train``/``test`` values (PKU-MMD's
    official lists); otherwise the NTU rules apply to the ``subject``, ``camera`` and ``setup`` columns.
    """
    if partition not in spec.partitions:
        raise UsageError(f"dataset {spec.name} has no partition {partition!r}; valid: {', '.join(spec.partitions)}")
    column = f"partition_{partition}"
    if column in index.columns:
        values = index[column].to_numpy()
        return values == "train", values == "test"
    if partition == "xsub":
        subjects = FAMILIES[spec.family].xsub_train_subjects
        train = index["subject"].isin(subjects).to_numpy()
    elif partition == "xview":
        train = index["camera"].isin(NTU_XVIEW_TRAIN_CAMERAS).to_numpy()
    elif partition == "xset":
        train = (index["setup"] % 2 == 0).to_numpy()
    else:
        raise DataError(f"the store of {spec.name} has no column {column!r} to define partition {partition!r}")
    return train, ~train
