from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from torch import nn
from typer.testing import CliRunner

from zsbench.cli.main import app
from zsbench.kernels import prototypes
from zsbench.methods.base import FeatureSet
from zsbench.methods.pgfa import Pgfa, PgfaParams
from zsbench.text.bank import TextBank

runner = CliRunner()
TINY = ["--set", "method_params.epochs=3", "--set", "method_params.encoder=tcn", "--set", "method_params.encoder_hidden=32",
        "--set", "encoder.epochs=2", "--set", "encoder.hidden=32"]  # fmt: skip


def _method(params: PgfaParams) -> tuple[Pgfa, FeatureSet, TextBank]:
    """A PGFA with an untrained network: enough to check the test-time passes."""
    skeletons = np.random.default_rng(0).normal(size=(40, 3, 16, 25, 2)).astype(np.float32)
    text = TextBank((3, 5, 9), ("label_global",), nn.functional.normalize(torch.randn(3, 1, 12), dim=-1), "test")
    method = Pgfa(params, "strict", seed=0)
    method.fit(FeatureSet(torch.zeros(6, 1), torch.tensor([3, 5, 9, 3, 5, 9]), skeletons, np.arange(6)), text)
    return method, FeatureSet(torch.zeros(40, 1), None, skeletons, np.arange(40)), text


def test_prototype_pass_is_invariant_to_test_order_and_batching() -> None:
    method, features, text = _method(PgfaParams(epochs=1, batch_size=6, encoder="tcn", encoder_hidden=16, rho=0.5))
    scores = method.scores(features, text)
    order = np.random.default_rng(1).permutation(40)
    shuffled = method.scores(FeatureSet(features.pooled, None, features.skeletons, features.indices[order]), text)
    assert torch.allclose(shuffled, scores[order], atol=1e-6)
    assert not torch.allclose(scores, method.last_pass_one if method.last_pass_one is not None else scores)


def test_fallback_to_text_when_too_few_samples_are_assigned() -> None:
    features = nn.functional.normalize(torch.randn(5, 4), dim=-1)
    text = nn.functional.normalize(torch.randn(3, 4), dim=-1)
    assigned = torch.tensor([0, 0, 0, 0, 1])  # class 1 has one sample, class 2 none
    entropy = torch.tensor([0.1, 0.4, 0.2, 0.3, 0.1])
    anchors = prototypes(features, entropy, assigned, text, rho=0.9)
    assert torch.allclose(anchors[1], text[1]) and torch.allclose(anchors[2], text[2])  # floor(0.9 * 1) = 0 < 1
    assert torch.allclose(anchors[0], features[[0, 2, 3]].mean(0))  # floor(0.9 * 4) = 3 lowest-entropy samples


def test_pgfa_runs_end_to_end_on_smie_and_synse_splits(zsbench_home: Path) -> None:
    for split in ("smie:1", "48/12"):
        result = runner.invoke(
            app, ["run", "--method", "pgfa", "--dataset", "ntu60-synth", "--split", split, "--json", *TINY]
        )
        assert result.exit_code == 0, result.output
        record = json.loads(result.stdout)
        assert record["protocol"]["transductive"] is True
        assert record["method_log"]["test_fold"]["rho"] == 0.9  # released NTU-60 value
        assert record["method_log"]["test_fold"]["encoder"] == "tcn"
        assert 0 <= record["metrics"]["zsl_top1"] <= 1
    markdown = runner.invoke(app, ["report", "--format", "markdown"]).stdout
    assert "pgfa†" in markdown


def test_test_time_variants_reuse_one_training(zsbench_home: Path) -> None:
    base = ["run", "--method", "pgfa", "--dataset", "ntu60-synth", "--split", "55/5", "--json", *TINY]
    first = json.loads(runner.invoke(app, [*base, "--set", "method_params.rho=0.5"]).stdout)
    second = json.loads(runner.invoke(app, [*base, "--set", "method_params.use_prototypes=false"]).stdout)
    assert second["method_log"]["test_fold"]["fit_reused"] is True
    assert first["method_log"]["test_fold"]["final_loss"] == second["method_log"]["test_fold"]["final_loss"]
    assert first["metrics"] != second["metrics"]  # prototypes with rho 0.5 vs pass 1 only
    retrained = json.loads(runner.invoke(app, [*base, "--set", "method_params.lr=0.01"]).stdout)
    assert retrained["method_log"]["test_fold"]["fit_reused"] is False


def test_released_backbone_choice_follows_the_split_setting() -> None:
    assert Pgfa(PgfaParams(), "strict", 0, "ntu60", "smie").encoder_name == "stgcn"
    assert Pgfa(PgfaParams(), "strict", 0, "ntu60", "synse").encoder_name == "shiftgcn"
    assert Pgfa(PgfaParams(encoder="tcn"), "strict", 0, "ntu60", "synse").encoder_name == "tcn"
    assert Pgfa(PgfaParams(), "strict", 0, "ntu120", "synse").rho == 0.4
