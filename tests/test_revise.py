"""ReViSE as synse-zsl releases it: toy learning, label-blindness, the text control, the released loss terms by
hand, and end-to-end runs (synthetic store under paper, SynSE-style feature store under strict)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from tests.conftest import FAST_RUN
from tests.pos_toy import SEEN, UNSEEN, Toy, accuracy, compositional_toy, sets, shifted, write_feature_split
from zsbench import runtime
from zsbench.cli.main import app
from zsbench.methods.base import FeatureSet
from zsbench.methods.embedding_losses import gaussian_mmd
from zsbench.methods.revise import Revise, ReviseNetwork, ReviseParams, revise_loss, signed_log1p
from zsbench.splits import resolve

runner = CliRunner()
TOY_PARAMS = ReviseParams(lr=3e-3, batch_size=64, epochs=20)


@pytest.fixture(scope="module")
def fitted() -> tuple[Revise, Toy]:
    runtime.configure("cpu")  # $ZSBENCH_THREADS: small nets are much slower on contended threads
    toy = compositional_toy()
    method = Revise(TOY_PARAMS, "strict", seed=0)
    method.fit(toy.train, toy.bank.select(SEEN))
    return method, toy


def test_it_learns_zero_shot_and_the_text_control_collapses_it(fitted: tuple[Revise, Toy]) -> None:
    method, toy = fitted
    unseen = toy.bank.select(UNSEEN)
    assert accuracy(method.scores(toy.test, unseen), toy.test_labels, UNSEEN) > 0.7  # chance 0.25
    assert accuracy(method.scores(toy.test, shifted(unseen)), toy.test_labels, UNSEEN) < 0.4


def test_scores_never_read_evaluation_labels(fitted: tuple[Revise, Toy]) -> None:
    method, toy = fitted
    unseen = toy.bank.select(UNSEEN)
    wrong = FeatureSet(toy.test.pooled, toy.test_labels[torch.randperm(len(toy.test_labels))])
    assert torch.equal(method.scores(toy.test, unseen), method.scores(wrong, unseen))


def test_the_mmd_term_by_hand() -> None:
    # one sample per side at distance 0.1: K = 1, 1, exp(-32 * 0.01) twice
    assert gaussian_mmd(torch.zeros(1, 1), torch.full((1, 1), 0.1), 32.0).item() == pytest.approx(
        2 - 2 * math.exp(-0.32), rel=1e-6
    )
    x, y = torch.tensor([[0.0], [0.1]]), torch.tensor([[0.0], [0.2]])
    # mean over the 2 x 2 blocks of Kxx + Kyy - Kxy - Kyx = (2 - 2 exp(-0.32)) / 4
    assert gaussian_mmd(x, y, 32.0).item() == pytest.approx((2 - 2 * math.exp(-0.32)) / 4, rel=1e-5)
    assert gaussian_mmd(y, y, 32.0).item() == pytest.approx(0.0, abs=1e-7)


def test_the_input_transform_is_the_released_log1p_on_non_negative_features() -> None:
    x = torch.tensor([0.0, 0.5, 3.0])
    assert torch.allclose(signed_log1p(x), torch.log(1 + x))
    assert torch.isfinite(signed_log1p(torch.tensor([-2.0, -5.0]))).all()  # ours: finite below -1
    assert signed_log1p(torch.tensor([-2.0])).item() == pytest.approx(-math.log(3.0))


def test_the_loss_is_the_unweighted_sum_of_the_four_released_terms() -> None:
    torch.manual_seed(0)
    params = ReviseParams()
    network = ReviseNetwork(8, 6, params)
    pooled, class_text = torch.rand(5, 8), torch.nn.functional.normalize(torch.randn(3, 6), dim=-1)
    targets = torch.tensor([0, 1, 2, 1, 0])
    terms = revise_loss(network, pooled, targets, class_text, params)
    parts = ("hinge", "visual_reconstruction", "text_reconstruction", "mmd")
    assert terms["total"].item() == pytest.approx(sum(terms[k].item() for k in parts))
    # the hinge counts the own class too: at least margin 0.3 per sample
    assert terms["hinge"].item() >= 0.3 - 1e-6
    # the sample-by-sample text terms, as the release computes them on the batch's texts
    code, out, _ = network.text(class_text[targets])
    assert terms["text_reconstruction"].item() == pytest.approx(torch.mean((out - class_text[targets]) ** 2).item())
    visual_code = network.visual(signed_log1p(pooled))[0]
    assert terms["mmd"].item() == pytest.approx(gaussian_mmd(visual_code, code, 32.0).item(), rel=1e-5)
    # the hinge reaches the visual head and, through the sample's own text, the text head
    terms["hinge"].backward()
    assert network.visual.head[0].weight.grad is not None and network.text.head[0].weight.grad is not None


def test_end_to_end_on_the_synthetic_store_under_paper(zsbench_home: Path) -> None:
    result = runner.invoke(app, ["run", "--method", "revise", "--dataset", "ntu60-synth", "--split", "55/5", "--json",
                                 *FAST_RUN, "--protocol", "paper", *sets(epochs=12, lr=0.001, batch_size=64,
                                 plateau_patience=1, plateau_cooldown=0)])  # fmt: skip
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["protocol"]["quirks"] == ["test_epoch_selection", "test_driven_schedule"]
    log = record["method_log"]["test_fold"]
    assert log["test_driven_schedule"] is True and 1 <= log["selected_epoch_on_test"] <= 12
    assert record["method_log"]["validation_fold"]["test_driven_schedule"] is False


def test_end_to_end_on_a_synse_style_feature_store(empty_home: Path, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    text = rng.normal(size=(60, 16))
    text /= np.linalg.norm(text, axis=1, keepdims=True)
    np.save(tmp_path / "text.npy", text.astype(np.float32))
    split = resolve("55/5", "ntu60")
    write_feature_split(tmp_path / "shift_5_r", list(split.seen), text, rng)
    write_feature_split(tmp_path / "shift_val_5_r", list(split.validation_seen), text, rng)
    assert runner.invoke(app, ["prepare", "ntu60-features", "--root", str(tmp_path)]).exit_code == 0
    result = runner.invoke(app, ["run", "--method", "revise", "--dataset", "ntu60-features", "--split", "55/5",
                                 "--json", "--set", f"text.encoder=npy:{tmp_path / 'text.npy'}",
                                 *sets(epochs=30, lr=0.003, batch_size=64)])  # fmt: skip
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["protocol"]["quirks"] == [] and record["method_log"]["test_fold"]["epochs"] == 30
    assert record["metrics"]["zsl_top1"] > 0.5  # chance 0.2
    assert len(record["per_class"]["zsl"]) == 5
