from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from typer.testing import CliRunner

from zsbench.cli.main import app
from zsbench.errors import UsageError
from zsbench.methods.base import FeatureSet
from zsbench.methods.neuron import ALL_SLOTS, Neuron, NeuronNetwork, NeuronParams, released_or_gzsl
from zsbench.text.bank import TextBank

runner = CliRunner()


def _data(samples: int = 96) -> tuple[FeatureSet, TextBank]:
    """Maps (N, 16, 16, 25) whose class shows in which joints move and when; text aligned with nothing."""
    generator = torch.Generator().manual_seed(0)
    labels = torch.arange(samples) % 4
    maps = 0.3 * torch.randn(samples, 16, 16, 25, generator=generator)
    for label in range(4):
        rows = labels == label
        maps[rows, label * 4 : label * 4 + 4, label * 4 : label * 4 + 4, label * 5 : label * 5 + 5] += 2.0
    embeddings = nn.functional.normalize(torch.randn(4, len(ALL_SLOTS), 24, generator=generator), dim=-1)
    return FeatureSet(maps.mean(dim=(2, 3)), labels, map=maps), TextBank((0, 1, 2, 3), ALL_SLOTS, embeddings, "t")


def test_spatial_masking_removes_the_least_related_prototypes_of_each_joint() -> None:
    torch.manual_seed(0)
    params = NeuronParams(spatial_prototypes=6, temporal_prototypes=4, spatial_masked=(5, 0, 0))
    network = NeuronNetwork(8, 10, params)
    joints = torch.randn(2, 25, 8)
    affinity = torch.einsum("bvw,kw->bvk", joints, network.spatial_init)
    # With 5 of 6 masked, each joint feeds only its most related prototype: a prototype no joint ranks first
    # gets (almost) nothing, so round 1's prototypes come from the argmax joints alone.
    weights = affinity.softmax(dim=1) * (affinity == affinity.amax(2, keepdim=True))
    expected = network.spatial_rounds[0](torch.einsum("bvk,bvw->bkw", weights, joints))
    expected = nn.functional.normalize(network.spatial_project(expected.mean(1)), dim=-1)
    assert torch.allclose(network.spatial(joints)[0], expected, atol=1e-6)


def test_temporal_rounds_see_only_their_window() -> None:
    torch.manual_seed(0)
    network = NeuronNetwork(8, 10, NeuronParams(temporal_windows=(5, 10, 16)))
    steps = torch.randn(3, 16, 8)
    changed = steps.clone()
    changed[:, 5:] = torch.randn(3, 11, 8)  # later steps differ: round 1 (first 5) must not notice
    first, second = network.temporal(steps), network.temporal(changed)
    assert torch.allclose(first[0], second[0]) and not torch.allclose(first[1], second[1])


def test_gates_are_sigmoids_of_relu_outputs() -> None:
    torch.manual_seed(0)
    network = NeuronNetwork(8, 10, NeuronParams())
    gate = torch.sigmoid(network.retain[0](torch.randn(50, 8)))
    assert gate.min() >= 0.5 and gate.max() < 1.0


def test_fit_learns_and_the_paper_scores_hit_when_either_branch_does() -> None:
    train, text = _data()
    # The released scale 0.1 learns far too slowly for 96 samples (measured: chance after 30 epochs); 10 learns.
    params = NeuronParams(spatial_prototypes=12, temporal_prototypes=12, spatial_masked=(3, 6, 9), epochs=30,
                          batch_size=16, score_scale=10.0, lr=0.5, lr_steps=(25,))  # fmt: skip
    strict = Neuron(params, "strict", seed=0)
    strict.fit(train, text)
    assert train.labels is not None
    spatial, temporal = strict.branch_scores(train, text)
    fused = strict.scores(FeatureSet(train.pooled, None, map=train.map), text)
    assert torch.allclose(fused, spatial + temporal)
    accuracy = {name: float((s.argmax(1) == train.labels).float().mean()) for name, s in
                (("spatial", spatial), ("temporal", temporal), ("fused", fused))}  # fmt: skip
    assert accuracy["fused"] > 0.5, accuracy
    paper = Neuron(params, "paper", seed=0)
    paper.load_fitted_state(strict.fitted_state() or {}, train, text)
    either = paper.scores(train, text)
    hit_or = ((spatial.argmax(1) == train.labels) | (temporal.argmax(1) == train.labels)).float().mean()
    assert float((either.argmax(1) == train.labels).float().mean()) == pytest.approx(float(hit_or))
    with pytest.raises(UsageError, match="or_of_branches"):
        paper.scores(FeatureSet(train.pooled, None, map=train.map), text)


