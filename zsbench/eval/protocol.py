"""Data partitions for a split, and the guard that keeps unseen classes out of everything fitted.

A run has two folds. The *test fold* trains on the seen classes (training subjects) and is scored on
the test subjects: ZSL over the unseen classes, GZSL over all. The *validation fold* mirrors it inside
the seen classes only: it trains on the pseudo-seen classes of a subset of the training subjects and
is scored on the held-out training subjects (pseudo-unseen classes: on every training subject, by default),
with the pseudo-unseen classes playing the unseen role.
Model selection and GZSL calibration are decided on the validation fold, so under the ``strict``
protocol no unseen-class sample, label or text is touched before the final scoring.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import pandas as pd

from zsbench.data.datasets import DatasetSpec, partition_masks
from zsbench.errors import DataError, LeakError
from zsbench.seeding import numpy_rng
from zsbench.splits import ClassSplit


@dataclass(frozen=True)
class TrainingSet:
    """Sample indices and labels that a stage may fit on; only :func:`guarded_training_set` makes one."""

    indices: np.ndarray
    labels: np.ndarray
    classes: tuple[int, ...]
    stage: str

    def fingerprint(self) -> str:
        digest = hashlib.sha256(np.ascontiguousarray(self.indices, dtype=np.int64).tobytes())
        digest.update(repr(self.classes).encode())
        return digest.hexdigest()[:16]


def guarded_training_set(indices: np.ndarray, labels: np.ndarray, allowed: tuple[int, ...], stage: str) -> TrainingSet:
    """Raise a LeakError if any label lies outside ``allowed``; otherwise wrap the training data."""
    present = set(np.unique(labels).tolist())
    leaked = sorted(present - set(allowed))
    if leaked:
        raise LeakError(
            f"{stage}: classes {leaked} are not allowed here (allowed: the {len(allowed)} training classes)"
        )
    return TrainingSet(np.asarray(indices), np.asarray(labels), tuple(allowed), stage)


@dataclass(frozen=True)
class Fold:
    name: str  # "validation" or "test"
    train: TrainingSet
    seen: tuple[int, ...]  # classes trained on
    novel: tuple[int, ...]  # classes recognised zero-shot
    eval_indices: np.ndarray  # samples of seen + novel classes from the evaluation subjects
    eval_labels: np.ndarray

    @property
    def classes(self) -> tuple[int, ...]:
        return tuple(sorted(self.seen + self.novel))


@dataclass(frozen=True)
class Folds:
    validation: Fold
    test: Fold
    validation_subjects: tuple[int, ...]  # training subjects whose samples evaluate the validation fold


def make_folds(
    index: pd.DataFrame,
    spec: DatasetSpec,
    split: ClassSplit,
    partition: str,
    seed: int,
    validation_subject_fraction: float,
    unseen_from_all_subjects: bool = True,
) -> Folds:
    """The validation and test folds of ``split``.

    Validation evaluation: the pseudo-seen classes on the held-out training subjects; the pseudo-unseen classes
    on every training subject when ``unseen_from_all_subjects`` (none of their samples trains anything in the
    validation fold), else on the held-out subjects only.
    """
    labels = index["label"].to_numpy(dtype=np.int64)
    train_mask, test_mask = partition_masks(index, spec, partition)
    seen_mask = np.isin(labels, split.seen)
    unseen_mask = np.isin(labels, split.unseen)
    train_idx = np.flatnonzero(train_mask & seen_mask)
    if len(train_idx) == 0 or not (test_mask & unseen_mask).any():
        raise DataError(
            f"{spec.name}: the {partition} partition leaves no seen-class training samples or no unseen-class test "
            f"samples for split {split.name}"
        )
    test_idx = np.flatnonzero(test_mask)
    test = Fold(
        "test",
        guarded_training_set(train_idx, labels[train_idx], split.seen, "encoder and method training"),
        split.seen,
        split.unseen,
        test_idx,
        labels[test_idx],
    )

    rng = numpy_rng(seed, "validation-subjects", split.content_hash())
    subject_col = index["subject"].to_numpy()
    subjects = np.unique(subject_col[train_idx])
    if len(subjects) >= 2:
        held_count = min(max(1, round(len(subjects) * validation_subject_fraction)), len(subjects) - 1)
        held_out = tuple(sorted(int(s) for s in rng.choice(subjects, held_count, replace=False)))
        in_held = np.isin(subject_col, held_out)
    else:
        # No subject ids (e.g. CTR-GCN arrays): hold out a seeded fraction of the training samples instead.
        held_out = ()
        in_held = rng.random(len(index)) < validation_subject_fraction
    pseudo_seen, pseudo_unseen = split.validation_seen, split.validation_unseen
    val_train = np.flatnonzero(train_mask & ~in_held & np.isin(labels, pseudo_seen))
    pseudo_unseen_rows = np.isin(labels, pseudo_unseen) if unseen_from_all_subjects else np.zeros(len(labels), bool)
    val_eval = np.flatnonzero(train_mask & seen_mask & (in_held | pseudo_unseen_rows))
    validation = Fold(
        "validation",
        guarded_training_set(val_train, labels[val_train], pseudo_seen, "validation-fold training"),
        pseudo_seen,
        pseudo_unseen,
        val_eval,
        labels[val_eval],
    )
    if np.isin(validation.eval_labels, split.unseen).any():
        raise LeakError("validation fold evaluation contains unseen test classes")
    return Folds(validation, test, held_out)
