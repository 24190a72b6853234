from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from typer.testing import CliRunner

from tests.test_features import _write_split
from zsbench import runtime
from zsbench.cli.main import app
from zsbench.errors import UsageError
from zsbench.methods.base import FeatureSet
from zsbench.methods.star import FALLBACK, Star, StarParams, bilinear_prompt_scores, star_loss
from zsbench.pipeline.fitting import permute_novel_text
from zsbench.splits import resolve
from zsbench.text.bank import TextBank

runner = CliRunner()


@pytest.fixture(autouse=True)
def _configured_threads() -> None:
    runtime.configure("cpu")  # direct fits honour $ZSBENCH_THREADS, as the CLI's do


SLOTS = Star.text_slots
CLASSES, SEEN = 36, 30
# ours: a larger LR and batch than released, so that the toy learns in few steps
TOY = StarParams(epochs=12, prompts=8, batch_size=120, lr=0.1, lr_steps=(10,))


def _toy(samples_per_class: int = 12) -> tuple[FeatureSet, FeatureSet, torch.Tensor, TextBank]:
    """Maps whose every joint is a fixed linear image of the class's text vector, plus noise.

    Returns the seen-class training set, the unseen-class evaluation set (no labels), its labels and the bank.
    """
    generator = torch.Generator().manual_seed(0)
    vectors = F.normalize(torch.randn(CLASSES, 8, generator=generator), dim=-1)
    embeddings = torch.stack(
        [F.normalize(vectors + 0.1 * torch.randn(CLASSES, 8, generator=generator), dim=-1) for _ in SLOTS], 1
    )
    mixing = torch.randn(25, 16, 8, generator=generator)
    labels = torch.arange(CLASSES).repeat_interleave(samples_per_class)
    clean = torch.einsum("vwd,nd->nwv", mixing, vectors[labels])[:, :, None, :].expand(-1, -1, 4, -1)
    maps = clean + 0.5 * torch.randn(len(labels), 16, 4, 25, generator=generator)
    seen = labels < SEEN
    train = FeatureSet(maps[seen].mean(dim=(2, 3)), labels[seen], map=maps[seen])
    evaluation = FeatureSet(maps[~seen].mean(dim=(2, 3)), None, map=maps[~seen])
    return train, evaluation, labels[~seen], TextBank(tuple(range(CLASSES)), SLOTS, embeddings, "toy")


def _accuracy(scores: torch.Tensor, labels: torch.Tensor, classes: tuple[int, ...]) -> float:
    return float((torch.tensor(classes)[scores.argmax(1)] == labels).float().mean())


def test_the_bilinear_prompt_score_is_the_released_einsum_by_hand() -> None:
    prompts = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    weight = torch.tensor([[2.0, 0.0], [1.0, 3.0]])
    embedded = torch.tensor([[[1.0, 1.0], [1.0, -1.0]]])
    # prompt 0: [1,0]·W = [2,0], ·[1,1] = 2; prompt 1: [0,1]·W = [1,3], ·[1,-1] = -2
    assert bilinear_prompt_scores(prompts, weight, embedded).tolist() == [[2.0, -2.0]]
    released = torch.einsum("iv,vf,bif->bi", prompts, weight, embedded)
    assert torch.equal(released, bilinear_prompt_scores(prompts, weight, embedded))


def test_the_released_loss_equals_a_hand_computation() -> None:
    global_vector = torch.tensor([[1.0, 0.0]])  # cosines with the labels: [1, 0], target 0
    label = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    part_vectors = torch.tensor([[[0.0, 3.0]]])  # cosines with the descriptions: [0, 1], target 0
    descriptions = torch.tensor([[[1.0, 0.0], [0.0, 2.0]]])  # dot with the labels: [[1, 0], [0, 2]]
    total, terms = star_loss(global_vector, part_vectors, label, descriptions, torch.tensor([0]), (0.1, 1.0, 0.1))
    e = math.e
    ce_global = -math.log(e / (e + 1) + 1e-12)
    ce_part = -math.log(1 / (1 + e) + 1e-12)
    pd_label = (-math.log(e / (e + 1) + 1e-12) - math.log(e**2 / (1 + e**2) + 1e-12)) / 2
    assert terms == pytest.approx({"ce_global": ce_global, "ce_part": ce_part, "pd_label": pd_label}, abs=1e-6)
    assert float(total) == pytest.approx(0.1 * ce_global + ce_part + 0.1 * pd_label, abs=1e-6)
    fallback_total, fallback_terms = star_loss(global_vector, None, label, descriptions, torch.tensor([0]), (1, 1, 1))
    assert fallback_terms["ce_part"] == 0.0 and float(fallback_total) == pytest.approx(ce_global + pd_label, abs=1e-6)


