from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from zsbench.eval import metrics


def test_hand_worked_zsl_case() -> None:
    classes = np.array([3, 7, 9])
    scores = np.array([[0.9, 0.1, 0.0], [0.2, 0.5, 0.3], [0.1, 0.3, 0.6], [0.5, 0.4, 0.1]])
    labels = np.array([3, 9, 9, 7])
    # predictions: 3, 7, 9, 3 -> correct: yes, no, yes, no
    assert metrics.topk_accuracy(scores, labels, classes, 1) == 0.5
    # top-2: sample 2 (label 9, scores 0.2/0.5/0.3) has 9 second -> correct; sample 4 (label 7) second -> correct
    assert metrics.topk_accuracy(scores, labels, classes, 2) == 1.0
    predicted = metrics.predictions(scores, classes)
    assert metrics.per_class_accuracy(predicted, labels, classes) == {3: 1.0, 7: 0.0, 9: 0.5}
    assert metrics.mean_class_accuracy(predicted, labels, classes) == 0.5
    assert metrics.confusion_matrix(predicted, labels, classes).tolist() == [[1, 0, 0], [1, 0, 0], [0, 1, 1]]


def test_hand_worked_gzsl_calibration() -> None:
    classes = np.array([0, 1, 2])  # 0, 1 seen; 2 unseen
    scores = np.array([[2.0, 0.0, 1.5], [0.0, 1.0, 0.8], [1.0, 0.0, 0.7], [0.0, 0.5, 0.2]])
    labels = np.array([0, 1, 2, 2])
    seen = np.array([0, 1])
    assert metrics.gzsl_accuracies(scores, labels, classes, seen, 0.0) == (1.0, 0.0, 0.0)
    # gamma 0.4: samples 3 and 4 flip to the unseen class (right), sample 2 too (wrong), sample 1 stays seen
    s, u, h = metrics.gzsl_accuracies(scores, labels, classes, seen, 0.4)
    assert (s, u) == (0.5, 1.0) and abs(h - 2 / 3) < 1e-12
    s, u, _ = metrics.gzsl_accuracies(scores, labels, classes, seen, 10.0)
    assert (s, u) == (0.0, 1.0)


def test_harmonic_mean_edge_cases() -> None:
    assert metrics.harmonic_mean(0.0, 0.8) == 0.0
    assert metrics.harmonic_mean(0.5, 0.5) == 0.5


score_arrays = st.integers(min_value=2, max_value=60).flatmap(
    lambda n: st.tuples(st.just(n), st.integers(min_value=3, max_value=8), st.integers(min_value=0, max_value=2**31))
)


