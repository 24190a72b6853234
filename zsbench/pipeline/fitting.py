"""Fitting a method on a fold and scoring it: the fit cache, the paper quirk of test-set epoch selection,
and the unseen-text permutation control."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from zsbench import paths
from zsbench.atomic import write_atomic
from zsbench.config import params_from_dict
from zsbench.errors import RunFailed
from zsbench.eval.protocol import Fold
from zsbench.methods.base import FeatureSet, FittedFold, Method
from zsbench.pipeline.folds import FoldData
from zsbench.pipeline.resolve import ResolvedRun
from zsbench.pipeline.scores import test_batch_size, zsl_values
from zsbench.seeding import numpy_rng
from zsbench.text.bank import TextBank


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
    paper_gzsl: dict[str, Any] | None = None  # a method's own released GZSL computation (paper quirk), if any
    acted_quirks: frozenset[str] = frozenset()  # the method's active quirks that acted in this fold
    fitted: FittedFold | None = None  # the validation fold's fitted method and data (for a released gate; not test)
    timings: dict[str, float] = dataclasses.field(default_factory=dict)  # fit_seconds, scoring_seconds


def score_fold(method: Method, features: FeatureSet, bank: TextBank, fold: Fold) -> FoldScores:
    gzsl = method.scores(features, bank).numpy()
    novel_rows = np.isin(fold.eval_labels, fold.novel)
    zsl = method.scores(features.subset(novel_rows), bank.select(sorted(fold.novel))).numpy()
    for name, scores in (("GZSL", gzsl), ("ZSL", zsl)):
        if not np.isfinite(scores).all():
            raise RunFailed(f"{type(method).__name__} produced non-finite {name} scores on the {fold.name} fold")
    return FoldScores(gzsl, zsl)


def fit_with_cache(
    method: Method, data: FoldData, text: TextBank, run: ResolvedRun, monitor: TestEpochSelector | None
) -> dict[str, Any]:
    """Fit, or restore a fit made before under the same training inputs.

    Runs that differ only in a method's test-time parameters (PGFA's ρ, prototypes on/off) share one
    training. The key covers everything that can change what fit() learns: the resolved config less
    the test-time parameters and the evaluation settings, the fold's training rows and its text, the
    dataset's content, the encoder's weights, the code's numerics version and the compute settings.
    """
    if monitor is not None or not method.test_time_params:
        return method.fit(data.train, text, monitor)
    config = run.config.to_dict()
    training_params = {k: v for k, v in config["method_params"].items() if k not in method.test_time_params}
    ignored = (
        ("method_params", "evaluation")
        if method.fit_depends_on_protocol
        else ("method_params", "evaluation", "protocol", "quirks", "no_quirks")
    )
    key_material = {
        **{k: v for k, v in config.items() if k not in ignored},
        "method_params": training_params,
        "fold": data.fold.train.fingerprint(),
        "text": hashlib.sha256(text.embeddings.numpy().tobytes()).hexdigest(),
        "encoder_weights": data.encoder.get("checkpoint_hash"),
        **run.identity,
    }
    key = hashlib.sha256(json.dumps(key_material, sort_keys=True).encode()).hexdigest()[:20]
    path = paths.fits_dir() / run.config.method / f"{key}.pt"
    if path.is_file():
        state = torch.load(path, map_location="cpu", weights_only=False)
        return {**method.load_fitted_state(state, data.train, text), "fit_reused": True}
    log = method.fit(data.train, text, None)
    state = method.fitted_state()
    if state is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, lambda handle: torch.save(state, handle))
    return {**log, "fit_reused": False}


def run_fold(
    data: FoldData,
    bank: TextBank,
    run: ResolvedRun,
    quirks: tuple[str, ...] = (),
    overrides: dict[str, Any] | None = None,
    validation: FoldOutput | None = None,
) -> FoldOutput:
    """Fit (or restore) the method on the fold and score it; ``overrides`` replace method parameters
    (test-time settings chosen on the validation fold); ``validation`` (the validation fold's output, on the test
    fold) reaches the method's paper_gzsl() through ``method.validation_fold``."""
    config, fold = run.config, data.fold
    method = run.method_type(
        params_from_dict(run.method_type.params_type, {**config.method_params, **(overrides or {})}, "method_params"),
        frozenset(run.quirks),
        config.seed,
        run.spec.family,
        run.split.setting,
    )
    method.backbone = config.encoder.name
    evaluation = data.evaluation
    if set(run.quirks) & run.method_type.reads_test_labels:
        # A quirk that is on reads the evaluation labels; runs without such a quirk never get them.
        evaluation = dataclasses.replace(evaluation, labels=torch.as_tensor(fold.eval_labels))
    scoring_bank = bank.select(fold.classes)
    if config.evaluation.unseen_text_control == "permute":
        scoring_bank = permute_novel_text(scoring_bank, fold.novel, config.seed)
    selector = (
        TestEpochSelector(method, evaluation, scoring_bank, fold, quirks) if "test_epoch_selection" in quirks else None
    )
    started = time.perf_counter()
    method_log = fit_with_cache(method, data, bank.select(fold.seen), run, selector)
    fitted = time.perf_counter()
    if selector is not None and selector.best is not None:
        scores = selector.best
        method_log = {**method_log, "selected_epoch_on_test": selector.best_epoch}
    else:
        scores = score_fold(method, evaluation, scoring_bank, fold)
    if overrides:
        method_log = {**method_log, "test_time_overrides": overrides}
    method.seen_logits = data.seen_logits
    method.validation_fold = validation.fitted if validation is not None else None
    paper_gzsl = method.paper_gzsl(evaluation, scoring_bank, fold.seen) if quirks else None
    timings = {"fit_seconds": fitted - started, "scoring_seconds": time.perf_counter() - fitted}
    return FoldOutput(
        labels=fold.eval_labels,
        class_ids=np.array(scoring_bank.labels),
        scores=scores.gzsl,
        zsl_scores=scores.zsl,
        seen_logits=data.seen_logits,
        encoder=data.encoder,
        method_log={**method_log, **method.scoring_log()},
        paper_gzsl=paper_gzsl,
        timings=timings,
        acted_quirks=method.acted_quirks(),
        fitted=(
            FittedFold(method, data.evaluation, fold.eval_labels, data.seen_logits, fold.seen, fold.novel)
            if fold.name == "validation"
            else None
        ),
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
        accuracy = zsl_values(scores.zsl, labels, np.array(sorted(self.fold.novel)), self.quirks,
                               test_batch_size(self.method.params))["zsl_top1"]  # fmt: skip
        if accuracy > self.best_accuracy:
            self.best_accuracy, self.best_epoch, self.best = accuracy, epoch, scores


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
