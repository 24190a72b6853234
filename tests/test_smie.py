"""SMIE: Jensen-Shannon MI alignment with the temporal constraint (zsbench.methods.smie)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from typer.testing import CliRunner

from tests.test_features import _write_split
from zsbench import runtime
from zsbench.cli.main import app
from zsbench.methods.base import FeatureSet
from zsbench.methods.smie import (
    Smie,
    SmieNetwork,
    SmieParams,
    jsd_mutual_information,
    least_motion_segments,
    masked_features,
    smie_loss,
)
from zsbench.pipeline.fitting import permute_novel_text
from zsbench.splits import resolve
from zsbench.text.bank import TextBank

runner = CliRunner()


@pytest.fixture(autouse=True, scope="module")
def _threads() -> None:
    runtime.configure("cpu")  # $ZSBENCH_THREADS: small nets are much slower on contended threads


SEEN, NOVEL = tuple(range(16)), tuple(range(16, 20))
TOY = {"hidden": (64, 32), "lr": 3e-3, "epochs": 20, "warmup_epochs": 2, "batch_size": 32}


def _toy(seed: int = 0) -> tuple[FeatureSet, FeatureSet, torch.Tensor, TextBank]:
    """Token maps (10 segments) that are a fixed linear image of the class's name text plus noise."""
    generator = torch.Generator().manual_seed(seed)
    text = nn.functional.normalize(torch.randn(20, 1, 8, generator=generator), dim=-1)
    mixing = torch.randn(16, 8, generator=generator)
    labels = torch.arange(20).repeat_interleave(8)
    signal = text[labels, 0] @ mixing.T
    maps = signal[:, :, None, None] + 0.3 * torch.randn(len(labels), 16, 10, 25, generator=generator)
    seen = labels < 16
    train = FeatureSet(maps[seen].mean(dim=(2, 3)), labels[seen], map=maps[seen])
    evaluation = FeatureSet(maps[~seen].mean(dim=(2, 3)), None, map=maps[~seen])
    return train, evaluation, labels[~seen], TextBank(tuple(range(20)), ("name",), text, "toy")


def _accuracy(method: Smie, features: FeatureSet, text: TextBank, labels: torch.Tensor) -> float:
    return float((torch.tensor(text.labels)[method.scores(features, text).argmax(1)] == labels).float().mean())


def test_smie_learns_zero_shot_and_the_signal_flows_through_the_novel_text() -> None:
    train, evaluation, labels, text = _toy()
    method = Smie(SmieParams(**TOY), "strict", seed=0)  # type: ignore[arg-type]
    log = method.fit(train, text.select(SEEN))
    assert log["track"] == "main" and log["temporal_segments"] == {"kept": 7, "sampled": 4}
    novel = text.select(NOVEL)
    assert _accuracy(method, evaluation, novel, labels) >= 0.7  # chance 0.25
    assert _accuracy(method, evaluation, permute_novel_text(novel, NOVEL, seed=0), labels) <= 0.35
    # Strict scores have no label path: with the labels present (or shuffled) they are the same.
    labelled = FeatureSet(evaluation.pooled, labels.roll(3), map=evaluation.map)
    assert torch.equal(method.scores(labelled, novel), method.scores(evaluation, novel))


def test_the_released_jensen_shannon_estimate_by_hand() -> None:
    positive = torch.tensor([0.0, math.log(3.0)])
    negative = torch.tensor([0.0, -math.log(3.0)])
    # E[-softplus(-p)] = -(ln 2 + ln(4/3)) / 2;  E[softplus(n)] = (ln 2 + ln(4/3)) / 2;  MI = -ln(8/3).
    assert jsd_mutual_information(positive, negative).item() == pytest.approx(-math.log(8 / 3), rel=1e-6)
    # Released main-track loss: -MI0 + 0.5·max(0, 0.1 - (MI0 - MI1)); the sota track: -MI0.
    assert smie_loss(torch.tensor(1.0), torch.tensor(0.95), 0.1, 0.5).item() == pytest.approx(-0.975)
    assert smie_loss(torch.tensor(1.0), torch.tensor(0.5), 0.1, 0.5).item() == pytest.approx(-1.0)
    assert smie_loss(torch.tensor(1.0), None, 0.1, 0.5).item() == pytest.approx(-1.0)