def test_it_recognises_unseen_classes_and_collapses_when_their_text_is_permuted() -> None:
    train, evaluation, labels, bank = _toy()
    method = Star(TOY, "strict", seed=0)
    log = method.fit(train, bank.select(list(range(SEEN))))
    assert log["fallback"] is None and log["parts"] == ["head", "hand", "arm", "hip", "leg", "foot"]
    unseen = tuple(range(SEEN, CLASSES))
    accuracy = _accuracy(method.scores(evaluation, bank.select(unseen)), labels, unseen)
    assert accuracy > 0.5, accuracy  # chance 1/6
    permuted = permute_novel_text(bank.select(unseen), unseen, seed=0)
    assert _accuracy(method.scores(evaluation, permuted), labels, unseen) < 0.3
    # Scores never read evaluation labels: the same with true, shuffled or no labels.
    labelled = FeatureSet(evaluation.pooled, labels, map=evaluation.map)
    shuffled = FeatureSet(evaluation.pooled, labels[torch.randperm(len(labels))], map=evaluation.map)
    reference = method.scores(evaluation, bank.select(unseen))
    assert torch.equal(reference, method.scores(labelled, bank.select(unseen)))
    assert torch.equal(reference, method.scores(shuffled, bank.select(unseen)))
    # What fit learned is sized by the seen classes alone (one text prompt per seen class and part).
    assert method.network is not None and method.network.text_prompts.shape[:2] == (6, SEEN)


def test_pooled_features_fall_back_to_global_matching() -> None:
    train, evaluation, labels, bank = _toy()
    pooled_train = FeatureSet(train.pooled, train.labels)
    method = Star(TOY, "strict", seed=0)
    log = method.fit(pooled_train, bank.select(list(range(SEEN))))
    assert log["fallback"] == FALLBACK and log["final_terms"]["ce_part"] == 0.0 and log["parts"] == []
    assert method.network is not None and len(method.network.attention) == 1
    unseen = tuple(range(SEEN, CLASSES))
    accuracy = _accuracy(method.scores(FeatureSet(evaluation.pooled), bank.select(unseen)), labels, unseen)
    assert accuracy > 0.35, accuracy  # chance 1/6
    with pytest.raises(UsageError, match="token map"):
        method.scores(evaluation, bank.select(unseen))


def test_the_released_budget_follows_the_dataset_family_and_bad_params_are_named() -> None:
    assert Star(StarParams(), "strict", 0, family="ntu60").schedule() == (40, (10, 20))
    assert Star(StarParams(), "strict", 0, family="ntu120").schedule() == (30, (10, 20))
    assert Star(StarParams(), "strict", 0, family="pku51").schedule() == (40, (15, 20))
    assert Star(StarParams(epochs=3, lr_steps=(1,)), "strict", 0).schedule() == (3, (1,))
    with pytest.raises(UsageError, match="parts"):
        Star(StarParams(parts="seven"), "strict", seed=0)
    train, _, _, bank = _toy(2)
    with pytest.raises(UsageError, match="heads"):
        Star(StarParams(heads=3), "strict", seed=0).fit(train, bank.select(list(range(SEEN))))


def test_star_runs_end_to_end_with_test_epoch_selection_named_in_paper_mode(zsbench_home: Path) -> None:
    # One epoch on a narrow map: the released part attention is matrix work at the text width (384) per part.
    tiny = ["--set", "encoder.epochs=2", "--set", "encoder.hidden=16", "--set", "encoder.dim=16",
            "--set", "method_params.epochs=1", "--set", "method_params.prompts=4"]  # fmt: skip
    records = {}
    for protocol in ("strict", "paper"):
        result = runner.invoke(app, ["run", "--method", "star", "--dataset", "ntu60-synth", "--split", "48/12",
                                     "--protocol", protocol, "--json", *tiny])  # fmt: skip
        assert result.exit_code == 0, result.output
        records[protocol] = json.loads(result.stdout)
    strict, paper = records["strict"], records["paper"]
    assert strict["protocol"]["quirks"] == [] and strict["calibration"]["chosen_on"] == "validation fold"
    assert "selected_epoch_on_test" not in strict["method_log"]["test_fold"]
    assert paper["protocol"]["quirks"] == ["test_epoch_selection", "gzsl_calibration_on_test"]
    assert paper["method_log"]["test_fold"]["selected_epoch_on_test"] == 1
    assert paper["calibration"]["chosen_on"].startswith("test")
    strict_log = strict["method_log"]["test_fold"]
    assert strict_log["map_steps"] == 16 and strict_log["fallback"] is None


def test_star_runs_on_a_synse_style_feature_store_with_the_fallback_recorded(empty_home: Path, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(60, 256))
    split = resolve("55/5", "ntu60")
    _write_split(tmp_path / "shift_5_r", list(split.seen), 60, rng, centres)
    _write_split(tmp_path / "shift_val_5_r", list(split.validation_seen), 60, rng, centres)
    assert runner.invoke(app, ["prepare", "ntu60-features", "--root", str(tmp_path)]).exit_code == 0
    result = runner.invoke(app, ["run", "--method", "star", "--dataset", "ntu60-features", "--split", "55/5",
                                 "--json", "--set", "method_params.epochs=2", "--set", "method_params.prompts=8"])  # fmt: skip
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    for fold in ("test_fold", "validation_fold"):
        assert record["method_log"][fold]["fallback"] == FALLBACK
        assert record["method_log"][fold]["final_terms"]["ce_part"] == 0.0
    assert len(record["per_class"]["zsl"]) == 5 and record["config"]["method_params"]["prompts"] == 8
