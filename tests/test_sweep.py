from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from zsbench.cli.main import app
from zsbench.errors import UsageError
from zsbench.sweep import parse_variant, plan

runner = CliRunner()
TINY = ["--set", "encoder.epochs=2", "--set", "encoder.hidden=32", "--set", "method_params.epochs=2"]


def test_plan_is_the_product_checked_up_front_without_duplicates() -> None:
    points = plan(
        ["devise", "dvta"], ["48/12", "55/5"], [0, 1], ["strict"], [(), ("method_params.epochs=3",)], "ntu60-synth"
    )
    assert len(points) == 16 and len({p.run_id for p in points}) == 16
    assert len(plan(["devise"], ["48/12", "synse:48/12"], [0], [], [], "ntu60-synth")) == 1  # one split, two spellings
    with pytest.raises(UsageError, match="method"):
        plan(["devise", "nosuch"], ["48/12"], [0], [], [], "ntu60-synth")
    with pytest.raises(UsageError, match="split"):
        plan(["devise"], ["48/13"], [0], [], [], "ntu60-synth")
    assert parse_variant(" method_params.refine=false; method_params.slots=g ;") == (
        "method_params.refine=false",
        "method_params.slots=g",
    )
    with pytest.raises(UsageError, match="key=value"):
        parse_variant("refine")


def test_sweep_resumes_and_reports_failures_with_exit_4(zsbench_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    args = ["sweep", "--method", "devise", "--split", "48/12", "--seed", "0", "--seed", "1", "--dataset", "ntu60-synth",
            "--json", *TINY]  # fmt: skip
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    outcomes = json.loads(first.stdout)
    assert [o["status"] for o in outcomes] == ["ran", "ran"]
    assert all(Path(o["path"]).is_file() for o in outcomes)
    dry = json.loads(runner.invoke(app, [*args, "--seed", "2", "--dry-run"]).stdout)
    assert [row["has_record"] for row in dry] == [True, True, False]

    from zsbench import runner as run_module

    real_execute = run_module.execute

    def failing_for_seed_2(config, *rest):  # type: ignore[no-untyped-def]
        if config.seed == 2:
            raise IndexError("index 7 is out of bounds (injected)")  # a bug, not a ZsbenchError
        return real_execute(config, *rest)

    monkeypatch.setattr(run_module, "execute", failing_for_seed_2)
    resumed = runner.invoke(app, [*args, "--seed", "2"])
    assert resumed.exit_code == 4, resumed.output
    statuses = {o["run"].split(" · ")[2]: o for o in json.loads(resumed.stdout)}
    assert statuses["seed 0"]["status"] == statuses["seed 1"]["status"] == "existing"
    assert statuses["seed 2"]["status"] == "failed" and "injected" in statuses["seed 2"]["error"]


def test_unknown_backend_and_names_exit_2(zsbench_home: Path) -> None:
    base = ["sweep", "--method", "devise", "--split", "48/12", "--dataset", "ntu60-synth"]
    assert runner.invoke(app, [*base, "--backend", "slurm"]).exit_code == 2
    assert runner.invoke(app, ["sweep", "--method", "nosuch", "--split", "48/12"]).exit_code == 2


def test_ray_backend_runs_each_point_as_a_task(zsbench_home: Path) -> None:
    ray = pytest.importorskip("ray")  # installed by `nox -s tests`, so CI runs this on every commit
    # A local cluster on the loopback address, started before the sweep so that the sweep joins it.
    ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False)
    try:
        _sweep_twice_on_ray()
    finally:
        ray.shutdown()


def _sweep_twice_on_ray() -> None:
    args = ["sweep", "--backend", "ray", "--method", "devise", "--split", "55/5", "--seed", "0", "--seed", "1",
            "--dataset", "ntu60-synth", "--json", *TINY]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert [o["status"] for o in json.loads(result.stdout)] == ["ran", "ran"]
    again = json.loads(runner.invoke(app, args).stdout)
    assert [o["status"] for o in again] == ["existing", "existing"]


def test_dry_run_lists_each_point_with_its_variant(zsbench_home: Path) -> None:
    result = runner.invoke(app, ["sweep", "--method", "devise", "--split", "48/12", "--dataset", "ntu60-synth",
                                 "--variant", "", "--variant", "method_params.epochs=3", "--dry-run"])  # fmt: skip
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 2 and lines[1].endswith("[method_params.epochs=3]") and "pending" in lines[1]
