"""The GZSL gate of the synse-zsl release (``gating_*_model_training.py`` / ``gating_*_model_eval.py``), as a `paper` quirk.

CADA-VAE and SynSE publish GZSL through this gate (reference notes baselines-code.md §0). It differs from zsbench's
own gate (:mod:`zsbench.eval.gating`, the strict ``ours`` variant, untouched) in five ways:

- features: the top-k of the zero-shot classifier's softmax (never temperature-scaled) next to the top-k of
  softmax((backbone logits + 1e-12) / T), k = the number of unseen classes (ours scales both by T);
- model: an unweighted two-class multinomial logistic regression, C 1, lbfgs, max_iter 5000 (ours: binary,
  class_weight balanced). sklearn no longer takes ``multi_class``; a two-class multinomial fit with C equals a binary
  fit with 2C (the optimum has w_unseen = -w_seen, so the penalty on the difference halves), which is what we fit;
- held-out part: 300 unseen and 400 seen validation samples drawn again for every T from one legacy
  ``np.random`` stream (ours: one random half of the validation fold for all T);
- selection: gate accuracy (seen vs unseen) over T in 1..9 and th in 0.25..0.74, the first best kept (ours: H);
- decision at test: training picks th for "unseen if p_unseen > th", but the eval script applies
  ``1 - p_unseen > th`` -> seen, i.e. unseen if p_unseen >= 1 - th (quirk ``inverted_gate_threshold``).

Quirk ``gate_unseen_zsl_from_seen_samples``: the release's validation run saves the classifier's probabilities on the
pseudo-*seen* samples (``val.npy``) both as ``*_unseen_zs.npy`` and ``*_seen_zs.npy`` (its ``val_loader`` is the
pseudo-seen loader in a ``shift_val`` folder), and the gate pairs row i of the first with the backbone logits of
pseudo-unseen sample i. So the gate's unseen-side zero-shot features are those of pseudo-seen samples.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression

from zsbench.errors import DataError

TEMPERATURES = tuple(range(1, 10))  # released: for t in range(1, 10)
THRESHOLDS = tuple(th / 100 for th in range(25, 75))  # released: for th in range(25, 75, 1): th/100
HELD_OUT_UNSEEN, HELD_OUT_SEEN = 300, 400  # released: np.random.choice(..., 300) / (..., 400)


def temperature_softmax(logits: np.ndarray, temperature: float) -> np.ndarray:
    """Released ``temp_scale``: softmax of (logits + 1e-12) / T, row by row."""
    scaled = (logits + 1e-12) / temperature
    scaled = scaled - scaled.max(axis=1, keepdims=True)
    exp = np.exp(scaled)
    return exp / exp.sum(axis=1, keepdims=True)


def top_k(probabilities: np.ndarray, k: int) -> np.ndarray:
    return -np.sort(-probabilities, axis=1)[:, :k]


def gate_inputs(zsl_probabilities: np.ndarray, seen_logits: np.ndarray, temperature: float) -> np.ndarray:
    """[top-k ZSL probabilities ; top-k temperature-scaled backbone probabilities], k = ZSL columns."""
    k = zsl_probabilities.shape[1]
    return np.concatenate([top_k(zsl_probabilities, k), top_k(temperature_softmax(seen_logits, temperature), k)], 1)


@dataclass
class ReleasedGate:
    temperature: int
    threshold: float
    model: LogisticRegression
    held_out_accuracy: float

    def unseen_probability(self, zsl_probabilities: np.ndarray, seen_logits: np.ndarray) -> np.ndarray:
        return self.model.predict_proba(gate_inputs(zsl_probabilities, seen_logits, self.temperature))[:, 0]


def released_goes_seen(p_unseen: np.ndarray, threshold: float) -> np.ndarray:
    """Released eval: ``pred_test = 1 - prob_gate[:, 0] > thresh`` (precedence: (1 - p_unseen) > th) -> seen branch."""
    return (1 - p_unseen) > threshold


def unseen_side_zsl(zsl: np.ndarray, is_unseen: np.ndarray, from_seen_samples: bool) -> np.ndarray:
    """The gate's unseen-side zero-shot rows: those of the pseudo-unseen samples, or (quirk
    ``gate_unseen_zsl_from_seen_samples``, as the release's files hold them) the first n_unseen pseudo-seen rows.

    With fewer pseudo-seen than pseudo-unseen samples (the embedded 48/12 validation fold) the slice holds them
    all, as the release's ``[:n]`` would, and the caller pairs that many unseen-side rows.
    """
    if not from_seen_samples:
        return zsl[is_unseen]
    return zsl[~is_unseen][: int(is_unseen.sum())]


def fit_released_gate(
    unseen_zsl: np.ndarray, unseen_logits: np.ndarray, seen_zsl: np.ndarray, seen_logits: np.ndarray, seed: int
) -> ReleasedGate:
    """Released gate training on validation-phase outputs: rows of ``unseen_*`` are pseudo-unseen samples, ``seen_*``
    pseudo-seen ones; labels 0 = unseen, 1 = seen, so ``predict_proba[:, 0]`` is p_unseen."""
    if len(unseen_zsl) != len(unseen_logits) or len(seen_zsl) != len(seen_logits):
        raise DataError("released gate: zero-shot and backbone rows must pair up")
    stream = np.random.RandomState(seed % (2**32))  # released: np.random.seed(5), one legacy stream for all draws
    # ours: on a fold too small for 300 + 400 held-out samples (the release would fail), half of each side
    held_unseen = min(HELD_OUT_UNSEEN, len(unseen_zsl) // 2)
    held_seen = min(HELD_OUT_SEEN, len(seen_zsl) // 2)
    if held_unseen < 1 or held_seen < 1:
        raise DataError("released gate: the validation fold needs at least two unseen and two seen samples")
    best: ReleasedGate | None = None
    for temperature in TEMPERATURES:
        unseen_x = gate_inputs(unseen_zsl, unseen_logits, temperature)
        seen_x = gate_inputs(seen_zsl, seen_logits, temperature)
        val_unseen = stream.choice(np.arange(len(unseen_x)), held_unseen, replace=False)
        val_seen = stream.choice(np.arange(len(seen_x)), held_seen, replace=False)
        fit_unseen = np.setdiff1d(np.arange(len(unseen_x)), val_unseen)
        fit_seen = np.setdiff1d(np.arange(len(seen_x)), val_seen)
        fit_x = np.concatenate([unseen_x[fit_unseen], seen_x[fit_seen]])
        fit_y = np.array([0] * len(fit_unseen) + [1] * len(fit_seen))
        order = np.arange(len(fit_x))
        stream.shuffle(order)
        # released: multinomial, C=1 on two classes == binary with C=2 (see the module docstring)
        model = LogisticRegression(C=2.0, solver="lbfgs", max_iter=5000, random_state=0).fit(fit_x[order], fit_y[order])
        held_x = np.concatenate([unseen_x[val_unseen], seen_x[val_seen]])
        held_unseen_truth = np.array([True] * held_unseen + [False] * held_seen)
        p_unseen = model.predict_proba(held_x)[:, 0]
        accuracy, threshold = max(
            ((float(np.mean((p_unseen > th) == held_unseen_truth)), -th) for th in THRESHOLDS),
        )  # the first (lowest) th among ties, as the released strict `>` keeps it
        if best is None or accuracy > best.held_out_accuracy:
            best = ReleasedGate(temperature, -threshold, model, accuracy)
    assert best is not None
    return best


def released_gate_predictions(
    gate: ReleasedGate,
    zsl_probabilities: np.ndarray,
    seen_logits: np.ndarray,
    unseen_classes: np.ndarray,
    seen_classes: np.ndarray,
    inverted: bool = True,
) -> np.ndarray:
    """Released eval decisions: seen branch = argmax of the backbone over the seen classes, unseen branch = argmax of
    the zero-shot classifier over the sorted unseen classes. ``inverted=False`` applies the rule training chose by."""
    p_unseen = gate.unseen_probability(zsl_probabilities, seen_logits)
    goes_seen = released_goes_seen(p_unseen, gate.threshold) if inverted else ~(p_unseen > gate.threshold)
    seen_prediction = np.asarray(seen_classes)[seen_logits.argmax(1)]
    unseen_prediction = np.asarray(unseen_classes)[zsl_probabilities.argmax(1)]
    return np.where(goes_seen, seen_prediction, unseen_prediction)


def gated_gzsl_result(
    gate: ReleasedGate, predicted: np.ndarray, labels: np.ndarray, seen: tuple[int, ...], calibration: Mapping[str, Any]
) -> dict[str, Any]:
    """GZSL seen/unseen accuracy and H of a released gate's predictions, in the shape ``Method.paper_gzsl`` returns."""
    from zsbench.eval.metrics import harmonic_mean

    is_seen = np.isin(labels, seen)
    acc_seen = float(np.mean(predicted[is_seen] == labels[is_seen])) if is_seen.any() else 0.0
    acc_unseen = float(np.mean(predicted[~is_seen] == labels[~is_seen])) if (~is_seen).any() else 0.0
    return {
        "gzsl_seen": acc_seen,
        "gzsl_unseen": acc_unseen,
        "gzsl_h": harmonic_mean(acc_seen, acc_unseen),
        "calibration": {
            "temperature": gate.temperature,
            "threshold": gate.threshold,
            "held_out_gate_accuracy": gate.held_out_accuracy,
            "decision": "seen if 1 - p_unseen > threshold (training chose it for unseen if p_unseen > threshold)",
            **calibration,
        },
    }
