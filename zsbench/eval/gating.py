"""SynSE-style GZSL gating: a seen/unseen classifier on sorted top-k probabilities.

Features of a sample: the k largest softmax probabilities (temperature T) of the zero-shot model over
the novel classes, next to the k largest of the backbone's seen-class classifier, k = the number of
novel classes. A logistic regression learns seen vs novel on the validation fold; T and the decision
threshold are chosen on a held-out half of that fold. At test time the gate sends a sample either to
the backbone's seen classifier or to the zero-shot model's novel classes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.linear_model import LogisticRegression

from zsbench.eval.metrics import harmonic_mean

TEMPERATURES = tuple(range(1, 10))
THRESHOLDS = tuple(np.round(np.arange(0.25, 0.75, 0.01), 2))


def _softmax(logits: np.ndarray, temperature: float) -> np.ndarray:
    scaled = logits / temperature
    scaled = scaled - scaled.max(axis=1, keepdims=True)
    expd = np.exp(scaled)
    return expd / expd.sum(axis=1, keepdims=True)


def gate_features(novel_scores: np.ndarray, seen_logits: np.ndarray, temperature: float) -> np.ndarray:
    k = novel_scores.shape[1]
    top_novel = -np.sort(-_softmax(novel_scores, temperature), axis=1)[:, :k]
    top_seen = -np.sort(-_softmax(seen_logits, temperature), axis=1)[:, :k]
    return np.concatenate([top_novel, top_seen], axis=1)


@dataclass
class Gate:
    temperature: float
    threshold: float
    model: LogisticRegression

    def novel_probability(self, novel_scores: np.ndarray, seen_logits: np.ndarray) -> np.ndarray:
        return self.model.predict_proba(gate_features(novel_scores, seen_logits, self.temperature))[:, 1]


def _gated_accuracies(
    p_novel: np.ndarray,
    threshold: float,
    novel_pred: np.ndarray,
    seen_pred: np.ndarray,
    labels: np.ndarray,
    is_novel: np.ndarray,
) -> tuple[float, float, float]:
    predicted = np.where(p_novel > threshold, novel_pred, seen_pred)
    acc_s = float(np.mean(predicted[~is_novel] == labels[~is_novel])) if (~is_novel).any() else 0.0
    acc_u = float(np.mean(predicted[is_novel] == labels[is_novel])) if is_novel.any() else 0.0
    return acc_s, acc_u, harmonic_mean(acc_s, acc_u)


def fit_gate(
    novel_scores: np.ndarray,
    seen_logits: np.ndarray,
    labels: np.ndarray,
    novel_classes: np.ndarray,
    seen_classes: np.ndarray,
    rng: np.random.Generator,
) -> Gate:
    """Train the gate on a validation fold's output (novel = the fold's pseudo-unseen classes)."""
    is_novel = np.isin(labels, novel_classes)
    order = rng.permutation(len(labels))
    fit_rows, choose_rows = order[: len(order) // 2], order[len(order) // 2 :]
    novel_pred = np.asarray(novel_classes)[novel_scores.argmax(1)]
    seen_pred = np.asarray(seen_classes)[seen_logits.argmax(1)]
    best: tuple[float, Gate] | None = None
    for temperature in TEMPERATURES:
        features = gate_features(novel_scores, seen_logits, temperature)
        model = LogisticRegression(class_weight="balanced", max_iter=1000)
        model.fit(features[fit_rows], is_novel[fit_rows])
        p_novel = model.predict_proba(features[choose_rows])[:, 1]
        for threshold in THRESHOLDS:
            _, _, h = _gated_accuracies(
                p_novel,
                threshold,
                novel_pred[choose_rows],
                seen_pred[choose_rows],
                labels[choose_rows],
                is_novel[choose_rows],
            )
            if best is None or h > best[0]:
                best = (h, Gate(float(temperature), float(threshold), model))
    assert best is not None
    return best[1]


def gated_gzsl(
    gate: Gate,
    novel_scores: np.ndarray,
    seen_logits: np.ndarray,
    labels: np.ndarray,
    novel_classes: np.ndarray,
    seen_classes: np.ndarray,
) -> tuple[float, float, float]:
    p_novel = gate.novel_probability(novel_scores, seen_logits)
    novel_pred = np.asarray(novel_classes)[novel_scores.argmax(1)]
    seen_pred = np.asarray(seen_classes)[seen_logits.argmax(1)]
    return _gated_accuracies(p_novel, gate.threshold, novel_pred, seen_pred, labels, np.isin(labels, novel_classes))
