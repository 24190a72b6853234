"""One backbone per fold: every method of a table reads the same encoder checkpoint by default."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from typer.testing import CliRunner

from zsbench.catalog import DATASETS
from zsbench.cli.main import app
from zsbench.encoders.jointmix import JointMixEncoder

runner = CliRunner()
TINY = ["--set", "encoder.epochs=2", "--set", "encoder.hidden=16", "--set", "method_params.epochs=2"]


def test_methods_on_one_fold_read_one_encoder_checkpoint(zsbench_home: Path) -> None:
    seen = {}
    for method, extra in (("devise", []), ("dynapurls", ["--set", "method_params.refine=false"])):
        result = runner.invoke(app, ["run", "--method", method, "--dataset", "ntu60-synth", "--split", "55/5",
                                     "--json", *TINY, *extra])  # fmt: skip
        assert result.exit_code == 0, result.output
        record = json.loads(result.stdout)
        encoders = record["encoders"]
        seen[method] = (
            record["config"]["encoder"]["name"],
            encoders["test_fold"]["checkpoint_hash"],
            encoders["validation_fold"]["checkpoint_hash"],
        )
    assert seen["devise"] == seen["dynapurls"]
    assert seen["devise"][0] == "jointmix"
    assert seen["devise"][1] != seen["devise"][2]  # the validation fold trains its own encoder


def test_default_backbone_follows_the_dataset_and_split_setting() -> None:
    assert DATASETS.get("ntu60-synth").default_backbone("synse") == "jointmix"
    assert DATASETS.get("ntu60").default_backbone("synse") == "shiftgcn"
    assert DATASETS.get("ntu60").default_backbone("smie") == "stgcn"
    assert DATASETS.get("ntu120").default_backbone("purls") == "shiftgcn"


def test_jointmix_pools_exactly_its_map_and_starts_as_the_tcn() -> None:
    from zsbench.encoders.tcn import TemporalConvEncoder

    torch.manual_seed(0)
    model = JointMixEncoder(num_classes=4, dim=32, hidden=32).eval()
    with torch.no_grad():
        model.joint_weight.normal_()  # a trained-looking joint term, so the map differs across joints
    clips = torch.randn(3, 3, 64, 25, 2)
    clips[0, ..., 1] = 0  # one actor only
    maps = model.feature_map(clips)
    assert maps.shape == (3, 2, 32, 16, 25)
    assert (maps[1, 0, :, 3, 0] - maps[1, 0, :, 3, 7]).abs().max() > 1e-3  # tokens differ by joint
    present = torch.tensor([[1.0, 0.0], [0.5, 0.5], [0.5, 0.5]])
    pooled = (maps.mean(dim=(3, 4)) * present[..., None]).sum(1)
    assert torch.allclose(model.features(clips), pooled, atol=1e-5)
    # Its direct token map is the present-body mean of the full map, pooled into unequal segments (16 -> 3).
    merged = (maps * present[:, :, None, None, None]).sum(1)
    for segments in (3, 16):
        expected = torch.nn.functional.adaptive_avg_pool2d(merged, (segments, 25))
        assert torch.allclose(model.token_map(clips, segments), expected, atol=1e-5)
    # With the joint term at its initial zero, the encoder is exactly a tcn with the trunk's weights.
    fresh = JointMixEncoder(num_classes=4, dim=32, hidden=32).eval()
    tcn = TemporalConvEncoder(num_classes=4, dim=32, hidden=32).eval()
    tcn.input_norm.load_state_dict(fresh.input_norm.state_dict())
    tcn.body.load_state_dict(fresh.trunk.state_dict())
    assert torch.allclose(fresh.features(clips), tcn.features(clips), atol=1e-5)


def test_a_report_whose_rows_read_different_encoders_says_so() -> None:
    folder = str(Path(__file__).resolve().parents[1] / "results" / "reference" / "ntu60-synth")
    # The committed records: DeViSE/DVTA read tcn, DynaPURLS/Neuron stgcn.
    mixed = runner.invoke(app, ["report", "--results-dir", folder, "--format", "markdown", "--layout", "long"])
    assert mixed.exit_code == 0, mixed.output
    assert "read different encoders (stgcn: dynapurls, neuron; tcn: devise, dvta, pgfa)" in mixed.stdout
    assert "read different encoders" in mixed.stderr
    one = runner.invoke(app, ["report", "--results-dir", folder, "--format", "markdown", "--method", "devise",
                              "--method", "dvta"])  # fmt: skip
    assert one.exit_code == 0 and "different encoders" not in one.output


def test_bench_methods_splits_the_time_and_a_warm_rerun_trains_no_encoder() -> None:
    from zsbench.bench.methods import method_stages

    timings = method_stages(["devise"], quick=True)
    cold, warm = timings
    assert (cold.cache, warm.cache) == ("cold", "warm")
    assert cold.stages["encoder_training_seconds"] > 0
    assert not cold.encoders_reused and warm.encoders_reused
    # Loading a cached checkpoint is counted under encoder training; it costs a fraction of training one.
    assert warm.stages["encoder_training_seconds"] < 0.5 * cold.stages["encoder_training_seconds"]
    assert sum(cold.stages.values()) <= cold.total_seconds


def test_the_readme_budget_table_is_the_methods_synthetic_budgets() -> None:
    from zsbench.catalog import METHODS

    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    block = text.split("<!-- synthetic-budgets:start -->")[1].split("<!-- synthetic-budgets:end -->")[0]
    documented = {}
    for line in block.strip().splitlines()[2:]:
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        documented[cells[0].strip("`")] = cells[1]
    declared = {
        name: ", ".join(f"{key}={value}" for key, value in METHODS.get(name).synthetic_budget.items())
        for name in METHODS.names()
        if METHODS.get(name).synthetic_budget
    }
    assert documented == declared
