"""TDSM: the released noising, loss and decision rule on hand-sized inputs; learning; label blindness; CLI runs."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from typer.testing import CliRunner

from tests.conftest import FAST_RUN
from zsbench import runtime
from zsbench.cli.main import app
from zsbench.errors import UsageError
from zsbench.methods.base import FeatureSet
from zsbench.methods.tdsm import Tdsm, TdsmParams, denoising_errors, tdsm_loss
from zsbench.methods.tdsm_model import Conditioning, Denoiser, add_noise, scaled_linear_alphas_cumprod
from zsbench.splits import resolve
from zsbench.text.bank import TextBank

runner = CliRunner()
SLOTS = ("label_global", "phases_upto:3")
TINY = dict(hidden=32, depth=1, heads=2, batch_size=64, warmup_steps=10, lr=3e-3)


@pytest.fixture(autouse=True, scope="module")
def _one_thread() -> None:
    runtime.configure("cpu")  # $ZSBENCH_THREADS (1 in the suite): the small denoiser is slower on contended threads


def test_the_schedule_and_noising_equal_a_hand_computation() -> None:
    # Released schedule (SD-2.1-base scaled_linear, cut to 50 steps): ᾱ_25 by hand, in float64.
    root_start, root_end = math.sqrt(0.00085), math.sqrt(0.012)
    betas = [(root_start + i * (root_end - root_start) / 49) ** 2 for i in range(50)]
    by_hand = math.prod(1 - b for b in betas[:26])
    alphas = scaled_linear_alphas_cumprod(50, 0.00085, 0.012)
    assert alphas[25].item() == pytest.approx(by_hand, rel=1e-5)
    assert alphas[25].item() == pytest.approx(0.93410, abs=1e-4)
    # Three steps, β = 0.01, 0.04, 0.09 (√β evenly spaced): ᾱ = 0.99, 0.99·0.96, 0.99·0.96·0.91.
    alphas = scaled_linear_alphas_cumprod(3, 0.01, 0.09)
    assert torch.allclose(alphas, torch.tensor([0.99, 0.9504, 0.864864]), atol=1e-6)
    clean, noise = torch.tensor([[[1.0, -2.0]], [[0.5, 0.0]]]), torch.tensor([[[0.0, 1.0]], [[2.0, -1.0]]])
    noisy = add_noise(clean, noise, torch.tensor([0, 2]), alphas)
    expected = torch.tensor(
        [
            [[math.sqrt(0.99), -2 * math.sqrt(0.99) + math.sqrt(0.01)]],
            [[0.5 * math.sqrt(0.864864) + 2 * math.sqrt(0.135136), -math.sqrt(0.135136)]],
        ]
    )
    assert torch.allclose(noisy, expected, atol=1e-6)


def test_the_loss_equals_a_hand_computation_with_the_mask_and_margin() -> None:
    noise = torch.tensor([[[1.0, 0.0]], [[0.0, 2.0]]])
    positive = torch.tensor([[[1.0, 1.0]], [[0.0, 0.0]]])  # errors e_pos = (0 + 1)/2 = 0.5 and (0 + 4)/2 = 2
    negative = torch.tensor([[[3.0, 0.0]], [[0.0, 2.0]]])  # errors e_neg = (4 + 0)/2 = 2 and 0
    total, diffusion, triplet = tdsm_loss(positive, negative, noise, torch.tensor([1.0, 0.0]), margin=1.0)
    assert diffusion.item() == pytest.approx(5 / 4)  # mean over the 4 entries of (0, 1, 0, 4)
    # Sample 0: max(0, 0.5 − 2 + 1) = 0; sample 1 is masked (its negative was its own class). Mean over 2 → 0.
    assert triplet.item() == pytest.approx(0.0)
    _, _, unmasked = tdsm_loss(positive, negative, noise, torch.ones(2), margin=1.0)
    assert unmasked.item() == pytest.approx((0.0 + (2 - 0 + 1)) / 2)  # sample 1: max(0, 2 − 0 + 1) = 3
    total, diffusion, triplet = tdsm_loss(positive, negative, noise, torch.ones(2), margin=2.0, diffusion_weight=2.0,
                                          triplet_weight=0.5)  # fmt: skip
    assert diffusion.item() == pytest.approx(2.5)
    assert triplet.item() == pytest.approx(0.5 * (0.5 + 4) / 2)  # max(0, 0.5 − 2 + 2) = 0.5; 2 − 0 + 2 = 4
    assert total.item() == pytest.approx(2.5 + 1.125)


class OracleDenoiser(nn.Module):
    """ε̂ = (x_t − √ᾱ μ_k) / √(1 − ᾱ): exact when x_0 is the conditioning class's mean μ_k (held in ``c``)."""

    def __init__(self, alpha: float) -> None:
        super().__init__()
        self.alpha = alpha

    def denoise(self, noisy: torch.Tensor, condition: Conditioning) -> torch.Tensor:
        return (noisy - math.sqrt(self.alpha) * condition.c[:, None]) / math.sqrt(1 - self.alpha)


