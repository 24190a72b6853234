"""ZSL and GZSL metrics. Scores are (N, C) arrays whose columns are the classes ``class_ids``.

Everything here is sample-averaged unless its name says otherwise, and independent of sample order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def _columns(labels: np.ndarray, class_ids: np.ndarray) -> np.ndarray:
    position = {int(c): i for i, c in enumerate(class_ids)}
    try:
        return np.array([position[int(y)] for y in labels], dtype=np.int64)
    except KeyError as error:
        raise ValueError(f"label {error.args[0]} is not among the scored classes") from error


def predictions(scores: np.ndarray, class_ids: np.ndarray) -> np.ndarray:
    return np.asarray(class_ids)[np.argmax(scores, axis=1)]


def topk_accuracy(scores: np.ndarray, labels: np.ndarray, class_ids: np.ndarray, k: int = 1) -> float:
    """Fraction of samples whose label is among the k highest-scored classes."""
    if len(labels) == 0:
        return float("nan")
    k = min(k, scores.shape[1])
    target = _columns(labels, class_ids)
    target_score = scores[np.arange(len(labels)), target]
    # Rank = how many classes score strictly higher; ties count in the sample's favour only via argmax order.
    higher = (scores > target_score[:, None]).sum(axis=1)
    if k == 1:
        return float(np.mean(np.argmax(scores, axis=1) == target))
    return float(np.mean(higher < k))


def per_class_accuracy(predicted: np.ndarray, labels: np.ndarray, classes: np.ndarray) -> dict[int, float]:
    return {int(c): float(np.mean(predicted[labels == c] == c)) for c in classes if np.any(labels == c)}


def mean_class_accuracy(predicted: np.ndarray, labels: np.ndarray, classes: np.ndarray) -> float:
    values = list(per_class_accuracy(predicted, labels, classes).values())
    return float(np.mean(values)) if values else float("nan")


def confusion_matrix(predicted: np.ndarray, labels: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """Counts (len(classes), len(classes)); row = true class, column = predicted class."""
    position = {int(c): i for i, c in enumerate(classes)}
    matrix = np.zeros((len(classes), len(classes)), dtype=np.int64)
    for true, pred in zip(labels, predicted, strict=True):
        if int(pred) in position:
            matrix[position[int(true)], position[int(pred)]] += 1
    return matrix


def harmonic_mean(seen: float, unseen: float) -> float:
    return 0.0 if seen + unseen <= 0 else 2.0 * seen * unseen / (seen + unseen)


def gzsl_accuracies(
    scores: np.ndarray, labels: np.ndarray, class_ids: np.ndarray, seen: np.ndarray, gamma: float = 0.0
) -> tuple[float, float, float]:
    """Calibrated stacking: subtract ``gamma`` from seen-class scores, then argmax over all classes.

    Returns (acc_seen, acc_unseen, harmonic mean), each accuracy averaged over its own samples.
    """
    class_ids = np.asarray(class_ids)
    seen_columns = np.isin(class_ids, seen)
    adjusted = scores - gamma * seen_columns[None, :]
    predicted = predictions(adjusted, class_ids)
    seen_samples = np.isin(labels, seen)
    acc_s = float(np.mean(predicted[seen_samples] == labels[seen_samples])) if seen_samples.any() else float("nan")
    acc_u = float(np.mean(predicted[~seen_samples] == labels[~seen_samples])) if (~seen_samples).any() else float("nan")
    return acc_s, acc_u, harmonic_mean(acc_s, acc_u)


@dataclass(frozen=True)
class SeenUnseenCurve:
    """Seen and unseen GZSL accuracy at every calibration constant where either changes.

    ``gammas[i]`` is the left end of the interval of constants giving ``seen[i]``, ``unseen[i]``
    (the first interval starts at minus infinity).
    """

    gammas: np.ndarray
    seen: np.ndarray
    unseen: np.ndarray

    @property
    def harmonic(self) -> np.ndarray:
        total = self.seen + self.unseen
        return np.where(total > 0, 2 * self.seen * self.unseen / np.where(total > 0, total, 1), 0.0)

    def ausuc(self) -> float:
        """Area under the unseen-vs-seen accuracy curve (Chao et al., 2016), in [0, 1].

        Integrated along the curve in the order of the calibration constant: seen accuracy never rises and
        unseen accuracy never falls as the constant grows, so reversing that order walks the curve with seen
        accuracy ascending. Sorting by seen accuracy instead would put points of equal seen accuracy in an
        arbitrary order and cut the corner of every vertical step.
        """
        return float(np.trapezoid(self.unseen[::-1], self.seen[::-1]))

    def best_gamma(self) -> float:
        """A calibration constant inside the interval with the highest harmonic mean."""
        best = int(np.argmax(self.harmonic))
        edges = self.gammas
        if best == 0:
            return float(edges[1] - 1.0) if len(edges) > 1 else 0.0
        upper = edges[best + 1] if best + 1 < len(edges) else edges[best] + 1.0
        return float((edges[best] + upper) / 2)


def seen_unseen_curve(
    scores: np.ndarray, labels: np.ndarray, class_ids: np.ndarray, seen: np.ndarray
) -> SeenUnseenCurve:
    """The exact calibrated-stacking curve, from the per-sample seen/unseen score margins."""
    class_ids = np.asarray(class_ids)
    seen_columns = np.isin(class_ids, seen)
    seen_scores, unseen_scores = scores[:, seen_columns], scores[:, ~seen_columns]
    margin = seen_scores.max(axis=1) - unseen_scores.max(axis=1)
    seen_hit = class_ids[seen_columns][seen_scores.argmax(axis=1)] == labels
    unseen_hit = class_ids[~seen_columns][unseen_scores.argmax(axis=1)] == labels
    is_seen = np.isin(labels, seen)
    n_seen, n_unseen = max(int(is_seen.sum()), 1), max(int((~is_seen).sum()), 1)
    thresholds = np.unique(margin)
    # gamma in [t_k, t_{k+1}): a sample is predicted seen iff margin > gamma, i.e. margin > t_k.
    seen_acc = [float((seen_hit & is_seen).sum()) / n_seen]
    unseen_acc = [0.0]
    sorted_seen = np.sort(margin[seen_hit & is_seen])
    sorted_unseen = np.sort(margin[unseen_hit & ~is_seen])
    seen_above = len(sorted_seen) - np.searchsorted(sorted_seen, thresholds, side="right")
    unseen_at_or_below = np.searchsorted(sorted_unseen, thresholds, side="right")
    seen_acc.extend((seen_above / n_seen).tolist())
    unseen_acc.extend((unseen_at_or_below / n_unseen).tolist())
    gammas = np.concatenate([[-np.inf], thresholds])
    return SeenUnseenCurve(gammas, np.array(seen_acc), np.array(unseen_acc))
