"""One run, end to end: prepared store -> folds -> encoder -> features -> method -> metrics -> record."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from zsbench import paths, runtime
from zsbench.catalog import DATASETS, METHODS
from zsbench.config import RunConfig, params_from_dict
from zsbench.data.datasets import DatasetSpec
from zsbench.data.features import SplitFeatures, load_split_features
from zsbench.data.store import SkeletonStore, load_store
from zsbench.encoders.pretrain import extract, summary, train_encoder
from zsbench.errors import DataError, RunFailed, UsageError
from zsbench.eval import metrics
from zsbench.eval.gating import fit_gate, gated_gzsl
from zsbench.eval.protocol import Fold, guarded_training_set, make_folds
from zsbench.methods.base import FeatureSet, Method
from zsbench.results.record import RunRecord, environment, now
from zsbench.results.store import ExistingRecord, read_record, record_path, write_record
from zsbench.seeding import numpy_rng
from zsbench.splits import ClassSplit, resolve
from zsbench.text import descriptions
from zsbench.text.bank import TextBank, build_bank
from zsbench.text.encoders import load_text_encoder

log = logging.getLogger(__name__)
Progress = Callable[[str, int, int], None]


@dataclass
class ResolvedRun:
    config: RunConfig
    spec: DatasetSpec
    split: ClassSplit
    method_type: type[Method]

    @property
    def run_id(self) -> str:
        return self.config.hash()


def resolve_run(config: RunConfig) -> ResolvedRun:
    """Check every name and fill in defaults, so the config (and its hash) is canonical."""
    spec = DATASETS.get(config.dataset)
    split = resolve(config.split, spec.family)
    method_type: type[Method] = METHODS.get(config.method)
    partition = config.partition or spec.default_partition
    if partition not in spec.partitions:
        raise UsageError(f"dataset {spec.name} has no partition {partition!r}; valid: {', '.join(spec.partitions)}")
    params = params_from_dict(method_type.params_type, config.method_params, "method_params")
    resolved = dataclasses.replace(
        config, split=split.name, partition=partition, method_params=dataclasses.asdict(params)
    )
    return ResolvedRun(resolved, spec, split, method_type)


@dataclass
class FoldScores:
    """A fold's scores in its two settings. ZSL is scored on its own (novel samples against novel classes):
    for a transductive method it is not a slice of the GZSL scores."""

    gzsl: np.ndarray  # (N, C): every evaluation sample against every class of the fold
    zsl: np.ndarray  # (N_novel, C_novel): novel-class samples against the novel classes


@dataclass
class FoldOutput:
    labels: np.ndarray
    class_ids: np.ndarray
    scores: np.ndarray  # (N, C) against class_ids (GZSL)
    zsl_scores: np.ndarray  # (N_novel, C_novel), rows = samples of novel classes, columns = sorted novel classes
    seen_logits: np.ndarray | None  # the backbone's seen-class classifier, (N, len(seen)); None if unknown
    encoder: dict[str, Any]
    method_log: dict[str, Any]


def score_fold(method: Method, features: FeatureSet, bank: TextBank, fold: Fold) -> FoldScores:
    gzsl = method.scores(features, bank).numpy()
    novel_rows = np.isin(fold.eval_labels, fold.novel)
    zsl = method.scores(features.subset(novel_rows), bank.select(sorted(fold.novel))).numpy()
    for name, scores in (("GZSL", gzsl), ("ZSL", zsl)):
        if not np.isfinite(scores).all():
            raise RunFailed(f"{type(method).__name__} produced non-finite {name} scores on the {fold.name} fold")
    return FoldScores(gzsl, zsl)


@dataclass
class FoldData:
    """What a method sees of one fold: training features with labels, evaluation features without."""

    fold: Fold
    train: FeatureSet
    evaluation: FeatureSet
    seen_logits: np.ndarray | None  # the backbone's seen-class classifier on the evaluation samples
    encoder: dict[str, Any]


def skeleton_fold_data(fold: Fold, store: SkeletonStore, run: ResolvedRun, progress: Progress | None) -> FoldData:
    """Train (or reuse) the fold's encoder on its training classes and extract features."""
    config = run.config
    encoder = train_encoder(
        store.skeletons, fold.train, config.encoder, config.seed, paths.encoders_dir() / store.name,
        store.content_hash, progress,
    )  # fmt: skip
    train_features = extract(encoder.model, store.skeletons, fold.train.indices)
    eval_features = extract(encoder.model, store.skeletons, fold.eval_indices)
    raw = "skeletons" in run.method_type.requires
    return FoldData(
        fold,
        FeatureSet(
            train_features["pooled"], torch.as_tensor(fold.train.labels),
            store.skeletons if raw else None, fold.train.indices if raw else None,
        ),
        FeatureSet(eval_features["pooled"], None, store.skeletons if raw else None, fold.eval_indices if raw else None),
        eval_features["seen_logits"].numpy(),
        summary(encoder),
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


def fit_with_cache(
    method: Method, data: FoldData, text: TextBank, run: ResolvedRun, monitor: TestEpochSelector | None
) -> dict[str, Any]:
    """Fit, or restore a fit made before under the same training inputs.

    Runs that differ only in a method's test-time parameters (PGFA's ρ, prototypes on/off) share one
    training. The key covers everything that can change what fit() learns: the resolved config less
    the test-time parameters and the evaluation settings, the fold's training rows and its text.
    """
    if monitor is not None or not method.test_time_params:
        return method.fit(data.train, text, monitor)
    config = run.config.to_dict()
    training_params = {k: v for k, v in config["method_params"].items() if k not in method.test_time_params}
    key_material = {
        **{k: v for k, v in config.items() if k not in ("method_params", "evaluation")},
        "method_params": training_params,
        "fold": data.fold.train.fingerprint(),
        "text": hashlib.sha256(text.embeddings.numpy().tobytes()).hexdigest(),
    }
    key = hashlib.sha256(json.dumps(key_material, sort_keys=True).encode()).hexdigest()[:20]
    path = paths.home() / "fits" / run.config.method / f"{key}.pt"
    if path.is_file():
        state = torch.load(path, map_location="cpu", weights_only=False)
        return {**method.load_fitted_state(state, data.train, text), "fit_reused": True}
    log = method.fit(data.train, text, None)
    state = method.fitted_state()
    if state is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        torch.save(state, temporary)
        os.replace(temporary, path)
    return {**log, "fit_reused": False}


def run_fold(data: FoldData, bank: TextBank, run: ResolvedRun, quirks: tuple[str, ...] = ()) -> FoldOutput:
    config, fold = run.config, data.fold
    method = run.method_type(
        params_from_dict(run.method_type.params_type, config.method_params, "method_params"),
        config.protocol,
        config.seed,
        run.spec.family,
    )
    scoring_bank = bank.select(fold.classes)
    if config.evaluation.unseen_text_control == "permute":
        scoring_bank = permute_novel_text(scoring_bank, fold.novel, config.seed)
    selector = (
        TestEpochSelector(method, data.evaluation, scoring_bank, fold, quirks)
        if "test_epoch_selection" in quirks
        else None
    )
    method_log = fit_with_cache(method, data, bank.select(fold.seen), run, selector)
    if selector is not None and selector.best is not None:
        scores = selector.best
        method_log = {**method_log, "selected_epoch_on_test": selector.best_epoch}
    else:
        scores = score_fold(method, data.evaluation, scoring_bank, fold)
    return FoldOutput(
        labels=fold.eval_labels,
        class_ids=np.array(scoring_bank.labels),
        scores=scores.gzsl,
        zsl_scores=scores.zsl,
        seen_logits=data.seen_logits,
        encoder=data.encoder,
        method_log=method_log,
    )


class TestEpochSelector:
    """The `paper` quirk ``test_epoch_selection``: score the test set after every epoch, keep the best.

    This reads unseen test labels to pick the epoch, as several released codes do; it exists only to
    measure what that choice is worth against the strict fixed budget.
    """

    def __init__(
        self, method: Method, features: FeatureSet, bank: TextBank, fold: Fold, quirks: tuple[str, ...]
    ) -> None:
        self.method, self.features, self.bank, self.fold, self.quirks = method, features, bank, fold, quirks
        self.best_accuracy = -1.0
        self.best_epoch = 0
        self.best: FoldScores | None = None

    def __call__(self, epoch: int) -> None:
        scores = score_fold(self.method, self.features, self.bank, self.fold)
        labels = self.fold.eval_labels[np.isin(self.fold.eval_labels, self.fold.novel)]
        accuracy = _zsl_values(scores.zsl, labels, np.array(sorted(self.fold.novel)), self.quirks,
                               test_batch_size(self.method.params))["zsl_top1"]  # fmt: skip
        if accuracy > self.best_accuracy:
            self.best_accuracy, self.best_epoch, self.best = accuracy, epoch, scores


def test_batch_size(params: object) -> int:
    """The evaluation batch size a method's released code used (only batch-averaged accuracy depends on it)."""
    return int(getattr(params, "test_batch_size", 64))


def batch_averaged_accuracy(scores: np.ndarray, labels: np.ndarray, classes: np.ndarray, batch: int) -> float:
    """The `paper` quirk ``batch_averaged_accuracy``: the mean of per-batch accuracies (biased by a small last batch)."""
    values = [
        metrics.topk_accuracy(scores[i : i + batch], labels[i : i + batch], classes, 1)
        for i in range(0, len(labels), batch)
    ]
    return float(np.mean(values))


def permute_novel_text(bank: TextBank, novel: tuple[int, ...], seed: int) -> TextBank:
    """A control: the novel classes' text rows shuffled among themselves (a derangement), all else kept.

    If zero-shot accuracy survives this, the signal did not flow through text.
    """
    rows = [bank.labels.index(label) for label in novel]
    rng = numpy_rng(seed, "permute-novel-text")
    shift = int(rng.integers(1, len(rows))) if len(rows) > 1 else 0
    order = rng.permutation(len(rows))
    mapping = {rows[order[i]]: rows[order[(i + shift) % len(rows)]] for i in range(len(rows))}
    source = torch.tensor([mapping.get(r, r) for r in range(len(bank.labels))])
    return TextBank(bank.labels, bank.slots, bank.embeddings[source], bank.encoder)


def _zsl_values(
    scores: np.ndarray, labels: np.ndarray, classes: np.ndarray, quirks: tuple[str, ...], batch: int
) -> dict[str, float]:
    predicted = metrics.predictions(scores, classes)
    values = {
        "zsl_top1": metrics.topk_accuracy(scores, labels, classes, 1),
        "zsl_top5": metrics.topk_accuracy(scores, labels, classes, 5),
        "zsl_mean_class": metrics.mean_class_accuracy(predicted, labels, classes),
    }
    if "batch_averaged_accuracy" in quirks:
        values["zsl_top1_sample_averaged"] = values["zsl_top1"]
        values["zsl_top1"] = batch_averaged_accuracy(scores, labels, classes, batch)
    return values


def _zsl(
    output: FoldOutput, novel: tuple[int, ...], quirks: tuple[str, ...] = (), batch: int = 64
) -> tuple[dict[str, float], dict[str, float], dict[str, Any]]:
    labels = output.labels[np.isin(output.labels, novel)]
    classes = np.array(sorted(novel))
    scores = output.zsl_scores
    predicted = metrics.predictions(scores, classes)
    values = _zsl_values(scores, labels, classes, quirks, batch)
    per_class = {str(k): v for k, v in metrics.per_class_accuracy(predicted, labels, classes).items()}
    confusion = {"classes": classes.tolist(), "counts": metrics.confusion_matrix(predicted, labels, classes).tolist()}
    return values, per_class, confusion


def _gzsl(
    test: FoldOutput, validation: FoldOutput, run: ResolvedRun, quirks: tuple[str, ...]
) -> tuple[dict[str, float], dict[str, Any], dict[str, float]]:
    split = run.split
    seen = np.array(split.seen)
    test_curve = metrics.seen_unseen_curve(test.scores, test.labels, test.class_ids, seen)
    if "gzsl_calibration_on_test" in quirks:
        gamma, source = test_curve.best_gamma(), "test set (paper quirk)"
    else:
        val_curve = metrics.seen_unseen_curve(
            validation.scores, validation.labels, validation.class_ids, np.array(split.validation_seen)
        )
        gamma, source = val_curve.best_gamma(), "validation fold"
    acc_s, acc_u, h = metrics.gzsl_accuracies(test.scores, test.labels, test.class_ids, seen, gamma)
    raw_s, raw_u, raw_h = metrics.gzsl_accuracies(test.scores, test.labels, test.class_ids, seen, 0.0)
    values = {
        "gzsl_seen": acc_s,
        "gzsl_unseen": acc_u,
        "gzsl_h": h,
        "gzsl_uncalibrated_seen": raw_s,
        "gzsl_uncalibrated_unseen": raw_u,
        "gzsl_uncalibrated_h": raw_h,
        "ausuc": test_curve.ausuc(),
    }
    calibration: dict[str, Any] = {"method": "stacking", "gamma": gamma, "chosen_on": source}
    predicted = metrics.predictions(test.scores - gamma * np.isin(test.class_ids, seen)[None, :], test.class_ids)
    per_class = {str(k): v for k, v in metrics.per_class_accuracy(predicted, test.labels, test.class_ids).items()}

    if run.config.evaluation.calibration == "gating":
        if validation.seen_logits is None or test.seen_logits is None:
            raise DataError(
                f"gating needs the backbone's seen-class logits, which {run.spec.name} does not provide for both folds; "
                "use --set evaluation.calibration=stacking"
            )
        novel_val = np.array(split.validation_unseen)
        val_novel_cols = np.isin(validation.class_ids, novel_val)
        gate = fit_gate(
            validation.scores[:, val_novel_cols],
            validation.seen_logits,
            validation.labels,
            novel_val,
            np.array(split.validation_seen),
            numpy_rng(run.config.seed, "gate"),
        )
        unseen = np.array(split.unseen)
        cols = np.isin(test.class_ids, unseen)
        g_s, g_u, g_h = gated_gzsl(gate, test.scores[:, cols], test.seen_logits, test.labels, unseen, seen)
        values.update({"gzsl_gated_seen": g_s, "gzsl_gated_unseen": g_u, "gzsl_gated_h": g_h})
        calibration["gate"] = {
            "temperature": gate.temperature,
            "threshold": gate.threshold,
            "chosen_on": "validation fold",
        }
    return values, calibration, per_class


def execute(
    config: RunConfig,
    results_dir: Path | None = None,
    existing: ExistingRecord = ExistingRecord.SKIP,
    progress: Progress | None = None,
) -> tuple[RunRecord, Path, bool]:
    """Run (or find) the record for ``config``. Returns (record, its path, whether it already existed)."""
    run = resolve_run(config)
    results_dir = results_dir or paths.runs_dir()
    path = record_path(results_dir, run.run_id)
    if path.is_file() and existing is ExistingRecord.SKIP:
        return read_record(path), path, True

    started = time.perf_counter()
    compute = runtime.configure()
    timings: dict[str, float] = {}
    quirks = tuple(run.method_type.paper_quirks) if run.config.protocol == "paper" else ()
    mark = time.perf_counter()
    text_encoder = load_text_encoder(run.config.text.encoder)
    bank = build_bank(
        descriptions.load(run.spec.family), run.method_type.text_slots, text_encoder, paths.text_cache_dir()
    )
    timings["text_seconds"] = time.perf_counter() - mark

    mark = time.perf_counter()
    if run.spec.kind == "features":
        if "skeletons" in run.method_type.requires:
            raise UsageError(
                f"{run.config.method} trains end to end on raw skeletons; {run.spec.name} holds features only"
            )
        validation_data, test_data, validation_note = feature_folds(run)
        dataset_hash, num_samples, validation_subjects = "features", len(test_data.fold.eval_labels), []
    else:
        store = load_store(paths.datasets_dir(), run.spec.name, run.spec.prepare_command())
        assert run.config.partition is not None
        folds = make_folds(
            store.index, run.spec, run.split, run.config.partition, run.config.seed,
            run.config.evaluation.validation_subject_fraction,
        )  # fmt: skip
        validation_data = skeleton_fold_data(folds.validation, store, run, progress)
        test_data = skeleton_fold_data(folds.test, store, run, progress)
        validation_note = (
            "pseudo-unseen classes and held-out training subjects; encoder retrained on the pseudo-seen classes"
        )
        dataset_hash, num_samples, validation_subjects = (
            store.content_hash,
            len(store.index),
            list(folds.validation_subjects),
        )
    timings["features_seconds"] = time.perf_counter() - mark
    mark = time.perf_counter()
    validation = run_fold(validation_data, bank, run)
    test = run_fold(test_data, bank, run, quirks)
    timings["method_seconds"] = time.perf_counter() - mark

    params = params_from_dict(run.method_type.params_type, run.config.method_params, "method_params")
    zsl_values, zsl_per_class, confusion = _zsl(test, run.split.unseen, quirks, test_batch_size(params))
    val_zsl, _, _ = _zsl(validation, run.split.validation_unseen)
    gzsl_values, calibration, gzsl_per_class = _gzsl(test, validation, run, quirks)
    timings["total_seconds"] = time.perf_counter() - started

    record = RunRecord(
        run_id=run.run_id,
        config=run.config.to_dict(),
        dataset={
            "name": run.spec.name,
            "family": run.spec.family,
            "content_hash": dataset_hash,
            "num_samples": num_samples,
            "partition": run.config.partition,
            "synthetic": run.spec.synthetic,
        },
        split=run.split.to_record(),
        protocol={
            "name": run.config.protocol,
            "quirks": list(quirks),
            "transductive": run.method_type.transductive,
            "validation_subjects": validation_subjects,
            "validation_fold": validation_note,
            "text_encoder": bank.encoder,
            "text_slots": list(bank.slots),
            "unseen_text_control": run.config.evaluation.unseen_text_control,
        },
        metrics={**zsl_values, **gzsl_values, "validation_zsl_top1": val_zsl["zsl_top1"]},
        per_class={"zsl": zsl_per_class, "gzsl": gzsl_per_class},
        confusion={"zsl": confusion},
        calibration=calibration,
        encoders={"test_fold": test.encoder, "validation_fold": validation.encoder},
        method_log={"test_fold": test.method_log, "validation_fold": validation.method_log},
        timings=timings,
        environment={**environment(str(compute["device"])), "threads": compute["threads"]},
        created=now(),
    )
    arrays = {
        "labels": test.labels,
        "class_ids": test.class_ids,
        "scores": test.scores.astype(np.float32),
        "zsl_scores": test.zsl_scores.astype(np.float32),
        "zsl_labels": test.labels[np.isin(test.labels, run.split.unseen)],
        "sample_indices": test_data.fold.eval_indices,
    }
    return record, write_record(results_dir, record, arrays), False