def test_inference_picks_the_class_whose_conditioning_denoises_best() -> None:
    alphas = scaled_linear_alphas_cumprod(50, 0.00085, 0.012)
    means = torch.tensor([[2.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 2.0]])
    empty = torch.zeros(3, 0)
    classes = Conditioning(means, torch.zeros(3, 1, 1), [], [], empty)
    samples = means[[2, 0, 1, 1]] + 0.1 * torch.randn(4, 3, generator=torch.Generator().manual_seed(0))
    noises = torch.randn(3, 3, generator=torch.Generator().manual_seed(1))
    errors = denoising_errors(OracleDenoiser(alphas[25].item()), samples, classes, noises, 25, alphas, 5)  # type: ignore[arg-type]
    assert errors.argmin(1).tolist() == [2, 0, 1, 1]
    # The error is summed over the noises: with this oracle it is 3·ᾱ/(1 − ᾱ)·mean((x_0 − μ_k)²) exactly.
    a = alphas[25].item()
    by_hand = 3 * a / (1 - a) * ((samples[:, None] - means[None]) ** 2).mean(-1)
    assert torch.allclose(errors, by_hand, rtol=1e-4)


def _random_denoiser() -> Denoiser:
    torch.manual_seed(0)
    network = Denoiser(6, 8, 4, 2, hidden=16, depth=2, heads=2, mlp_ratio=4.0)
    for parameter in network.parameters():  # leave the released zero-init so every path contributes
        nn.init.normal_(parameter, std=0.3)
    return network.eval()


def test_batched_scoring_equals_the_released_loop_over_noises_and_classes() -> None:
    network = _random_denoiser()
    alphas = scaled_linear_alphas_cumprod(50, 0.00085, 0.012)
    features, noises = torch.randn(5, 6), torch.randn(3, 6)
    pooled, tokens = torch.randn(4, 8), torch.randn(4, 2, 4)
    with torch.no_grad():
        classes = network.conditioning(torch.full((4,), 25), pooled, tokens)
        batched = [denoising_errors(network, features, classes, noises, 25, alphas, rows) for rows in (1, 7, 10_000)]
        looped = torch.zeros(5, 4)  # the release: for each noise, for each class, the whole batch at once
        t = torch.full((5,), 25)
        for j in range(3):
            noisy = add_noise(features[:, None], noises[j].expand(5, 1, 6), t, alphas)
            for k in range(4):
                predicted = network(noisy, t, pooled[k].expand(5, -1), tokens[k].expand(5, -1, -1))
                looped[:, k] += ((predicted - noises[j]) ** 2).mean(dim=(1, 2))
    for errors in batched:
        assert torch.allclose(errors, looped, atol=1e-5)


def test_the_last_block_skips_only_text_work_that_nothing_reads() -> None:
    block = _random_denoiser().blocks[-1]
    x, text, mod_x, mod_text = torch.randn(3, 1, 16), torch.randn(3, 2, 16), torch.randn(3, 96), torch.randn(3, 96)
    with torch.no_grad():
        full_x, full_text = block(x, text, mod_x, mod_text)
        skipped_x, skipped_text = block(x, text, mod_x, mod_text, update_text=False)
    assert torch.allclose(full_x, skipped_x, atol=1e-6)
    assert torch.equal(skipped_text, text) and not torch.allclose(full_text, text)


def _toy(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, TextBank, list[int], list[int]]:
    """Sixteen classes whose feature means are a fixed linear function of their text: seen 0-11, unseen 12-15."""
    generator = torch.Generator().manual_seed(seed)
    text = nn.functional.normalize(torch.randn(16, 2, 6, generator=generator), dim=-1)
    centres = text.flatten(1) @ torch.randn(12, 24, generator=generator) / 12**0.5
    labels = torch.arange(16).repeat_interleave(20)
    features = centres[labels] + 0.2 * torch.randn(len(labels), 24, generator=generator)
    return features, labels, TextBank(tuple(range(16)), SLOTS, text, "toy"), list(range(12)), list(range(12, 16))


