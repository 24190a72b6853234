"""The `paper` paths of DVTA and PGFA end to end: test-epoch selection, batch-averaged accuracy, PGFA's warm-up."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from typer.testing import CliRunner

from tests.conftest import FAST_RUN
from zsbench.cli.main import app
from zsbench.methods.base import FeatureSet
from zsbench.methods.pgfa import Pgfa, PgfaNetwork, PgfaParams
from zsbench.pipeline.scores import batch_averaged_accuracy
from zsbench.seeding import seed_everything
from zsbench.text.bank import TextBank

runner = CliRunner()


def _paper_record(method: str, extra: list[str], results: Path) -> tuple[dict, dict]:
    result = runner.invoke(app, ["run", "--method", method, "--dataset", "ntu60-synth", "--split", "48/12",
                                 "--protocol", "paper", "--json", "--results-dir", str(results), *extra])  # fmt: skip
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    arrays = dict(np.load(results / f"{record['run_id']}.npz"))
    return record, arrays


def _assert_batch_averaged(record: dict, arrays: dict, batch: int) -> None:
    classes = np.array(sorted(record["split"]["unseen"]))
    scores, labels = arrays["zsl_scores"], arrays["zsl_labels"]
    sample_averaged = float(np.mean(classes[scores.argmax(1)] == labels))
    # Hand-computed: the mean over consecutive batches of each batch's accuracy.
    per_batch = [np.mean(classes[scores[i : i + batch].argmax(1)] == labels[i : i + batch]) for i in
                 range(0, len(labels), batch)]  # fmt: skip
    assert record["metrics"]["zsl_top1"] == pytest.approx(float(np.mean(per_batch)))
    assert record["metrics"]["zsl_top1"] == pytest.approx(batch_averaged_accuracy(scores, labels, classes, batch))
    assert record["metrics"]["zsl_top1_sample_averaged"] == pytest.approx(sample_averaged)
    assert len(labels) % batch != 0  # a short last batch: the two averages really are different quantities


def test_dvta_paper_selects_the_epoch_on_test_and_batch_averages(zsbench_home: Path, tmp_path: Path) -> None:
    epochs = 6
    record, arrays = _paper_record(
        "dvta",
        [*FAST_RUN, "--set", f"method_params.epochs={epochs}", "--set", "method_params.warmup_epochs=2"],
        tmp_path,
    )
    assert record["protocol"]["quirks"] == ["test_epoch_selection", "batch_averaged_accuracy",
                                            "sde_train_inference_mismatch"]  # fmt: skip
    assert 1 <= record["method_log"]["test_fold"]["selected_epoch_on_test"] <= epochs
    assert "selected_epoch_on_test" not in record["method_log"]["validation_fold"]
    _assert_batch_averaged(record, arrays, 64)


def test_pgfa_paper_selects_on_test_and_batch_averages(zsbench_home: Path, tmp_path: Path) -> None:
    tiny = ["--set", "method_params.epochs=3", "--set", "method_params.encoder=tcn",
            "--set", "method_params.encoder_hidden=32", "--set", "method_params.warmup_epochs=1"]  # fmt: skip
    record, arrays = _paper_record("pgfa", tiny, tmp_path)
    assert record["protocol"]["quirks"] == ["test_epoch_selection", "batch_averaged_accuracy", "warmup_epoch0_lr0"]
    assert 1 <= record["method_log"]["test_fold"]["selected_epoch_on_test"] <= 3
    _assert_batch_averaged(record, arrays, 64)


def test_pgfa_paper_warmup_trains_its_first_epoch_at_learning_rate_zero() -> None:
    skeletons = np.random.default_rng(0).normal(size=(8, 3, 16, 25, 2)).astype(np.float32)
    text = TextBank((3, 5), ("label_global",), nn.functional.normalize(torch.randn(2, 1, 12), dim=-1), "test")
    train = FeatureSet(torch.zeros(8, 1), torch.tensor([3, 5] * 4), skeletons, np.arange(8))
    params = PgfaParams(epochs=1, warmup_epochs=5, batch_size=4, encoder="tcn", encoder_hidden=16)
    seed_everything(0)
    initial = {k: v.clone() for k, v in PgfaNetwork(params, text.dim, "tcn").named_parameters()}
    unchanged = {}
    for protocol in ("strict", "paper"):
        method = Pgfa(params, protocol, seed=0)
        method.fit(train, text)
        assert method.network is not None
        trained = dict(method.network.named_parameters())
        unchanged[protocol] = all(torch.equal(trained[k].cpu(), initial[k]) for k in initial)
    # Released warm-up lr·epoch/warmup: epoch 0 at lr 0 moves nothing; strict starts at lr/warmup.
    assert unchanged == {"strict": False, "paper": True}
