"""What a method sees of each fold: features from a skeleton store (through the fold's encoder) or a feature store."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from zsbench import paths
from zsbench.data.features import SplitFeatures, load_split_features
from zsbench.data.store import SkeletonStore, load_store
from zsbench.encoders.pretrain import extract_cached, summary, train_encoder
from zsbench.errors import DataError
from zsbench.eval.protocol import Fold, Folds, TrainingSet, guarded_training_set, make_folds
from zsbench.methods.base import FeatureSet
from zsbench.pipeline.resolve import ResolvedRun
from zsbench.seeding import numpy_rng

Progress = Callable[[str, int, int], None]


@dataclass
class FoldData:
    """What a method sees of one fold: training features with labels, evaluation features without."""

    fold: Fold
    train: FeatureSet
    evaluation: FeatureSet
    seen_logits: np.ndarray | None  # the backbone's seen-class classifier on the evaluation samples
    encoder: dict[str, Any]
    timings: dict[str, float] = field(default_factory=dict)  # encoder_training_seconds, extraction_seconds


def skeleton_store_and_folds(run: ResolvedRun) -> tuple[SkeletonStore, Folds]:
    """Open the run's skeleton store (one per split for split-bound datasets) and build its two folds."""
    if run.spec.kind == "split-skeletons":
        hint = f"{run.spec.prepare_command()} (a store of {run.spec.name} holds only the splits it was made from)"
        store = load_store(paths.datasets_dir() / run.spec.name, run.split.name.replace(":", "_"), hint)
    else:
        store = load_store(paths.datasets_dir(), run.spec.name, run.spec.prepare_command())
    assert run.config.partition is not None
    folds = make_folds(
        store.index, run.spec, run.split, run.config.partition, run.config.seed,
        run.config.evaluation.validation_subject_fraction,
        run.config.evaluation.validation_unseen_from == "all_training_subjects",
    )  # fmt: skip
    return store, folds


def encoder_training_sets(
    fold: Fold, store: SkeletonStore, run: ResolvedRun, held_subjects: tuple[int, ...]
) -> tuple[TrainingSet, TrainingSet | None]:
    """The encoder's training set and, for ``encoder.selection: holdout``, its checkpoint-selection set.

    Selection samples are training-class samples of held-out *training* subjects: for the test fold the
    subjects that evaluate the validation fold (left out of the test fold's encoder training), for the
    validation fold its own evaluation subjects. Without subject ids a seeded quarter of the samples is held out.
    """
    if run.config.encoder.selection == "fixed":
        return fold.train, None
    subjects = store.index["subject"].to_numpy()
    if fold.name == "validation":
        rows = fold.eval_indices[np.isin(fold.eval_labels, fold.seen)]
        train = fold.train
    else:
        if held_subjects:
            held = np.isin(subjects[fold.train.indices], held_subjects)
        else:
            held = numpy_rng(run.config.seed, "encoder-selection").random(len(fold.train.indices)) < 0.25
        rows = fold.train.indices[held]
        keep = fold.train.indices[~held]
        train = guarded_training_set(keep, store.labels[keep], fold.train.classes, fold.train.stage)
    selection = guarded_training_set(rows, store.labels[rows], fold.train.classes, "encoder checkpoint selection")
    return train, selection


def skeleton_fold_data(
    fold: Fold, store: SkeletonStore, run: ResolvedRun, progress: Progress | None, held_subjects: tuple[int, ...] = ()
) -> FoldData:
    """Train (or reuse) the fold's encoder on its training classes and extract features."""
    config = run.config
    training, selection = encoder_training_sets(fold, store, run, held_subjects)
    started = time.perf_counter()
    encoder = train_encoder(
        store.skeletons, training, config.encoder, config.seed, paths.encoders_dir() / store.name,
        store.content_hash, progress, selection,
    )  # fmt: skip
    trained = time.perf_counter()
    segments = run.method_type.map_segments
    train_features = extract_cached(encoder, store.skeletons, fold.train.indices, store.content_hash, segments)
    eval_features = extract_cached(encoder, store.skeletons, fold.eval_indices, store.content_hash, segments)
    raw = "skeletons" in run.method_type.requires
    seen_rows = np.isin(fold.eval_labels, fold.train.classes)
    predicted = np.asarray(fold.train.classes)[eval_features["seen_logits"].argmax(1).numpy()]
    # A diagnostic after the fact: the encoder's seen-class accuracy on the evaluation subjects (nothing reads it).
    seen_accuracy = float(np.mean(predicted[seen_rows] == fold.eval_labels[seen_rows])) if seen_rows.any() else None
    return FoldData(
        fold,
        FeatureSet(
            train_features["pooled"], torch.as_tensor(fold.train.labels),
            store.skeletons if raw else None, fold.train.indices if raw else None, train_features.get("map"),
        ),
        FeatureSet(
            eval_features["pooled"], None, store.skeletons if raw else None, fold.eval_indices if raw else None,
            eval_features.get("map"),
        ),
        eval_features["seen_logits"].numpy(),
        {**summary(encoder), "seen_class_eval_accuracy": seen_accuracy},
        {"encoder_training_seconds": trained - started, "extraction_seconds": time.perf_counter() - trained},
    )  # fmt: skip


