"""CADA-VAE as synse-zsl releases it: loss terms and schedules against the released formulas, label-blindness, the
text control, and end-to-end runs (synthetic store, SynSE-style feature store) with the released gate under paper."""

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
from zsbench.cli.main import app
from zsbench.methods.base import FeatureSet
from zsbench.methods.cada_vae import AlignedVaes, CadaVae, CadaVaeParams, reparameterize, wasserstein
from zsbench.splits import resolve
from zsbench.text.bank import TextBank

runner = CliRunner()
# A short schedule that learns the toy (the released lr and classifier lr are for 17,000 steps on real features).
TOY = CadaVaeParams(latent_size=8, cycles=1, cycle_epochs=600, cross_start=50, kl_start=100, lr=3e-3,
                    classifier_samples=200, classifier_lr=1e-2)  # fmt: skip
SEEN, UNSEEN = tuple(range(12)), (12, 13, 14, 15)


def method_sets(**values: object) -> list[str]:
    return [x for key, value in values.items() for x in ("--set", f"method_params.{key}={value}")]


# Short budgets for the end-to-end runs: FAST_RUN's encoder settings, this method's own schedule.
CLI_FAST = [*FAST_RUN[:-2], *method_sets(latent_size=8, cycles=2, cycle_epochs=60, five_unseen_cycle_epochs=60, cross_start=20, kl_start=10,
                                         lr=0.003, classifier_samples=20, classifier_steps=60)]  # fmt: skip
FEATURE_FAST = method_sets(latent_size=8, cycles=1, cycle_epochs=400, five_unseen_cycle_epochs=400, cross_start=50, kl_start=100, lr=0.003,
                           classifier_samples=50, classifier_lr=0.01)  # fmt: skip


def toy(classes: int = 16, per_class: int = 20) -> tuple[torch.Tensor, torch.Tensor, TextBank]:
    """Skeleton features an affine, non-negative function of a low-dimensional class text: 12 seen classes
    determine the map, so zero-shot transfer to the last 4 is possible."""
    generator = torch.Generator().manual_seed(0)
    text = nn.functional.normalize(torch.randn(classes, 6, generator=generator), dim=-1)
    projection = torch.randn(6, 32, generator=generator)
    labels = torch.arange(classes * per_class) % classes
    features = text[labels] @ projection + 3.0 + 0.1 * torch.randn(len(labels), 32, generator=generator)
    bank = TextBank(tuple(range(classes)), ("name", "label_global"), torch.stack([text, text], 1), "toy")
    return features, labels, bank


@pytest.fixture(scope="module")
def fitted() -> tuple[CadaVae, torch.Tensor, torch.Tensor, TextBank]:
    torch.set_num_threads(1)
    features, labels, bank = toy()
    seen = labels < 12
    method = CadaVae(TOY, "strict", seed=0)
    method.fit(FeatureSet(features[seen], labels[seen]), bank.select(SEEN))
    return method, features[~seen], labels[~seen], bank


def test_it_learns_zero_shot_on_a_toy_problem_and_the_text_control_collapses_it(fitted) -> None:
    method, features, labels, bank = fitted
    unseen = bank.select(UNSEEN)
    accuracy = float((method.scores(FeatureSet(features), unseen).argmax(1) + 12 == labels).float().mean())
    assert accuracy > 0.6, accuracy  # chance 1/4
    permuted = TextBank(unseen.labels, unseen.slots, unseen.embeddings[torch.tensor([1, 2, 3, 0])], "toy")
    control = float((method.scores(FeatureSet(features), permuted).argmax(1) + 12 == labels).float().mean())
    assert control < 0.3, control  # each class now carries another's text: the signal flowed through text


def test_scores_never_read_labels_and_do_not_depend_on_the_order_of_calls(fitted) -> None:
    method, features, labels, bank = fitted
    unseen = bank.select(UNSEEN)
    first = method.scores(FeatureSet(features, labels), unseen)
    method.scores(FeatureSet(features), bank)  # a GZSL call in between (seen classes from training skeletons)
    again = method.scores(FeatureSet(features, labels[torch.randperm(len(labels))]), unseen)
    assert torch.equal(first, again) and torch.equal(first, method.scores(FeatureSet(features), unseen))
    assert set(method.train_labels.tolist()) == set(SEEN)  # fit saw the seen classes only


