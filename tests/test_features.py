"""Feature stores (SynSE-style pre-extracted features): prepare, run methods on them, validation fold choice."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from zsbench.cli.main import app
from zsbench.splits import resolve

runner = CliRunner()
FAST = ["--set", "method_params.epochs=10", "--set", "method_params.batch_size=32"]


def _write_split(folder: Path, seen: list[int], classes: int, rng: np.random.Generator, centres: np.ndarray) -> None:
    folder.mkdir(parents=True)
    train_labels = np.repeat(seen, 6)
    test_labels = np.repeat(np.arange(classes), 4)
    np.save(
        folder / "train.npy",
        (centres[train_labels] + 0.3 * rng.normal(size=(len(train_labels), 256))).astype(np.float32),
    )
    np.save(folder / "train_label.npy", train_labels)
    np.save(
        folder / "gtest.npy", (centres[test_labels] + 0.3 * rng.normal(size=(len(test_labels), 256))).astype(np.float32)
    )
    np.save(folder / "g_label.npy", test_labels)
    np.save(folder / "gtest_out.npy", rng.normal(size=(len(test_labels), classes)).astype(np.float32))


def test_synse_feature_folders_become_a_store_that_methods_run_on(empty_home: Path, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(60, 256))
    split = resolve("55/5", "ntu60")
    _write_split(tmp_path / "shift_5_r", list(split.seen), 60, rng, centres)
    _write_split(tmp_path / "shift_val_5_r", list(split.validation_seen), 60, rng, centres)
    result = runner.invoke(app, ["prepare", "ntu60-features", "--root", str(tmp_path)])
    assert result.exit_code == 0, result.output
    for method, extra in (("devise", []), ("dvta", []), ("dynapurls", ["--set", "method_params.hidden=64"])):
        run = runner.invoke(
            app, ["run", "--method", method, "--dataset", "ntu60-features", "--split", "55/5", "--json", *FAST, *extra]
        )
        assert run.exit_code == 0, run.output
        record = json.loads(run.stdout)
        assert record["protocol"]["validation_fold"].startswith("validation features from the store")
        assert len(record["per_class"]["zsl"]) == 5
    # DynaPURLS on pooled features: one token per sample, attention pooling is the identity (an `ours` adaptation).
    assert record["method_log"]["test_fold"]["pooled_feature_adaptation"] is True
    missing = runner.invoke(app, ["run", "--method", "devise", "--dataset", "ntu60-features", "--split", "48/12"])
    assert missing.exit_code == 3 and "holds synse:55/5" in missing.stderr
    raw_only = runner.invoke(app, ["run", "--method", "pgfa", "--dataset", "ntu60-features", "--split", "55/5"])
    assert raw_only.exit_code == 2 and "raw skeletons" in raw_only.stderr


def test_without_validation_features_the_record_says_the_fold_is_approximate(empty_home: Path, tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    split = resolve("48/12", "ntu60")
    _write_split(tmp_path / "shift_12_r", list(split.seen), 60, rng, rng.normal(size=(60, 256)))
    assert runner.invoke(app, ["prepare", "ntu60-features", "--root", str(tmp_path)]).exit_code == 0
    run = runner.invoke(app, ["run", "--dataset", "ntu60-features", "--split", "48/12", "--json", *FAST])
    assert run.exit_code == 0, run.output
    assert json.loads(run.stdout)["protocol"]["validation_fold"].startswith("approximate")


def test_a_folder_whose_training_labels_contain_unseen_classes_is_rejected(empty_home: Path, tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    _write_split(tmp_path / "shift_5_r", list(range(55)), 60, rng, rng.normal(size=(60, 256)))  # wrong class list
    result = runner.invoke(app, ["prepare", "ntu60-features", "--root", str(tmp_path)])
    assert result.exit_code == 3 and "train_label.npy" in result.stderr and "unseen" in result.stderr
    assert not (empty_home / "datasets" / "ntu60-features").exists()
