"""SynSE as synse-zsl releases it (noun/verb VAEs on halves of the skeleton latent), and the released GZSL gate
against zsbench's own: the decision rule on a fixed input, the released selection, end-to-end runs."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from torch import nn
from typer.testing import CliRunner

from tests.test_cada_vae import CLI_FAST, FEATURE_FAST, TOY, write_feature_split
from zsbench.cli.main import app
from zsbench.errors import UsageError
from zsbench.eval.gating import Gate, gated_gzsl
from zsbench.methods.base import FeatureSet
from zsbench.methods.cada_vae import AlignedVaes
from zsbench.methods.released_gate import ReleasedGate, fit_released_gate, released_gate_predictions, unseen_side_zsl
from zsbench.methods.synse import Synse, SynseParams
from zsbench.splits import resolve
from zsbench.text.bank import TextBank

runner = CliRunner()
SYNSE_TOY = SynseParams(**{k: getattr(TOY, k) for k in TOY.__dataclass_fields__ if k != "text_slot"})


def test_noun_and_verb_texts_cross_decode_from_their_halves_of_the_skeleton_latent() -> None:
    network = AlignedVaes(2, (2, 2), (1, 1))  # noun first, verb second, as released
    with torch.no_grad():
        network.skeleton_encoder.mu.weight.copy_(torch.eye(2))
        noun_encoder, verb_encoder = network.text_encoders
        noun_encoder.mu.weight.copy_(torch.tensor([[1.0, 0.0]]))
        verb_encoder.mu.weight.copy_(torch.tensor([[0.0, 1.0]]))
        for encoder in (network.skeleton_encoder, noun_encoder, verb_encoder):
            encoder.mu.bias.zero_()
            encoder.logvar.weight.zero_()
            encoder.logvar.bias.fill_(math.log(0.25))
        network.skeleton_decoder[0].weight.copy_(torch.eye(2))
        network.text_decoders[0][0].weight.copy_(torch.tensor([[1.0], [2.0]]))
        network.text_decoders[1][0].weight.copy_(torch.tensor([[3.0], [1.0]]))
        for decoder in (network.skeleton_decoder, *network.text_decoders):
            decoder[0].bias.zero_()
    s, noun, verb = torch.tensor([[1.0, 2.0]]), torch.tensor([[0.5, 1.0]]), torch.tensor([[2.0, 0.25]])
    terms = network.terms(s, [noun, verb], torch.Generator().manual_seed(1), shared=True)
    draws = torch.Generator().manual_seed(1)
    eps_s, eps_n, eps_v = (torch.randn((1, 1), generator=draws).item() for _ in range(3))  # skeleton, noun, verb
    z_s = np.array([1.0, 2.0]) + 0.5 * eps_s
    z_n, z_v = 0.5 + 0.5 * eps_n, 0.25 + 0.5 * eps_v
    mse = lambda a, b: float(np.mean((np.asarray(a) - np.asarray(b)) ** 2))  # noqa: E731
    relu = lambda v: np.maximum(np.asarray(v), 0)  # noqa: E731
    expected = (mse([0.5, 1.0], relu([z_s[0], 2 * z_s[0]])) + mse([2.0, 0.25], relu([3 * z_s[1], z_s[1]]))
                + mse([1.0, 2.0], relu([z_n, z_v])))  # fmt: skip
    assert terms["cross_reconstruction"].item() == pytest.approx(expected, rel=1e-6)


def test_text_kls_are_off_in_the_first_two_cycles() -> None:
    method = Synse(SynseParams(), "strict", seed=0)
    assert method.term_weights(1, 1600, 1700)["text_kl"] == 0
    assert method.term_weights(2, 1600, 1700)["text_kl"] == pytest.approx(0.1 * 200 / 3000)
    assert method.term_weights(2, 1600, 1700)["skeleton_kl"] == pytest.approx(0.02)
    with pytest.raises(UsageError, match="even"):
        Synse(SynseParams(latent_size=9), "strict", seed=0)


def pos_toy(classes: int = 16, per_class: int = 20) -> tuple[torch.Tensor, torch.Tensor, TextBank]:
    generator = torch.Generator().manual_seed(0)
    nouns, verbs = (nn.functional.normalize(torch.randn(classes, 4, generator=generator), dim=-1) for _ in range(2))
    labels = torch.arange(classes * per_class) % classes
    mixing = torch.randn(8, 32, generator=generator)
    features = torch.cat([nouns, verbs], 1)[labels] @ mixing + 3.0 + 0.1 * torch.randn(len(labels), 32)
    return features, labels, TextBank(tuple(range(classes)), ("noun", "verb"), torch.stack([nouns, verbs], 1), "t")


def test_it_learns_zero_shot_blind_to_labels_and_collapses_with_permuted_texts() -> None:
    torch.set_num_threads(1)
    features, labels, bank = pos_toy()
    seen = labels < 12
    method = Synse(SYNSE_TOY, "strict", seed=0)
    method.fit(FeatureSet(features[seen], labels[seen]), bank.select(tuple(range(12))))
    unseen = bank.select((12, 13, 14, 15))
    scores = method.scores(FeatureSet(features[~seen]), unseen)
    assert torch.equal(scores, method.scores(FeatureSet(features[~seen], labels[~seen].flip(0)), unseen))
    accuracy = float((scores.argmax(1) + 12 == labels[~seen]).float().mean())
    assert accuracy > 0.6, accuracy  # chance 1/4
    permuted = TextBank(unseen.labels, unseen.slots, unseen.embeddings[torch.tensor([1, 2, 3, 0])], "t")
    control = float(
        (method.scores(FeatureSet(features[~seen]), permuted).argmax(1) + 12 == labels[~seen]).float().mean()
    )
    assert control < 0.3, control


class FixedProbabilities:
    """A stand-in gate model whose probability of class 1 is given per row."""

    def __init__(self, p_class1: np.ndarray) -> None:
        self.p = p_class1

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        return np.stack([1 - self.p, self.p], 1)


def test_the_released_gate_applies_its_threshold_mirrored_and_zsbench_gate_does_not() -> None:
    p_unseen = np.array([0.40, 0.45, 0.50, 0.53, 0.60])
    zsl = np.tile([[0.9, 0.1]], (5, 1))  # the unseen branch says class 2
    logits = np.tile([[3.0, 1.0]], (5, 1))  # the seen branch says class 0
    # label 0 = unseen in the release, so the model's class-0 probability is p_unseen
    released = ReleasedGate(3, 0.54, FixedProbabilities(1 - p_unseen), 1.0)  # type: ignore[arg-type]
    inverted = released_gate_predictions(released, zsl, logits, np.array([2, 3]), np.array([0, 1]))
    assert inverted.tolist() == [0, 0, 2, 2, 2]  # seen iff 1 - p_unseen > 0.54, i.e. unseen from p_unseen 0.46 on
    as_trained = released_gate_predictions(released, zsl, logits, np.array([2, 3]), np.array([0, 1]), inverted=False)
    assert as_trained.tolist() == [0, 0, 0, 0, 2]  # unseen iff p_unseen > 0.54, the rule training chose th for
    # so the published gated GZSL is the training rule's run at 1 - th (away from the boundary itself)
    p_many = np.random.default_rng(0).random(200)
    many = ReleasedGate(3, 0.54, FixedProbabilities(1 - p_many), 1.0)  # type: ignore[arg-type]
    mirrored = ReleasedGate(3, 1 - 0.54, FixedProbabilities(1 - p_many), 1.0)  # type: ignore[arg-type]
    zsl_many, logits_many = np.tile(zsl[:1], (200, 1)), np.tile(logits[:1], (200, 1))
    assert np.array_equal(
        released_gate_predictions(many, zsl_many, logits_many, np.array([2, 3]), np.array([0, 1])),
        released_gate_predictions(mirrored, zsl_many, logits_many, np.array([2, 3]), np.array([0, 1]), inverted=False),
    )
    ours = Gate(3.0, 0.54, FixedProbabilities(p_unseen))  # type: ignore[arg-type]
    labels = np.array([0, 0, 2, 2, 2])
    assert gated_gzsl(ours, zsl, logits, labels, np.array([2, 3]), np.array([0, 1])) == pytest.approx((1, 1 / 3, 0.5))


def test_released_gate_selection_keeps_the_first_best_threshold_and_temperature() -> None:
    rng = np.random.default_rng(0)
    unseen_logits, seen_logits = rng.normal(size=(40, 3)), rng.normal(size=(50, 3)) + np.array([12.0, 0, 0])
    zsl = rng.dirichlet(np.ones(2), size=90)
    gate = fit_released_gate(zsl[:40], unseen_logits, zsl[40:], seen_logits, seed=5)
    # separable (a confident backbone on seen samples only): every T reaches 1.0, so T 1 and th 0.25 stay
    assert gate.held_out_accuracy == 1.0 and gate.temperature == 1 and gate.threshold == 0.25


def test_the_released_unseen_side_takes_pseudo_seen_rows() -> None:
    zsl = np.arange(12.0).reshape(6, 2)  # rows 0..5
    is_unseen = np.array([True, False, True, False, False, False])
    assert unseen_side_zsl(zsl, is_unseen, False).tolist() == [[0, 1], [4, 5]]
    assert unseen_side_zsl(zsl, is_unseen, True).tolist() == [[2, 3], [6, 7]]  # the first two pseudo-seen rows
    # four pseudo-unseen, two pseudo-seen rows: the slice holds both pseudo-seen rows, as the release's [:n] would
    assert unseen_side_zsl(zsl, ~is_unseen, True).tolist() == [[0, 1], [4, 5]]


def test_the_binary_fit_with_c2_is_the_released_two_class_multinomial_with_c1() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 4))
    y = (x[:, 0] + 0.5 * rng.normal(size=200) > 0).astype(int)
    model = LogisticRegression(C=2.0, max_iter=5000, tol=1e-10).fit(x, y)
    w = np.stack([-model.coef_[0] / 2, model.coef_[0] / 2])  # the multinomial optimum is symmetric
    b = np.array([-model.intercept_[0] / 2, model.intercept_[0] / 2])
    logits = x @ w.T + b
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    residual = p - np.eye(2)[y]
    # gradient of C * sum CE + 0.5 |W|^2 (sklearn's multinomial objective, C = 1) vanishes there
    assert np.abs(residual.T @ x + w).max() < 1e-5 and np.abs(residual.sum(0)).max() < 1e-5


def test_end_to_end_on_the_synthetic_store_under_paper(zsbench_home: Path) -> None:
    result = runner.invoke(app, ["run", "--method", "synse", "--dataset", "ntu60-synth", "--split", "48/12", "--json",
                                 "--protocol", "paper", *CLI_FAST])  # fmt: skip
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["protocol"]["text_slots"] == ["noun", "verb"]
    assert record["protocol"]["quirks"] == ["test_epoch_selection", "inverted_gate_threshold",
                                            "gate_unseen_zsl_from_seen_samples"]  # fmt: skip
    assert record["calibration"]["decision"].startswith("seen if 1 - p_unseen > threshold")


def test_end_to_end_on_a_synse_style_feature_store(empty_home: Path, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    text = rng.normal(size=(60, 16))
    text /= np.linalg.norm(text, axis=1, keepdims=True)
    np.save(tmp_path / "text.npy", text.astype(np.float32))
    split = resolve("55/5", "ntu60")
    write_feature_split(tmp_path / "shift_5_r", list(split.seen), text, rng)
    write_feature_split(tmp_path / "shift_val_5_r", list(split.validation_seen), text, rng)
    assert runner.invoke(app, ["prepare", "ntu60-features", "--root", str(tmp_path)]).exit_code == 0
    result = runner.invoke(app, ["run", "--method", "synse", "--dataset", "ntu60-features", "--split", "55/5",
                                 "--json", "--set", f"text.encoder=npy:{tmp_path / 'text.npy'}", *FEATURE_FAST,
                                 "--set", "method_params.latent_size=16"])  # fmt: skip
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["protocol"]["quirks"] == [] and record["calibration"]["method"] == "stacking"
    assert record["metrics"]["zsl_top1"] > 0.5  # chance 0.2