def _feature_fold(
    name: str, features: SplitFeatures, train_rows: np.ndarray, eval_rows: np.ndarray, seen: tuple[int, ...],
    novel: tuple[int, ...], logits_rows: np.ndarray | None, source: str,
) -> FoldData:  # fmt: skip
    """A fold over rows of pre-extracted features; ``logits_rows`` picks the evaluation logits, if any."""
    train_labels = features.train_labels[train_rows]
    fold = Fold(
        name,
        guarded_training_set(train_rows, train_labels, seen, f"{name}-fold method training"),
        seen,
        novel,
        eval_rows,
        np.concatenate([features.train_labels, features.test_labels])[eval_rows],
    )
    pool = np.concatenate([features.train_features, features.test_features]).astype(np.float32)
    logits = None
    if features.test_logits is not None and logits_rows is not None:
        logits = features.test_logits[logits_rows][:, list(seen)]
    return FoldData(
        fold,
        FeatureSet(torch.from_numpy(pool[train_rows]), torch.from_numpy(train_labels)),
        FeatureSet(torch.from_numpy(pool[eval_rows])),
        logits,
        {"source": source},
    )


def feature_folds(run: ResolvedRun) -> tuple[FoldData, FoldData, str]:
    """Validation and test folds from a feature store (no encoder is trained).

    Rows index the concatenation [train features; test features]. The validation fold uses the store's
    validation features when they were made for this split's hold-out; otherwise it is carved from the
    training features, which is an approximation (their encoder saw the pseudo-unseen classes), and the
    record says so.
    """
    store = paths.datasets_dir() / run.spec.name
    if not (store / "manifest.json").is_file():
        raise DataError(
            f"dataset {run.spec.name!r} is not prepared (no {store / 'manifest.json'}). Run: {run.spec.prepare_command()}"
        )
    split = run.split
    main = load_split_features(store, split)
    assert main is not None
    n_train, n_test = len(main.train_labels), len(main.test_labels)
    test = _feature_fold(
        "test", main, np.arange(n_train), n_train + np.arange(n_test), split.seen, split.unseen,
        np.arange(n_test), f"feature store {run.spec.name}",
    )  # fmt: skip
    stored = load_split_features(store, split, validation=True)
    if stored is not None and set(stored.train_labels.tolist()) <= set(split.validation_seen):
        n_val_train = len(stored.train_labels)
        val_eval = np.flatnonzero(np.isin(stored.test_labels, split.seen))
        validation = _feature_fold(
            "validation", stored, np.arange(n_val_train), n_val_train + val_eval, split.validation_seen,
            split.validation_unseen, val_eval, "feature store validation features",
        )  # fmt: skip
        return validation, test, "validation features from the store (encoder trained on the pseudo-seen classes)"
    held = numpy_rng(run.config.seed, "feature-validation", split.content_hash()).random(n_train) < (
        run.config.evaluation.validation_subject_fraction
    )
    labels = main.train_labels
    val_train = np.flatnonzero(~held & np.isin(labels, split.validation_seen))
    val_eval = np.flatnonzero(
        (held & np.isin(labels, split.validation_seen)) | np.isin(labels, split.validation_unseen)
    )
    validation = _feature_fold(
        "validation", main, val_train, val_eval, split.validation_seen, split.validation_unseen, None,
        "held-out training features",
    )  # fmt: skip
    note = (
        "approximate: carved from the training features, whose encoder saw the pseudo-unseen classes "
        "(the store has no validation features for this split's hold-out)"
    )
    return validation, test, note
