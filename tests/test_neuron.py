from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn
from typer.testing import CliRunner

from zsbench.cli.main import app
from zsbench.errors import UsageError
from zsbench.methods.base import FeatureSet
from zsbench.methods.neuron import ALL_SLOTS, Neuron, NeuronNetwork, NeuronParams
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


def test_fit_learns_and_the_paper_or_is_at_least_either_branch() -> None:
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
    assert float(hit_or) >= max(accuracy["spatial"], accuracy["temporal"])
    with pytest.raises(UsageError, match="or_of_branches"):
        paper.scores(FeatureSet(train.pooled, None, map=train.map), text)


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
    assert records["strict"]["config"]["method_params"]["spatial_masked"] == [4, 8, 12]


def test_a_run_at_the_method_defaults_reports_as_the_default_variant() -> None:
    from zsbench.config import RunConfig
    from zsbench.pipeline.resolve import resolve_run
    from zsbench.report.aggregate import variant_of

    for method in ("neuron", "dynapurls"):
        resolved = resolve_run(RunConfig(method=method, dataset="ntu60-synth", split="48/12")).config
        assert resolved.encoder.name == "stgcn"
        as_recorded = json.loads(json.dumps(resolved.to_dict()))  # tuples come back as lists
        assert variant_of(as_recorded) == "default"
        as_recorded["method_params"]["spatial_masked" if method == "neuron" else "slots"] = (
            [1, 2, 3] if method == "neuron" else "g"
        )
        assert variant_of(as_recorded) != "default"