def test_negatives_are_the_visual_batch_rolled_by_one_and_the_temporal_term_pairs_the_masked_clip() -> None:
    torch.manual_seed(0)
    network = SmieNetwork(6, 4, (8, 5))
    visual, masked, text = torch.randn(3, 6), torch.randn(3, 6), torch.randn(3, 4)
    d = network.discriminator
    normed, masked_normed = network.norm(visual), network.norm(masked)
    assert torch.allclose(normed.mean(-1), torch.zeros(3), atol=1e-6)  # LayerNorm without affine parameters
    softplus = nn.functional.softplus
    pairs = [(0, 1), (1, 2), (2, 0)]  # text i against visual i + 1 (the last against the first)
    negatives = torch.stack([d(normed[j : j + 1], text[i : i + 1])[0] for i, j in pairs])
    expected_mi0 = (-softplus(-d(normed, text))).mean() - softplus(negatives).mean()
    assert torch.allclose(network.mutual_information(visual, text), expected_mi0, atol=1e-6)
    expected_mi1 = (-softplus(-d(masked_normed, text))).mean() - softplus(negatives).mean()
    assert torch.allclose(network.temporal_information(visual, masked, text), expected_mi1, atol=1e-6)
    # All-pairs scoring (the released get_acc repeats every sample against every class) = the paired forward.
    grid = d.pairs(normed, text)
    assert torch.allclose(grid[1, 2], d(normed[1:2], text[2:3])[0], atol=1e-6)


def test_least_motion_segments_follow_the_released_motion_rule() -> None:
    # One channel, one joint, 5 segments: values 0, 0, 1, 5, 5.
    feature_map = torch.tensor([0.0, 0.0, 1.0, 5.0, 5.0]).view(1, 1, 5, 1)
    # Forward² + backward² (a missing neighbour counts 0): 0, 1, 1 + 16, 16 + 0, 0 -> keep the 3 least: 0, 1, 4.
    assert least_motion_segments(feature_map, 3).tolist() == [[0, 1, 4]]
    generator = torch.Generator().manual_seed(0)
    assert masked_features(feature_map, 3, 3, generator).item() == pytest.approx(5 / 3)
    # Two of the three at random: the same positions for every sample of the batch.
    batch = torch.arange(2 * 5, dtype=torch.float).view(2, 1, 5, 1) ** 2
    kept = least_motion_segments(batch, 3)
    drawn = masked_features(batch, 3, 2, torch.Generator().manual_seed(1))
    options = {(a, b) for a in range(3) for b in range(a + 1, 3)}
    matches = [
        pair for pair in options if torch.allclose(drawn[:, 0], batch[0:2, 0, :, 0].gather(1, kept[:, pair]).mean(1))
    ]
    assert len(matches) == 1


def test_the_temporal_term_acts_only_with_a_token_map() -> None:
    train, evaluation, _, text = _toy()
    seen = text.select(SEEN)
    small = {**TOY, "epochs": 3}
    with_map = Smie(SmieParams(**small), "strict", seed=0)  # type: ignore[arg-type]
    without = Smie(SmieParams(**{**small, "temporal_constraint": False}), "strict", seed=0)  # type: ignore[arg-type]
    pooled_only = Smie(SmieParams(**small), "strict", seed=0)  # type: ignore[arg-type]
    logs = [
        with_map.fit(train, seen),
        without.fit(train, seen),
        pooled_only.fit(FeatureSet(train.pooled, train.labels), seen),
    ]
    assert [log["track"] for log in logs] == ["main", "sota", "sota"]
    assert logs[1]["final_loss"] == logs[2]["final_loss"]  # no map: exactly the released sota track
    assert logs[0]["final_loss"] != logs[1]["final_loss"]
    assert not torch.equal(with_map.scores(evaluation, seen), without.scores(evaluation, seen))


