"""zsbench compare: paired tests on records built here (with their .npz), and the CLI's exit codes."""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from zsbench.config import RunConfig
from zsbench.eval.metrics import seen_unseen_curve
from zsbench.report.aggregate import runs_table
from zsbench.report.compare import compare
from zsbench.results.record import RunRecord
from zsbench.results.store import write_record

UNSEEN = (10, 11, 19, 26, 56)
SEEN = tuple(c for c in range(60) if c not in UNSEEN)
PER_CLASS = 8


def write_fake_run(
    folder: Path,
    method: str,
    seed: int,
    zsl_correct: np.ndarray,
    split: str = "synse:55/5",
    protocol: str = "strict",
    method_params: dict | None = None,
    transductive: bool = False,
    npz: bool = True,
) -> Path:
    """A run record whose ZSL predictions are right exactly where ``zsl_correct`` says (samples in class order)."""
    rng = np.random.default_rng(zlib.crc32(f"{method}/{seed}/{protocol}/{split}".encode()))
    classes = np.arange(60)
    labels = np.repeat(classes, PER_CLASS)
    novel = np.isin(labels, UNSEEN)
    zsl_labels = labels[novel]
    assert len(zsl_correct) == len(zsl_labels)
    unseen = np.array(UNSEEN)
    zsl_scores = rng.random((len(zsl_labels), len(unseen))).astype(np.float32)
    for i, (label, right) in enumerate(zip(zsl_labels, zsl_correct, strict=True)):
        column = int(np.flatnonzero(unseen == label)[0])
        zsl_scores[i, column if right else (column + 1) % len(unseen)] = 2.0
    scores = rng.random((len(labels), 60)).astype(np.float32)
    scores[np.arange(len(labels)), labels] += rng.random(len(labels)).astype(np.float32)
    curve = seen_unseen_curve(scores, labels, classes, np.array(SEEN))
    predicted = unseen[np.argmax(zsl_scores, axis=1)]
    config = RunConfig(method=method, dataset="ntu60-synth", split=split, seed=seed, protocol=protocol,
                       method_params=method_params or {})  # fmt: skip
    record = RunRecord(
        run_id=RunConfig.hash(config),
        config=config.to_dict(),
        dataset={"name": "ntu60-synth", "family": "ntu60", "synthetic": True},
        split={"name": split, "family": "ntu60", "seen": list(SEEN), "unseen": list(UNSEEN)},
        protocol={
            "name": protocol,
            "quirks": ["gzsl_calibration_on_test"] if protocol == "paper" else [],
            "transductive": transductive,
            "validation_fold": "pseudo-unseen classes",
        },
        metrics={
            "zsl_top1": float(np.mean(zsl_correct)),
            "gzsl_h": float(curve.harmonic.max()),
            "gzsl_seen": 0.5,
            "gzsl_unseen": 0.5,
            "ausuc": curve.ausuc(),
        },
        per_class={"zsl": {str(c): float(np.mean(zsl_correct[zsl_labels == c])) for c in UNSEEN}},
        confusion={
            "zsl": {
                "classes": list(UNSEEN),
                "counts": [[int(np.sum((zsl_labels == t) & (predicted == p))) for p in UNSEEN] for t in UNSEEN],
            }
        },
        calibration={},
        encoders={},
        method_log={},
        timings={},
    )
    arrays = {"labels": labels, "class_ids": classes, "scores": scores, "zsl_scores": zsl_scores,
              "zsl_labels": zsl_labels, "sample_indices": np.arange(len(labels)) + 1000}  # fmt: skip
    path = write_record(folder, record, arrays)
    if not npz:
        path.with_suffix(".npz").unlink()
    return path


def correctness(accuracy: float, seed: int, n: int = len(UNSEEN) * PER_CLASS) -> np.ndarray:
    return np.random.default_rng(seed).random(n) < accuracy


@pytest.fixture
def two_methods(tmp_path: Path) -> Path:
    for seed in range(3):
        base = correctness(0.5, seed)
        better = base.copy()
        better[:12] = True  # devise right on every sample dvta gets right, plus more
        write_fake_run(tmp_path, "dvta", seed, base)
        write_fake_run(tmp_path, "devise", seed, better)
    return tmp_path