def test_loss_terms_equal_the_released_formulas_by_hand() -> None:
    network = AlignedVaes(2, (2,), (2,))
    with torch.no_grad():
        for encoder in (network.skeleton_encoder, network.text_encoders[0]):
            encoder.mu.weight.copy_(torch.eye(2))
            encoder.mu.bias.zero_()
            encoder.logvar.weight.zero_()
            encoder.logvar.bias.fill_(math.log(0.25))  # sigma 0.5
        for decoder in (network.skeleton_decoder, network.text_decoders[0]):
            decoder[0].weight.copy_(torch.eye(2))
            decoder[0].bias.zero_()
    s = torch.tensor([[1.0, 2.0], [0.0, 1.0]])
    t = torch.tensor([[0.5, -0.5], [1.0, 0.0]])
    terms = network.terms(s, [t], torch.Generator().manual_seed(3), shared=True)
    draws = torch.Generator().manual_seed(3)
    eps_s, eps_t = (torch.randn((2, 1), generator=draws).numpy() for _ in range(2))
    sn, tn = s.numpy(), t.numpy()
    z_s, z_t = sn + 0.5 * eps_s, tn + 0.5 * eps_t  # identity encoders, one eps per sample for both dimensions
    relu = lambda v: np.maximum(v, 0)  # noqa: E731
    mse = lambda a, b: float(np.mean((a - b) ** 2))  # noqa: E731
    # released KL_divergence is 0.5 sum(-mu^2 + 1 + logvar - exp(logvar)) / B, subtracted: KL = its negative
    kl = lambda mu: -0.5 * float(np.sum(1 + math.log(0.25) - mu**2 - 0.25)) / 2  # noqa: E731
    assert terms["reconstruction"].item() == pytest.approx(mse(sn, relu(z_s)) + mse(tn, relu(z_t)), rel=1e-6)
    assert terms["skeleton_kl"].item() == pytest.approx(kl(sn), rel=1e-6)
    assert terms["text_kl"].item() == pytest.approx(kl(tn), rel=1e-6)
    assert terms["cross_reconstruction"].item() == pytest.approx(mse(sn, relu(z_t)) + mse(tn, relu(z_s)), rel=1e-6)
    # equal sigmas: the released Wasserstein is the sum over the batch of |mu_s - mu_t|
    assert terms["alignment"].item() == pytest.approx(float(np.linalg.norm(sn - tn, axis=1).sum()), rel=1e-6)
    lv1, lv2 = torch.zeros(1, 2), torch.full((1, 2), math.log(4.0))  # sigma 1 vs 2, same mu: sqrt(1 + 1)
    assert wasserstein(torch.zeros(1, 2), lv1, torch.zeros(1, 2), lv2).item() == pytest.approx(math.sqrt(2))
    z = reparameterize(torch.zeros(4, 3), torch.zeros(4, 3), torch.Generator().manual_seed(0))
    assert torch.equal(z, z[:, :1].expand(4, 3))  # released: one noise scalar per sample


def test_the_released_schedule() -> None:
    method = CadaVae(CadaVaeParams(), "strict", seed=0)
    early, at_cross, late = (method.term_weights(0, offset, 1700) for offset in (1000, 1400, 1600))
    assert early["skeleton_kl"] == 0 and early["cross_reconstruction"] == 0
    assert at_cross["skeleton_kl"] == pytest.approx(0.1 * 400 / 3000) and at_cross["text_kl"] == 0  # o > c is strict
    assert late == pytest.approx({"reconstruction": 1.0, "skeleton_kl": 0.02, "text_kl": 0.02,
                                  "cross_reconstruction": 1.0, "alignment": 0.0})  # fmt: skip
    assert method.term_weights(0, 1450, 1900)["cross_reconstruction"] == 0  # a 1900-step cycle crosses after 1500
    assert method.cycle_length(55) == 1700 and method.cycle_length(48) == 1900


def test_end_to_end_on_the_synthetic_store_with_the_released_gate_under_paper(zsbench_home: Path) -> None:
    base = ["run", "--method", "cada_vae", "--dataset", "ntu60-synth", "--split", "48/12", "--json", *CLI_FAST]
    result = runner.invoke(app, [*base, "--protocol", "paper"])
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["protocol"]["quirks"] == ["test_epoch_selection", "inverted_gate_threshold",
                                            "gate_unseen_zsl_from_seen_samples"]  # fmt: skip
    assert record["method_log"]["test_fold"]["selected_epoch_on_test"] in (1, 2)
    gate = record["calibration"]
    assert gate["method"] == "released synse-zsl gate (paper quirk)" and 1 <= gate["temperature"] <= 9
    assert record["metrics"]["gzsl_h"] == pytest.approx(
        2 * record["metrics"]["gzsl_seen"] * record["metrics"]["gzsl_unseen"]
        / max(record["metrics"]["gzsl_seen"] + record["metrics"]["gzsl_unseen"], 1e-12)
    )  # fmt: skip
    strict = json.loads(runner.invoke(app, base).stdout)
    assert strict["protocol"]["quirks"] == [] and strict["calibration"]["method"] == "stacking"


def write_feature_split(folder: Path, seen: list[int], text: np.ndarray, rng: np.random.Generator) -> None:
    """A SynSE-style folder whose features follow the class text (so zero-shot transfer is possible)."""
    projection = rng.normal(size=(text.shape[1], 256))
    folder.mkdir(parents=True)
    for name, labels in (("train", np.repeat(seen, 8)), ("gtest", np.repeat(np.arange(60), 6))):
        features = np.maximum(text[labels] @ projection, 0) + 0.1 * rng.random((len(labels), 256))
        np.save(folder / f"{name}.npy", features.astype(np.float32))
        np.save(folder / ("train_label.npy" if name == "train" else "g_label.npy"), labels)
    logits = rng.normal(size=(360, 60)) + 4.0 * np.eye(60)[np.repeat(np.arange(60), 6)]  # a backbone that knows
    np.save(folder / "gtest_out.npy", logits.astype(np.float32))


def test_end_to_end_on_a_synse_style_feature_store(empty_home: Path, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    text = rng.normal(size=(60, 16))
    text /= np.linalg.norm(text, axis=1, keepdims=True)
    np.save(tmp_path / "text.npy", text.astype(np.float32))
    split = resolve("55/5", "ntu60")
    write_feature_split(tmp_path / "shift_5_r", list(split.seen), text, rng)
    write_feature_split(tmp_path / "shift_val_5_r", list(split.validation_seen), text, rng)
    assert runner.invoke(app, ["prepare", "ntu60-features", "--root", str(tmp_path)]).exit_code == 0
    args = ["run", "--method", "cada_vae", "--dataset", "ntu60-features", "--split", "55/5", "--json",
            "--set", f"text.encoder=npy:{tmp_path / 'text.npy'}", *FEATURE_FAST]  # fmt: skip
    result = runner.invoke(app, [*args, "--protocol", "paper"])
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["metrics"]["zsl_top1"] > 0.5  # chance 0.2
    assert "inverted_gate_threshold" in record["protocol"]["quirks"]
    assert record["calibration"]["method"] == "released synse-zsl gate (paper quirk)"