@pytest.fixture(scope="module")
def fitted() -> tuple[Tdsm, torch.Tensor, torch.Tensor, TextBank]:
    features, labels, bank, seen, unseen = _toy()
    train = torch.isin(labels, torch.tensor(seen))
    method = Tdsm(TdsmParams(epochs=40, **TINY), "strict", seed=0)  # type: ignore[arg-type]
    log = method.fit(FeatureSet(features[train], labels[train]), bank.select(seen))
    assert log["steps"] == 40 * (12 * 20 // 64)
    return method, features[~train], labels[~train], bank.select(unseen)


def _accuracy(method: Tdsm, features: torch.Tensor, labels: torch.Tensor, bank: TextBank) -> float:
    predicted = torch.tensor(bank.labels)[method.scores(FeatureSet(features), bank).argmax(1)]
    return (predicted == labels).float().mean().item()


def test_it_learns_zero_shot_and_the_signal_goes_through_text(fitted: tuple[Tdsm, torch.Tensor, torch.Tensor, TextBank]) -> None:  # fmt: skip
    method, features, labels, bank = fitted
    assert _accuracy(method, features, labels, bank) > 0.6  # chance 0.25
    rolled = TextBank(bank.labels, bank.slots, bank.embeddings.roll(1, dims=0), bank.encoder)  # a derangement
    assert _accuracy(method, features, labels, rolled) < 0.2


def test_scores_never_read_labels_and_do_not_depend_on_the_chunk(fitted: tuple[Tdsm, torch.Tensor, torch.Tensor, TextBank]) -> None:  # fmt: skip
    method, features, labels, bank = fitted
    blind = method.scores(FeatureSet(features), bank)
    assert torch.equal(blind, method.scores(FeatureSet(features, labels[torch.randperm(len(labels))]), bank))
    method.params = TdsmParams(epochs=40, score_rows=7, **TINY)  # type: ignore[arg-type]
    assert torch.allclose(method.scores(FeatureSet(features), bank), blind, atol=1e-5)
    assert blind.shape == (len(features), 4) and (blind <= 0).all()


def test_parameter_checks_name_the_fields() -> None:
    with pytest.raises(UsageError, match="divisible by heads"):
        Tdsm(TdsmParams(hidden=30, heads=4), "strict", 0)
    with pytest.raises(UsageError, match="inference_timestep"):
        Tdsm(TdsmParams(inference_timestep=50), "strict", 0)


METHOD_TINY = ["--set", "method_params.hidden=32", "--set", "method_params.depth=1", "--set", "method_params.heads=2",
               "--set", "method_params.batch_size=128"]  # fmt: skip


def test_cli_paper_run_selects_its_epoch_on_test_and_says_so(zsbench_home: Path) -> None:
    result = runner.invoke(app, ["run", "--method", "tdsm", "--dataset", "ntu60-synth", "--split", "48/12", "--json",
                                 "--protocol", "paper", *FAST_RUN, *METHOD_TINY, "--set", "method_params.epochs=2"])  # fmt: skip
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["protocol"]["quirks"] == ["test_epoch_selection"]
    assert 1 <= record["method_log"]["test_fold"]["selected_epoch_on_test"] <= 2
    assert "selected_epoch_on_test" not in record["method_log"]["validation_fold"]
    assert record["method_log"]["test_fold"]["inference_noises"] == 3
    assert record["protocol"]["text_slots"] == list(SLOTS)


def _write_split(folder: Path, seen: list[int], rng: np.random.Generator, centres: np.ndarray) -> None:
    folder.mkdir(parents=True)
    train_labels, test_labels = np.repeat(seen, 6), np.repeat(np.arange(60), 3)
    for name, labels, label_file in (("train", train_labels, "train_label"), ("gtest", test_labels, "g_label")):
        noisy = centres[labels] + 0.3 * rng.normal(size=(len(labels), 256))
        np.save(folder / f"{name}.npy", noisy.astype(np.float32))
        np.save(folder / f"{label_file}.npy", labels)
    np.save(folder / "gtest_out.npy", rng.normal(size=(len(test_labels), 60)).astype(np.float32))


def test_cli_strict_run_on_a_synse_style_feature_store(empty_home: Path, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(60, 256))
    split = resolve("55/5", "ntu60")
    _write_split(tmp_path / "shift_5_r", list(split.seen), rng, centres)
    _write_split(tmp_path / "shift_val_5_r", list(split.validation_seen), rng, centres)
    assert runner.invoke(app, ["prepare", "ntu60-features", "--root", str(tmp_path)]).exit_code == 0
    result = runner.invoke(app, ["run", "--method", "tdsm", "--dataset", "ntu60-features", "--split", "55/5", "--json",
                                 *METHOD_TINY, "--set", "method_params.epochs=2"])  # fmt: skip
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["protocol"]["name"] == "strict" and record["protocol"]["quirks"] == []
    assert record["protocol"]["validation_fold"].startswith("validation features from the store")
    assert len(record["per_class"]["zsl"]) == 5
    # 55 seen classes × 6 samples at batch 128, drop_last: 2 steps per epoch.
    assert record["method_log"]["test_fold"]["steps"] == 2 * (55 * 6 // 128)
    # The test fold's own scoring time (what `zsbench bench methods` divides the test samples by).
    assert 0 < record["timings"]["test_scoring_seconds"] < record["timings"]["scoring_seconds"]
