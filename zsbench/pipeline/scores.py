"""From a fold's scores to the run's metrics: ZSL, GZSL with calibration chosen on the validation fold, gating."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from zsbench.errors import DataError
from zsbench.eval import metrics
from zsbench.eval.gating import fit_gate, gated_gzsl
from zsbench.pipeline.resolve import ResolvedRun
from zsbench.seeding import numpy_rng

if TYPE_CHECKING:
    from zsbench.pipeline.fitting import FoldOutput


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


def zsl_values(
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


def zsl_metrics(
    output: FoldOutput, novel: tuple[int, ...], quirks: tuple[str, ...] = (), batch: int = 64
) -> tuple[dict[str, float], dict[str, float], dict[str, Any]]:
    labels = output.labels[np.isin(output.labels, novel)]
    classes = np.array(sorted(novel))
    scores = output.zsl_scores
    predicted = metrics.predictions(scores, classes)
    values = zsl_values(scores, labels, classes, quirks, batch)
    per_class = {str(k): v for k, v in metrics.per_class_accuracy(predicted, labels, classes).items()}
    confusion = {"classes": classes.tolist(), "counts": metrics.confusion_matrix(predicted, labels, classes).tolist()}
    return values, per_class, confusion


def gzsl_metrics(
    test: FoldOutput, validation: FoldOutput, run: ResolvedRun, quirks: tuple[str, ...]
) -> tuple[dict[str, float], dict[str, Any], dict[str, float]]:
    split = run.split
    seen = np.array(split.seen)
    if not np.isin(test.labels, seen).any():
        undefined = dict.fromkeys(("gzsl_seen", "gzsl_unseen", "gzsl_h", "ausuc"), float("nan"))
        return undefined, {"method": "none", "note": "no seen-class test samples: GZSL is undefined"}, {}
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
    if test.paper_gzsl is not None:
        # The method's released code computes GZSL its own way (a paper quirk); its numbers replace stacking's.
        released = dict(test.paper_gzsl)
        calibration = released.pop("calibration")
        values.update(released)
        per_class = {}

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
