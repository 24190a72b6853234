"""`zsbench bench methods` reports scoring throughput: test samples scored per second of the same run's scoring."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from zsbench.cli.main import app

runner = CliRunner()


def _fake_execute(scoring: dict[str, float], samples: dict[str, int]) -> Any:
    """A stand-in for the runner: a record whose test fold took ``scoring[method]`` seconds for ``samples[method]``."""

    def execute(config: Any, results_dir: Path, existing: Any, device: str | None = None) -> tuple[Any, Path, bool]:
        results_dir.mkdir(parents=True, exist_ok=True)
        path = results_dir / f"{config.method}.json"
        np.savez(path.with_suffix(".npz"), labels=np.zeros(samples[config.method], dtype=np.int64))
        timings = {"fit_seconds": 1.0, "scoring_seconds": 3 * scoring[config.method],
                   "test_scoring_seconds": scoring[config.method]}  # fmt: skip
        encoders = {"test_fold": {"reused": False}, "validation_fold": {"reused": False}}
        return SimpleNamespace(timings=timings, encoders=encoders), path, False

    return execute


@pytest.fixture
def fake_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("zsbench.data.prepare.prepare_synthetic", lambda *args, **kwargs: None)
    monkeypatch.setattr(
        "zsbench.runner.execute", _fake_execute({"devise": 0.5, "dvta": 0.25}, {"devise": 40, "dvta": 30})
    )


def test_samples_per_second_is_test_samples_over_the_test_folds_scoring_seconds(fake_runs: None) -> None:
    result = runner.invoke(app, ["bench", "methods", "--method", "devise", "--method", "dvta", "--quick", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [(row["method"], row["cache"]) for row in rows] == [("devise", "cold"), ("devise", "warm"),
                                                               ("dvta", "cold"), ("dvta", "warm")]  # fmt: skip
    for row, expected in zip(rows, (80.0, 80.0, 120.0, 120.0), strict=True):
        assert row["samples_per_second"] == pytest.approx(expected)
        assert row["samples_per_second"] == pytest.approx(row["test_samples"] / row["test_scoring_seconds"])
        assert row["stages"]["scoring_seconds"] == pytest.approx(3 * row["test_scoring_seconds"])  # columns kept


def test_the_table_has_a_samples_per_second_column(fake_runs: None) -> None:
    result = runner.invoke(app, ["bench", "methods", "--method", "dvta", "--quick"])
    assert result.exit_code == 0, result.output
    header = next(line for line in result.stdout.splitlines() if "samples/s" in line)
    assert "scoring" in header and "total s" in header
    assert any(line.rstrip(" │|").endswith("120") for line in result.stdout.splitlines() if "dvta" in line)