def test_either_branch_takes_the_temporal_row_only_when_it_alone_is_right() -> None:
    spatial = torch.tensor([[2.0, 1.0], [2.0, 1.0], [2.0, 1.0], [1.0, 2.0]])
    temporal = torch.tensor([[1.0, 3.0], [3.0, 1.0], [1.0, 3.0], [1.0, 3.0]])
    # truth 1: only temporal right -> temporal; truth 0: both right -> spatial;
    # truth 0: only spatial right -> spatial; truth 1: both right -> spatial.
    features = FeatureSet(torch.zeros(4, 1), torch.tensor([1, 0, 0, 1]))
    text = TextBank((0, 1), ("global",), torch.zeros(2, 1, 1), "t")
    chosen = Neuron._either_branch(spatial, temporal, features, text)
    assert torch.equal(chosen, torch.stack([temporal[0], spatial[1], spatial[2], spatial[3]]))


def test_released_gzsl_calibrates_each_branch_on_its_own_grid_and_ors_them() -> None:
    # Classes 0, 1 seen, 2 unseen. Logits = log-probabilities, so each branch's softmax is the row given.
    base = np.array([1 / 3, 1 / 3, 1 / 3])

    def row(seen_minus_unseen: float) -> np.ndarray:
        return np.log(base + np.array([seen_minus_unseen / 2, 0.0, -seen_minus_unseen / 2]))

    # Sample A (unseen, label 2): spatial right once its constant exceeds 2.55e-4; temporal never right.
    # Sample B (seen, label 0): spatial right below 2.15e-4; temporal right below 2.35e-4.
    spatial = np.stack([row(2.55e-4), row(2.15e-4)])
    temporal = np.stack([row(0.5), row(2.35e-4)])
    labels, classes = np.array([2, 0]), np.array([0, 1, 2])
    result = released_or_gzsl(spatial, temporal, labels, classes, (0, 1))
    # Per branch: spatial 2.6e-4 fixes A, temporal 2.0e-4 keeps B: H = 1. One shared constant cannot
    # (A needs > 2.55e-4, B needs < 2.35e-4), which is what the previous single-γ search reported.
    assert (result["gzsl_seen"], result["gzsl_unseen"], result["gzsl_h"]) == (1.0, 1.0, 1.0)
    assert result["calibration"]["gamma_spatial"] == pytest.approx(2.6e-4)
    assert result["calibration"]["gamma_temporal"] == pytest.approx(2.0e-4)
    shared = [
        released_or_gzsl(spatial, temporal, labels, classes, (0, 1), grid=(g,))["gzsl_h"]
        for g in (2.0e-4, 2.4e-4, 2.6e-4, 3.0e-4)
    ]
    assert max(shared) == 0.0


def test_bad_params_are_named() -> None:
    with pytest.raises(UsageError, match="score_branch"):
        Neuron(NeuronParams(score_branch="both"), "strict", seed=0)
    with pytest.raises(UsageError, match="spatial_masked"):
        Neuron(NeuronParams(spatial_masked=(20, 40, 80)), "strict", seed=0)


def test_neuron_runs_end_to_end_with_the_or_metric_named_in_paper_mode(zsbench_home: Path) -> None:
    tiny = ["--set", "encoder.epochs=2", "--set", "encoder.hidden=16", "--set", "method_params.epochs=2",
            "--set", "method_params.spatial_prototypes=16", "--set", "method_params.temporal_prototypes=16",
            "--set", "method_params.spatial_masked=[4,8,12]", "--set", "method_params.temporal_windows=[2,4,8]"]  # fmt: skip
    records = {}
    for protocol in ("strict", "paper"):
        result = runner.invoke(app, ["run", "--method", "neuron", "--dataset", "ntu60-synth", "--split", "48/12",
                                     "--protocol", protocol, "--json", *tiny])  # fmt: skip
        assert result.exit_code == 0, result.output
        records[protocol] = json.loads(result.stdout)
    assert records["strict"]["protocol"]["quirks"] == []
    assert records["paper"]["protocol"]["quirks"] == ["or_of_branches", "gzsl_calibration_on_test"]
    calibration = records["paper"]["calibration"]
    assert {"gamma_spatial", "gamma_temporal"} <= set(calibration) and calibration["chosen_on"].startswith("test")
    assert records["strict"]["calibration"]["chosen_on"] == "validation fold"
    assert records["strict"]["config"]["method_params"]["spatial_masked"] == [4, 8, 12]


def test_a_run_at_the_method_defaults_reports_as_the_default_variant() -> None:
    from zsbench.config import RunConfig
    from zsbench.pipeline.resolve import resolve_run
    from zsbench.report.aggregate import variant_of

    for method in ("neuron", "dynapurls"):
        resolved = resolve_run(RunConfig(method=method, dataset="ntu60-synth", split="48/12")).config
        assert resolved.encoder.name == "jointmix"  # the synthetic set's shared backbone
        as_recorded = json.loads(json.dumps(resolved.to_dict()))  # tuples come back as lists
        assert variant_of(as_recorded) == "default"
        as_recorded["method_params"]["spatial_masked" if method == "neuron" else "slots"] = (
            [1, 2, 3] if method == "neuron" else "g"
        )
        assert variant_of(as_recorded) != "default"