def _random_problem(n: int, c: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    scores = rng.normal(size=(n, c))
    seen = np.arange(c // 2 + 1)
    labels = rng.integers(0, c, n)
    labels[:2] = [0, c - 1]  # at least one seen-class and one unseen-class sample
    return scores, labels, np.arange(c), seen


@settings(max_examples=60, deadline=None)
@given(st.floats(0, 1), st.floats(0, 1))
def test_harmonic_mean_lies_between_min_and_max(a: float, b: float) -> None:
    h = metrics.harmonic_mean(a, b)
    if a == 0 or b == 0:
        assert h == 0
    else:
        assert min(a, b) - 1e-12 <= h <= max(a, b) + 1e-12


@settings(max_examples=40, deadline=None)
@given(score_arrays)
def test_curve_matches_direct_calibration_and_ausuc_is_a_probability(problem: tuple[int, int, int]) -> None:
    scores, labels, classes, seen = _random_problem(*problem)
    curve = metrics.seen_unseen_curve(scores, labels, classes, seen)
    assert 0.0 <= curve.ausuc() <= 1.0
    for position in range(1, len(curve.gammas)):
        upper = curve.gammas[position + 1] if position + 1 < len(curve.gammas) else curve.gammas[position] + 1
        gamma = (curve.gammas[position] + upper) / 2
        s, u, _ = metrics.gzsl_accuracies(scores, labels, classes, seen, gamma)
        assert np.isclose(s, curve.seen[position]) and np.isclose(u, curve.unseen[position])
    s, u, h = metrics.gzsl_accuracies(scores, labels, classes, seen, curve.best_gamma())
    assert np.isclose(h, curve.harmonic.max())


@settings(max_examples=40, deadline=None)
@given(score_arrays, st.integers(1, 7))
def test_accuracy_is_invariant_to_sample_order_and_batching(problem: tuple[int, int, int], batch: int) -> None:
    scores, labels, classes, seen = _random_problem(*problem)
    order = np.random.default_rng(problem[2]).permutation(len(labels))
    assert metrics.topk_accuracy(scores, labels, classes) == metrics.topk_accuracy(
        scores[order], labels[order], classes
    )
    assert metrics.gzsl_accuracies(scores, labels, classes, seen, 0.3) == metrics.gzsl_accuracies(
        scores[order], labels[order], classes, seen, 0.3
    )
    batched = sum(
        metrics.topk_accuracy(scores[i : i + batch], labels[i : i + batch], classes) * len(labels[i : i + batch])
        for i in range(0, len(labels), batch)
    )
    assert np.isclose(batched / len(labels), metrics.topk_accuracy(scores, labels, classes))


def _brute_force_ausuc(scores: np.ndarray, labels: np.ndarray, classes: np.ndarray, seen: np.ndarray) -> float:
    """Sweep the stacking constant over every breakpoint (and past both ends), then integrate the points."""
    seen_columns = np.isin(classes, seen)
    margins = np.unique(scores[:, seen_columns].max(axis=1) - scores[:, ~seen_columns].max(axis=1))
    # One constant strictly inside each interval between breakpoints, so no sample sits on a tie.
    gammas = np.concatenate([[margins[0] - 1.0], (margins[:-1] + margins[1:]) / 2, [margins[-1] + 1.0]])
    points = [metrics.gzsl_accuracies(scores, labels, classes, seen, g)[:2] for g in gammas]
    seen_acc = np.array([p[0] for p in points])[::-1]  # ascending constant -> descending seen accuracy
    unseen_acc = np.array([p[1] for p in points])[::-1]
    return float(np.sum((seen_acc[1:] - seen_acc[:-1]) * (unseen_acc[1:] + unseen_acc[:-1]) / 2))


def test_ausuc_with_vertical_steps_is_the_staircase_area() -> None:
    # Two seen and two unseen samples, each class right within its own group: a staircase curve.
    classes = np.array([0, 1, 2])
    seen = np.array([0, 1])
    scores = np.array(
        [
            [3.0, 0.0, 0.0],  # seen 0, margin 3
            [0.0, 1.0, 0.0],  # seen 1, margin 1
            [0.0, 0.0, 0.5],  # unseen 2, margin -0.5
            [2.0, 0.0, 0.0],  # unseen 2 predicted seen, margin 2 (unseen hit only once gamma >= 2)
        ]
    )
    labels = np.array([0, 1, 2, 2])
    curve = metrics.seen_unseen_curve(scores, labels, classes, seen)
    # gamma < -0.5: S 1, U 0; [-0.5, 1): S 1, U .5; [1, 2): S .5, U .5; [2, 3): S .5, U 1; >= 3: S 0, U 1.
    # Area under U(S): S from 0 to .5 at U 1 -> .5; S from .5 to 1 at U .5 -> .25; total .75.
    assert curve.ausuc() == 0.75
    assert _brute_force_ausuc(scores, labels, classes, seen) == 0.75


@settings(max_examples=60, deadline=None)
@given(score_arrays, st.sampled_from([None, 1, 2]))
def test_ausuc_equals_brute_force_sweep_with_ties_and_few_seen_samples(
    problem: tuple[int, int, int], rounding: int | None
) -> None:
    scores, labels, classes, seen = _random_problem(*problem)
    if rounding is not None:
        # Whole numbers keep every margin exact, so many margins and scores are equal (ties).
        scores = np.round(scores * 10**rounding)
    curve = metrics.seen_unseen_curve(scores, labels, classes, seen)
    assert np.isclose(curve.ausuc(), _brute_force_ausuc(scores, labels, classes, seen), atol=1e-12)