def test_paper_scores_skip_the_layernorm_and_the_warmup_starts_at_zero() -> None:
    train, evaluation, _, text = _toy()
    strict = Smie(SmieParams(**{**TOY, "epochs": 2}), "strict", seed=0)  # type: ignore[arg-type]
    strict.fit(train, text.select(SEEN))
    paper = Smie(SmieParams(**{**TOY, "epochs": 2}), "paper", seed=0)  # type: ignore[arg-type]
    state = strict.fitted_state()
    assert state is not None and strict.network is not None
    paper.load_fitted_state(state, train, text.select(SEEN))
    novel = text.select(NOVEL)
    names = nn.functional.normalize(novel.slot("name"), dim=-1)
    d = strict.network.discriminator
    with torch.no_grad():
        assert torch.allclose(
            paper.scores(evaluation, novel), nn.functional.logsigmoid(d.pairs(evaluation.pooled, names))
        )
        expected = nn.functional.logsigmoid(d.pairs(strict.network.norm(evaluation.pooled), names))
        assert torch.allclose(strict.scores(evaluation, novel), expected)
    released = Smie(SmieParams(), "paper", seed=0)
    ours = Smie(SmieParams(), "strict", seed=0)
    assert [released._lr_factor(e) for e in (0, 1, 15)] == pytest.approx([0.0, 1 / 15, 1.0])
    assert [ours._lr_factor(e) for e in (0, 14, 15)] == pytest.approx([1 / 15, 1.0, 1.0])
    assert released._lr_factor(99) == pytest.approx(0.5 * (1 + math.cos(math.pi * 84 / 85)))


def test_released_test_epoch_selection_window() -> None:
    train, _, _, text = _toy()
    seen = text.select(SEEN)
    called: dict[str, list[int]] = {"main": [], "sota": []}
    params = SmieParams(**{**TOY, "epochs": 6, "warmup_epochs": 3})  # type: ignore[arg-type]
    Smie(params, "paper", seed=0).fit(train, seen, called["main"].append)
    Smie(params, "paper", seed=0).fit(FeatureSet(train.pooled, train.labels), seen, called["sota"].append)
    # Released: the main track keeps epochs > warm-up (0-based epoch > 15), the sota track any epoch.
    assert called == {"main": [5, 6], "sota": [1, 2, 3, 4, 5, 6]}


def _cli(args: list[str]) -> dict:
    result = runner.invoke(app, ["run", "--method", "smie", "--json", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_smie_end_to_end_on_the_synthetic_store(zsbench_home: Path) -> None:
    tiny = ["--dataset", "ntu60-synth", "--split", "48/12", "--set", "encoder.epochs=2", "--set", "encoder.hidden=16",
            "--set", "method_params.epochs=4", "--set", "method_params.warmup_epochs=1",
            "--set", "method_params.hidden=[64,32]"]  # fmt: skip
    strict = _cli(tiny)
    assert strict["protocol"]["quirks"] == [] and strict["method_log"]["test_fold"]["track"] == "main"
    paper = _cli([*tiny, "--protocol", "paper"])
    assert paper["protocol"]["quirks"] == [
        "test_epoch_selection", "batch_averaged_accuracy", "warmup_epoch0_lr0", "test_without_layernorm"
    ]  # fmt: skip
    assert paper["method_log"]["test_fold"]["selected_epoch_on_test"] in (3, 4)  # after the warm-up, as released


def test_smie_on_a_pooled_feature_store_runs_the_released_sota_track(empty_home: Path, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(60, 256))
    split = resolve("55/5", "ntu60")
    _write_split(tmp_path / "shift_5_r", list(split.seen), 60, rng, centres)
    _write_split(tmp_path / "shift_val_5_r", list(split.validation_seen), 60, rng, centres)
    assert runner.invoke(app, ["prepare", "ntu60-features", "--root", str(tmp_path)]).exit_code == 0
    record = _cli(["--dataset", "ntu60-features", "--split", "55/5", "--set", "method_params.epochs=3",
                   "--set", "method_params.hidden=[64,32]", "--set", "method_params.batch_size=64"])  # fmt: skip
    assert record["method_log"]["test_fold"]["track"] == "sota"
    assert record["method_log"]["test_fold"]["temporal_segments"] is None
    assert len(record["per_class"]["zsl"]) == 5
