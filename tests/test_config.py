from __future__ import annotations

import json
from pathlib import Path

import pytest

from zsbench.config import RunConfig, build_config
from zsbench.errors import UsageError


def test_precedence_defaults_then_yaml_then_set_then_flags(tmp_path: Path) -> None:
    config_file = tmp_path / "run.yaml"
    config_file.write_text("seed: 3\nsplit: 48/12\nencoder:\n  epochs: 7\n  lr: 0.01\n")
    config = build_config(config_file, ["encoder.epochs=9"], {"seed": 5, "split": None})
    assert config.seed == 5  # flag beats YAML
    assert config.split == "48/12"  # an absent flag (None) does not override YAML
    assert config.encoder.epochs == 9  # --set beats YAML
    assert config.encoder.lr == 0.01  # YAML beats the default
    assert config.encoder.batch_size == RunConfig().encoder.batch_size  # default kept


def test_false_and_zero_values_override_yaml(tmp_path: Path) -> None:
    config_file = tmp_path / "run.yaml"
    config_file.write_text("seed: 4\n")
    assert build_config(config_file, [], {"seed": 0}).seed == 0


def test_unknown_fields_and_wrong_types_name_the_field(tmp_path: Path) -> None:
    config_file = tmp_path / "run.yaml"
    config_file.write_text("encoder:\n  epoch: 3\n")
    with pytest.raises(UsageError, match=r"run.yaml.encoder: unknown field 'epoch'"):
        build_config(config_file)
    with pytest.raises(UsageError, match=r"--set.encoder.epochs: expected int"):
        build_config(None, ["encoder.epochs=many"])
    with pytest.raises(UsageError, match="unknown protocol"):
        build_config(None, [], {"protocol": "lenient"})


def test_hash_is_stable_and_sensitive() -> None:
    first, second = RunConfig(), RunConfig()
    assert first.hash() == second.hash()
    second.encoder.epochs += 1
    assert first.hash() != second.hash()
    assert len(first.hash()) == 16


def test_device_choice_is_checked() -> None:
    import torch

    from zsbench import runtime

    assert runtime.resolve_device("cpu") == torch.device("cpu")
    if not torch.cuda.is_available():
        assert runtime.resolve_device("auto") == torch.device("cpu")
        with pytest.raises(UsageError, match="no CUDA device"):
            runtime.resolve_device("cuda")
    with pytest.raises(UsageError, match="unknown device"):
        runtime.resolve_device("tpu")


def test_ranges_name_the_field_and_accept_the_defaults() -> None:
    from dataclasses import dataclass

    from zsbench.config import bounded, check_ranges, params_from_dict

    @dataclass
    class Params:
        epochs: int = bounded(3, ge=1)
        rate: float = bounded(0.5, gt=0, lt=1)
        steps: tuple[int, ...] = bounded((1, 2), ge=0)
        top_k: int | None = bounded(None, ge=1)

    check_ranges(Params(), "p")
    assert params_from_dict(Params, {"rate": 0.25, "top_k": 3}, "p").top_k == 3
    for values, message in (
        ({"epochs": 0}, "p.epochs is 0, expected a value >= 1"),
        ({"rate": 1.0}, r"p.rate is 1.0, expected a value in \(0, 1\)"),
        ({"rate": float("nan")}, "p.rate is nan, expected a finite number"),
        ({"steps": [1, -2]}, "p.steps is -2"),
    ):
        with pytest.raises(UsageError, match=message):
            params_from_dict(Params, values, "p")


def test_synthetic_sets_run_the_methods_budgets_and_real_data_the_released_values(zsbench_home: Path) -> None:
    from zsbench.config import build_config
    from zsbench.pipeline.resolve import resolve_run
    from zsbench.runner import budget_note

    def resolved(dataset: str, *assignments: str) -> tuple[dict[str, object], dict[str, object]]:
        config = build_config(assignments=["method=dynapurls", f"dataset={dataset}", "split=48/12", *assignments])
        run = resolve_run(config)
        return run.config.method_params, run.budget

    params, budget = resolved("ntu60-synth")
    assert params["epochs"] == 10 and budget == {"epochs": 10}  # released 100
    params, budget = resolved("ntu60-synth", "method_params.epochs=7")
    assert params["epochs"] == 7 and budget == {}  # an explicit value wins and is no budget
    # The budget applies whole or not: DVTA at its released 100 epochs gets its released warm-up back.
    dvta = resolve_run(build_config(assignments=["method=dvta", "dataset=ntu60-synth", "split=48/12",
                                                 "method_params.epochs=100"]))  # fmt: skip
    assert dvta.config.method_params["warmup_epochs"] == 15 and dvta.budget == {}
    assert budget_note(dvta)["name"] == "defaults" and "explicitly" in budget_note(dvta)["reason"]
    params, budget = resolved("ntu60")
    assert params["epochs"] == 100 and budget == {}
    # The budget is part of the resolved config, so a budgeted run and a released-budget run never share an id.
    synthetic = resolve_run(build_config(assignments=["method=dynapurls", "dataset=ntu60-synth", "split=48/12"]))
    explicit = resolve_run(
        build_config(assignments=["method=dynapurls", "dataset=ntu60-synth", "split=48/12", "method_params.epochs=100"])
    )
    assert synthetic.run_id != explicit.run_id

    # A report calls the budgeted run the "default" variant and names what an explicit run changed.
    from zsbench.report.aggregate import variant_settings

    def as_recorded(run: object) -> dict[str, object]:
        return json.loads(run.config.canonical_json())  # type: ignore[attr-defined]

    assert variant_settings(as_recorded(synthetic)) == []
    assert variant_settings(as_recorded(explicit)) == ["method_params.epochs=100"]
