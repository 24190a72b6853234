"""PURLS: DynaPURLS's network with refinement off, as its own method (zsbench.methods.purls)."""

from __future__ import annotations

import dataclasses
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
from zsbench.config import params_from_dict
from zsbench.errors import UsageError
from zsbench.methods.base import FeatureSet
from zsbench.methods.dynapurls import DynaPurls, DynaPurlsParams, clip_loss
from zsbench.methods.purls import Purls, PurlsParams
from zsbench.methods.purls_model import GLOBAL, SLOTS
from zsbench.pipeline.fitting import permute_novel_text
from zsbench.splits import resolve
from zsbench.text.bank import TextBank

runner = CliRunner()


@pytest.fixture(autouse=True, scope="module")
def _threads() -> None:
    runtime.configure("cpu")  # $ZSBENCH_THREADS: small nets are much slower on contended threads


SMALL = {"hidden": 32, "key_dim": 8, "epochs": 3, "batch_size": 16}
SEEN, NOVEL = tuple(range(16)), tuple(range(16, 20))


def _toy(samples_per_class: int = 8, seed: int = 0) -> tuple[FeatureSet, FeatureSet, torch.Tensor, TextBank]:
    """Token maps that are a fixed linear image of the class's global text plus noise: 16 seen, 4 novel classes."""
    generator = torch.Generator().manual_seed(seed)
    text = nn.functional.normalize(torch.randn(20, len(SLOTS), 8, generator=generator), dim=-1)
    mixing = torch.randn(16, 8, generator=generator)
    labels = torch.arange(20).repeat_interleave(samples_per_class)
    signal = text[labels, GLOBAL] @ mixing.T  # (N, 16)
    maps = signal[:, :, None, None] + 0.3 * torch.randn(len(labels), 16, 3, 25, generator=generator)
    seen = labels < 16
    train = FeatureSet(maps[seen].mean(dim=(2, 3)), labels[seen], map=maps[seen])
    evaluation = FeatureSet(maps[~seen].mean(dim=(2, 3)), None, map=maps[~seen])
    return train, evaluation, labels[~seen], TextBank(tuple(range(20)), SLOTS, text, "toy")


def _fitted(protocol: str = "strict", **params: object) -> tuple[Purls, FeatureSet, torch.Tensor, TextBank]:
    train, evaluation, labels, text = _toy()
    method = Purls(PurlsParams(**{**SMALL, **params}), protocol, seed=0)  # type: ignore[arg-type]
    method.fit(train, text.select(SEEN))
    return method, evaluation, labels, text.select(NOVEL)


def test_purls_learns_zero_shot_and_the_signal_flows_through_the_novel_text() -> None:
    train, evaluation, labels, text = _toy()
    method = Purls(PurlsParams(**{**SMALL, "epochs": 20, "batch_size": 32, "lr": 3e-3}), "strict", seed=0)  # type: ignore[arg-type]
    method.fit(train, text.select(SEEN))
    novel = text.select(NOVEL)
    accuracy = float((torch.tensor(NOVEL)[method.scores(evaluation, novel).argmax(1)] == labels).float().mean())
    permuted = permute_novel_text(novel, NOVEL, seed=0)
    control = float((torch.tensor(NOVEL)[method.scores(evaluation, permuted).argmax(1)] == labels).float().mean())
    assert accuracy >= 0.6, accuracy  # chance is 0.25
    assert control <= 0.35, control


def test_strict_scores_never_read_labels_and_the_paper_query_does() -> None:
    strict, evaluation, labels, text = _fitted("strict")
    paper = Purls(PurlsParams(**SMALL), "paper", seed=0)  # type: ignore[arg-type]
    train = _toy()[0]
    state = strict.fitted_state()
    assert state is not None
    paper.load_fitted_state(state, train, text)
    change, labelled_scores = {}, {}
    for name, method in (("strict", strict), ("paper", paper)):
        labelled_scores[name] = method.scores(FeatureSet(evaluation.pooled, labels, map=evaluation.map), text)
        second = method.scores(FeatureSet(evaluation.pooled, labels.roll(1), map=evaluation.map), text)
        change[name] = float((labelled_scores[name] - second).abs().max())
    assert torch.equal(strict.scores(evaluation, text), labelled_scores["strict"])  # labels absent: the same scores
    assert change["strict"] == 0.0
    assert change["paper"] > 1e-4
    with pytest.raises(UsageError, match="ground_truth_query"):
        paper.scores(evaluation, text)