def test_compare_pairs_runs_and_pins_mcnemar_to_the_table(two_methods: Path) -> None:
    runs = runs_table(two_methods)
    result = compare(runs, ["devise", "dvta"], resamples=300)
    (pair,) = result.pairs
    assert (pair.a, pair.b) == ("devise", "dvta") and len(pair.units) == 3
    for unit in pair.units:
        assert unit.samples == 40 and unit.only_b == 0
        assert unit.only_a is not None and unit.only_a > 0
        assert unit.mcnemar_p == pytest.approx(2 * 0.5**unit.only_a)  # b = k, c = 0: 2 · 2^-k
        assert unit.difference == pytest.approx(unit.only_a / 40)
        assert unit.ci_low is not None and unit.ci_high is not None
        assert unit.ci_low <= unit.difference <= unit.ci_high
    # Holm over the three McNemar tests: the smallest is multiplied by 3 (then made monotone).
    ps = sorted(u.mcnemar_p for u in pair.units)  # type: ignore[type-var]
    holm = sorted(u.mcnemar_p_holm for u in pair.units)  # type: ignore[type-var]
    assert holm[0] == pytest.approx(min(1.0, 3 * ps[0]))
    # All three record differences positive: exact sign-flip p = 2 / 8.
    assert pair.mean_difference > 0 and pair.sign_flip_p == pytest.approx(2 / 8)
    assert result.missing_predictions == []


def test_compare_without_npz_still_tests_across_runs(
    two_methods: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    folder = tmp_path_factory.mktemp("no-npz")
    for seed in range(2):
        write_fake_run(folder, "a1", seed, correctness(0.6, seed), npz=False)
        write_fake_run(folder, "b1", seed, correctness(0.4, seed + 10), npz=False)
    result = compare(runs_table(folder), ["a1", "b1"])
    assert all(u.mcnemar_p is None for u in result.pairs[0].units)
    assert len(result.missing_predictions) == 4 and np.isfinite(result.pairs[0].sign_flip_p)


def test_spread_over_random_splits_is_separate_from_spread_over_seeds(tmp_path: Path) -> None:
    for split_index, accuracy in ((1, 0.3), (2, 0.6), (3, 0.9)):
        for seed in range(2):
            for method in ("m1", "m2"):
                write_fake_run(tmp_path, method, seed, correctness(accuracy, seed + 7 * split_index),
                               split=f"smie:{split_index}", npz=False)  # fmt: skip
    result = compare(runs_table(tmp_path), ["m1", "m2"])
    (row, _) = result.spreads
    assert row.group == "smie random, 5 unseen" and row.splits == 3 and row.runs == 6
    assert row.std_over_splits > 0.2 > row.std_over_seeds


def test_compare_cli(two_methods: Path) -> None:
    from zsbench.cli.main import app

    runner = CliRunner()
    result = runner.invoke(app, ["compare", "--results-dir", str(two_methods), "--method", "devise", "--method", "dvta", "--json", "--resamples", "200"])  # fmt: skip
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["pairs"][0]["units"][0]["mcnemar_p"] is not None
    text = runner.invoke(app, ["compare", "--results-dir", str(two_methods), "--method", "devise", "--method", "dvta", "--format", "markdown"])  # fmt: skip
    assert text.exit_code == 0 and "McNemar p" in text.stdout and "| devise | dvta |" in text.stdout
    assert runner.invoke(app, ["compare", "--results-dir", str(two_methods), "--method", "devise"]).exit_code == 2
    assert runner.invoke(app, ["compare", "--results-dir", str(two_methods), "--method", "devise", "--method", "nosuch"]).exit_code == 2  # fmt: skip
    empty = two_methods / "empty"
    empty.mkdir()
    assert runner.invoke(app, ["compare", "--results-dir", str(empty), "--method", "a", "--method", "b"]).exit_code == 3


def test_a_method_with_several_variants_needs_a_choice_only_when_ambiguous(tmp_path: Path) -> None:
    from zsbench.errors import UsageError

    for seed in range(2):
        write_fake_run(tmp_path, "dvta", seed, correctness(0.5, seed))
        write_fake_run(tmp_path, "dvta", seed, correctness(0.7, seed), method_params={"use_aa": False})
        write_fake_run(tmp_path, "dvta", seed, correctness(0.2, seed), method_params={"use_sde": False})
    runs = runs_table(tmp_path)
    result = compare(runs, ["dvta", "dvta[method_params.use_aa=False]"], resamples=200)
    assert result.pairs[0].mean_difference < 0  # 0.5 vs 0.7
    with pytest.raises(UsageError, match="no variant"):
        compare(runs, ["dvta", "dvta[method_params.rho=1]"])
