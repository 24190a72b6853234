"""Quirks are switches: each can be turned on or off alone, and the record lists those that acted."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from zsbench.cli.main import app
from zsbench.errors import UsageError
from zsbench.methods.dynapurls import DynaPurls
from zsbench.quirks import CATALOGUE, active_quirks

runner = CliRunner()
TINY = ["--method", "dynapurls", "--dataset", "ntu60-synth", "--split", "48/12", "--json",
        "--set", "encoder.epochs=2", "--set", "encoder.hidden=16", "--set", "method_params.epochs=2",
        "--set", "method_params.hidden=32"]  # fmt: skip


def test_active_quirks_follow_protocol_then_switches() -> None:
    declared = ("a", "b", "c")
    assert active_quirks(declared, "strict") == ()
    assert active_quirks(declared, "paper") == declared
    assert active_quirks(declared, "strict", add=["c", "a"]) == ("a", "c")
    assert active_quirks(declared, "paper", remove=["b"]) == ("a", "c")
    with pytest.raises(UsageError, match="its quirks: a, b, c"):
        active_quirks(declared, "strict", add=["d"])


def test_every_declared_quirk_is_in_the_catalogue() -> None:
    from zsbench.catalog import METHODS

    for name in METHODS.names():
        method = METHODS.get(name)
        assert set(method.paper_quirks) <= set(CATALOGUE), name
        assert method.reads_test_labels <= {q for q in method.paper_quirks if CATALOGUE[q].reads_test_labels}, name


def test_one_quirk_alone_runs_and_only_the_quirks_that_acted_are_recorded(zsbench_home: Path) -> None:
    alone = runner.invoke(app, ["run", *TINY, "--protocol", "strict", "--quirk", "ground_truth_query",
                                "--set", "method_params.refine=false"])  # fmt: skip
    assert alone.exit_code == 0, alone.output
    record = json.loads(alone.stdout)
    assert record["protocol"]["quirks"] == ["ground_truth_query"]
    assert record["protocol"]["name"] == "custom"
    # Paper without refinement: the five refinement quirks are on but cannot act, so only one is recorded.
    paper = runner.invoke(app, ["run", *TINY, "--protocol", "paper", "--set", "method_params.refine=false"])
    assert paper.exit_code == 0, paper.output
    paper_record = json.loads(paper.stdout)
    assert paper_record["protocol"]["quirks"] == ["ground_truth_query"]
    assert paper_record["protocol"]["quirks_on"] == list(DynaPurls.paper_quirks)
    assert paper_record["protocol"]["name"] == "paper"
    # The same quirk reached the same scores either way.
    assert paper_record["metrics"]["zsl_top1"] == record["metrics"]["zsl_top1"]
    # And turning it off again gives back the strict numbers.
    strict = runner.invoke(app, ["run", *TINY, "--set", "method_params.refine=false"])
    off = runner.invoke(app, ["run", *TINY, "--protocol", "paper", "--no-quirk", "ground_truth_query",
                              "--set", "method_params.refine=false"])  # fmt: skip
    assert strict.exit_code == 0 and off.exit_code == 0, off.output
    assert json.loads(off.stdout)["metrics"]["zsl_top1"] == json.loads(strict.stdout)["metrics"]["zsl_top1"]


def test_an_unknown_quirk_is_a_usage_error_listing_the_methods_quirks(zsbench_home: Path) -> None:
    result = runner.invoke(app, ["run", *TINY, "--quirk", "test_epoch_selection"])
    assert result.exit_code == 2
    assert "ground_truth_query" in result.stderr


def test_method_parameter_checks_run_before_any_training(zsbench_home: Path, tmp_path: Path) -> None:
    from zsbench import paths

    before = sorted(paths.encoders_dir().rglob("*.pt")) if paths.encoders_dir().exists() else []
    result = runner.invoke(app, ["run", *TINY, "--set", "method_params.pooling=clusters",
                                 "--set", "encoder.epochs=3"])  # fmt: skip
    assert result.exit_code == 2 and "pooling must be one of" in result.stderr
    after = sorted(paths.encoders_dir().rglob("*.pt")) if paths.encoders_dir().exists() else []
    assert after == before  # nothing was trained for a run that could not have finished
    # A sweep checks every point the same way before the first run.
    sweep = runner.invoke(app, ["sweep", "--method", "dynapurls", "--split", "48/12", "--dataset", "ntu60-synth",
                                "--set", "method_params.pooling=clusters", "--dry-run"])  # fmt: skip
    assert sweep.exit_code == 2 and "pooling" in sweep.stderr
