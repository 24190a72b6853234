"""A record, a cached encoder or a cached fit is reused only under the same data, code and compute settings."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from tests.conftest import TINY_SYNTH
from zsbench import identity
from zsbench.cli.main import app
from zsbench.config import RunConfig
from zsbench.data.prepare import prepare_synthetic
from zsbench.pipeline.resolve import resolve_run

runner = CliRunner()
PGFA = ["run", "--method", "pgfa", "--dataset", "ntu60-synth", "--split", "48/12", "--json",
        "--set", "method_params.epochs=2", "--set", "method_params.encoder=tcn", "--set", "method_params.encoder_hidden=16",
        "--set", "encoder.epochs=2", "--set", "encoder.hidden=16"]  # fmt: skip


def test_weights_hash_names_the_weights_only() -> None:
    torch.manual_seed(0)
    first = torch.nn.Linear(4, 3)
    same = torch.nn.Linear(4, 3)
    same.load_state_dict(first.state_dict())
    assert identity.weights_hash(first.state_dict()) == identity.weights_hash(same.state_dict())
    with torch.no_grad():
        same.bias[0] += 1e-6
    assert identity.weights_hash(first.state_dict()) != identity.weights_hash(same.state_dict())
    # The same values under another dtype are other weights.
    assert identity.weights_hash(first.state_dict()) != identity.weights_hash(first.double().state_dict())


def test_thread_count_and_numerics_version_are_part_of_the_run_id(
    zsbench_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = RunConfig(method="devise", dataset="ntu60-synth", split="48/12")
    ids = {}
    for threads in ("1", "2"):
        monkeypatch.setenv("ZSBENCH_THREADS", threads)
        ids[threads] = resolve_run(config).run_id
        assert resolve_run(config).identity["compute"] == {"device": "cpu", "threads": int(threads)}
    assert ids["1"] != ids["2"]
    monkeypatch.setattr(identity, "NUMERICS_VERSION", identity.NUMERICS_VERSION + 1)
    assert resolve_run(config).run_id != ids["2"]


def test_re_prepared_data_is_never_answered_with_the_old_record_or_fit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ZSBENCH_HOME", str(tmp_path))
    records = []
    for seed in (0, 1):  # the same dataset name, prepared twice with different content
        prepare_synthetic("ntu60-synth", dataclasses.replace(TINY_SYNTH, seed=seed))
        result = runner.invoke(app, PGFA)
        assert result.exit_code == 0, result.output
        assert "found an existing record" not in result.stderr
        records.append(json.loads(result.stdout))
    old, new = records
    assert old["dataset"]["content_hash"] != new["dataset"]["content_hash"]
    assert old["run_id"] != new["run_id"]
    assert new["identity"]["data"] == new["dataset"]["content_hash"]
    # Same config, same training rows and text: only the data changed, and the fit was not reused.
    assert new["method_log"]["test_fold"]["fit_reused"] is False
    again = runner.invoke(app, PGFA)
    assert again.exit_code == 0 and "found an existing record" in again.stderr
    assert json.loads(again.stdout)["run_id"] == new["run_id"]
