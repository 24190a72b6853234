from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from zsbench.catalog import DATASETS
from zsbench.errors import LeakError
from zsbench.eval.protocol import guarded_training_set, make_folds
from zsbench.families import NTU60_XSUB_TRAIN
from zsbench.splits import resolve


def _index() -> pd.DataFrame:
    rows = [
        {"sample": f"S001C00{c}P{p:03d}R001A{label + 1:03d}", "label": label, "subject": p, "camera": c, "setup": 1,
         "replication": 1, "frames": 32}
        for label in range(60) for p in (1, 2, 4, 5, 3, 6, 7) for c in (1, 2)
    ]  # fmt: skip
    return pd.DataFrame(rows)


def test_guard_rejects_a_pipeline_that_lets_an_unseen_sample_into_training() -> None:
    split = resolve("55/5", "ntu60")
    labels = np.array([0, 1, split.unseen[0]])
    with pytest.raises(LeakError, match=rf"classes \[{split.unseen[0]}\]"):
        guarded_training_set(np.arange(3), labels, split.seen, "encoder training")
    assert guarded_training_set(np.arange(2), labels[:2], split.seen, "encoder training").classes == split.seen


def test_folds_keep_unseen_classes_and_test_subjects_out_of_everything_fitted() -> None:
    index = _index()
    split = resolve("48/12", "ntu60")
    folds = make_folds(index, DATASETS.get("ntu60-synth"), split, "xsub", seed=0, validation_subject_fraction=0.25)
    subjects = index["subject"].to_numpy()
    labels = index["label"].to_numpy()
    for fold in (folds.test, folds.validation):
        trained_on = fold.train.indices
        assert set(labels[trained_on]) <= set(fold.seen)
        assert set(subjects[trained_on]) <= set(NTU60_XSUB_TRAIN)
    # the validation fold never touches unseen test classes nor test subjects
    val = folds.validation
    assert not set(labels[val.eval_indices]) & set(split.unseen)
    assert set(subjects[val.eval_indices]) <= set(NTU60_XSUB_TRAIN)
    pseudo_seen_eval = val.eval_indices[np.isin(labels[val.eval_indices], split.validation_seen)]
    assert not set(subjects[val.train.indices]) & set(subjects[pseudo_seen_eval])
    assert set(labels[val.train.indices]) == set(split.validation_seen)
    assert set(val.train.indices).isdisjoint(val.eval_indices)
    # pseudo-unseen classes are evaluated on every training subject (nothing in the fold trains on them) ...
    pseudo_unseen_eval = val.eval_indices[np.isin(labels[val.eval_indices], split.validation_unseen)]
    assert set(subjects[pseudo_unseen_eval]) == set(subjects[np.isin(labels, split.validation_unseen)]) & set(
        NTU60_XSUB_TRAIN
    )
    # ... or, as an option, on the held-out subjects only
    mirrored = make_folds(index, DATASETS.get("ntu60-synth"), split, "xsub", 0, 0.25, unseen_from_all_subjects=False)
    assert set(subjects[mirrored.validation.eval_indices]) == set(folds.validation_subjects)
    assert len(mirrored.validation.eval_indices) < len(val.eval_indices)
    # the test fold evaluates test subjects only, all classes; unseen samples of training subjects are unused
    assert set(subjects[folds.test.eval_indices]).isdisjoint(NTU60_XSUB_TRAIN)
    assert set(labels[folds.test.eval_indices]) == set(range(60))
    unseen_train_subjects = np.flatnonzero(np.isin(labels, split.unseen) & np.isin(subjects, NTU60_XSUB_TRAIN))
    used = set(folds.test.train.indices) | set(folds.test.eval_indices)
    assert used.isdisjoint(unseen_train_subjects)