def test_purls_fits_and_scores_exactly_as_dynapurls_without_refinement() -> None:
    train, evaluation, labels, text = _toy()
    seen, novel = text.select(SEEN), text.select(NOVEL)
    purls = Purls(PurlsParams(**SMALL), "strict", seed=3)  # type: ignore[arg-type]
    dyna = DynaPurls(DynaPurlsParams(**SMALL, refine=False), "strict", seed=3)  # type: ignore[arg-type]
    purls_log, dyna_log = purls.fit(train, seen), dyna.fit(train, seen)
    assert purls_log["final_loss"] == dyna_log["final_loss"]
    purls_state, dyna_state = purls.fitted_state(), dyna.fitted_state()
    assert purls_state is not None and dyna_state is not None
    assert all(torch.equal(purls_state["network"][k], v) for k, v in dyna_state["network"].items())
    assert torch.equal(purls.scores(evaluation, novel), dyna.scores(evaluation, novel))
    # The paper protocol (the ground-truth query) on the same fit: the same scores again.
    labelled = FeatureSet(evaluation.pooled, labels, map=evaluation.map)
    paper_purls = Purls(PurlsParams(**SMALL), "paper", seed=3)  # type: ignore[arg-type]
    paper_dyna = DynaPurls(DynaPurlsParams(**SMALL, refine=False), "paper", seed=3)  # type: ignore[arg-type]
    paper_purls.load_fitted_state(purls_state, train, seen)
    paper_dyna.load_fitted_state(dyna_state, train, seen)
    assert torch.equal(paper_purls.scores(labelled, novel), paper_dyna.scores(labelled, novel))
    assert paper_purls.acted_quirks() == paper_dyna.acted_quirks() == {"ground_truth_query"}
    assert purls.acted_quirks() == dyna.acted_quirks() == set()


def test_where_purls_and_dynapurls_differ() -> None:
    # Released values: PurlsParams's defaults are DynaPURLS's training defaults, field for field.
    dyna_defaults = DynaPurlsParams()
    for field in dataclasses.fields(PurlsParams):
        assert getattr(PurlsParams(), field.name) == getattr(dyna_defaults, field.name), field.name
    # PURLS has one quirk and no refinement: no slot mode, no refinement settings, no validation-chosen preset.
    assert Purls.paper_quirks == ("ground_truth_query",) and len(DynaPurls.paper_quirks) == 6
    for name in ("slots", "refine", "refine_preset"):
        with pytest.raises(UsageError, match=name):
            params_from_dict(PurlsParams, {name: "g"}, "method_params")
    assert Purls.test_time_candidates(PurlsParams(), frozenset()) == []
    assert len(DynaPurls.test_time_candidates(DynaPurlsParams(), frozenset())) == 2
    # The network is always the 8-slot model (the release's loss pools and projects every slot).
    method, evaluation, _, text = _fitted()
    assert method.model.network is not None and len(method.model.network.multiplier) == len(SLOTS)
    # DynaPURLS's default (refinement on) scores differently from PURLS on the same fit.
    train, _, _, full_text = _toy()
    dyna = DynaPurls(DynaPurlsParams(**SMALL, refine_preset="released"), "strict", seed=0)  # type: ignore[arg-type]
    state = method.fitted_state()
    assert state is not None
    dyna.load_fitted_state(state, train, full_text.select(SEEN))
    assert not torch.allclose(dyna.scores(evaluation, text), method.scores(evaluation, text))


def test_the_released_contrastive_loss_on_a_hand_computed_batch() -> None:
    """model/utils/losses.py contrastive_loss: tmp·(skel @ txt.T), CE both ways, summed; then summed over slots."""
    outputs = torch.tensor([[[1.0, 0.0]], [[0.0, 1.0]]])  # two samples, one slot
    text = torch.tensor([[[1.0, 0.0]], [[0.0, 1.0]]])
    tmp = math.log(1 / 0.07)
    # Logits tmp·I: each row's CE is log(1 + e^-tmp); the mean over rows is the same; two directions.
    expected = 2 * math.log(1 + math.exp(-tmp))
    assert clip_loss(outputs, text, torch.tensor([tmp])).item() == pytest.approx(expected, rel=1e-6)
    assert expected == pytest.approx(2 * math.log(1 + 0.07), rel=1e-12)


def _cli(args: list[str]) -> dict:
    result = runner.invoke(app, ["run", "--method", "purls", "--json", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_purls_end_to_end_on_the_synthetic_store(zsbench_home: Path) -> None:
    tiny = ["--dataset", "ntu60-synth", "--split", "48/12", "--set", "encoder.epochs=2", "--set", "encoder.hidden=16",
            "--set", "method_params.epochs=2", "--set", "method_params.hidden=32", "--set", "method_params.key_dim=16"]  # fmt: skip
    strict = _cli(tiny)
    assert strict["config"]["encoder"]["name"] == "jointmix"  # a token-map backbone
    assert strict["protocol"]["quirks"] == [] and "test_time_selection" not in strict["calibration"]
    assert strict["method_log"]["test_fold"]["refinement"] is False
    assert strict["method_log"]["test_fold"]["tokens_per_sample"] == 75  # 3 segments x 25 joints
    paper = _cli([*tiny, "--protocol", "paper"])
    assert paper["protocol"]["quirks"] == ["ground_truth_query"]


def test_purls_on_a_pooled_feature_store(empty_home: Path, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(60, 256))
    split = resolve("55/5", "ntu60")
    _write_split(tmp_path / "shift_5_r", list(split.seen), 60, rng, centres)
    _write_split(tmp_path / "shift_val_5_r", list(split.validation_seen), 60, rng, centres)
    assert runner.invoke(app, ["prepare", "ntu60-features", "--root", str(tmp_path)]).exit_code == 0
    record = _cli(["--dataset", "ntu60-features", "--split", "55/5", "--set", "method_params.epochs=2",
                   "--set", "method_params.hidden=32", "--set", "method_params.batch_size=64"])  # fmt: skip
    log = record["method_log"]["test_fold"]
    assert log["pooled_feature_adaptation"] is True and log["tokens_per_sample"] == 1
    assert len(record["per_class"]["zsl"]) == 5
