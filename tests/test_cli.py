"""End-to-end tests of the command line on a tiny synthetic store."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.conftest import FAST_RUN
from zsbench.cli.main import app

runner = CliRunner()
RUN = ["run", "--method", "devise", "--dataset", "ntu60-synth", *FAST_RUN]


def invoke(*args: str):
    return runner.invoke(app, list(args))


@pytest.fixture(scope="module")
def first_run(zsbench_home: Path) -> dict:
    result = invoke(*RUN, "--split", "48/12", "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_run_writes_a_complete_record(first_run: dict, zsbench_home: Path) -> None:
    record = first_run
    assert record["split"]["name"] == "synse:48/12" and len(record["split"]["hash"]) == 16
    assert record["split"]["validation_unseen"] and not set(record["split"]["validation_unseen"]) & set(
        record["split"]["unseen"]
    )
    assert record["protocol"]["name"] == "strict" and record["protocol"]["quirks"] == []
    assert record["calibration"]["chosen_on"] == "validation fold"
    assert record["dataset"]["content_hash"] and record["encoders"]["test_fold"]["checkpoint_hash"]
    assert set(record["per_class"]["zsl"]) == {str(c) for c in record["split"]["unseen"]}
    assert len(record["confusion"]["zsl"]["counts"]) == 12
    assert record["environment"]["versions"]["torch"]
    for key in ("zsl_top1", "zsl_top5", "zsl_mean_class", "gzsl_seen", "gzsl_unseen", "gzsl_h", "ausuc"):
        assert 0.0 <= record["metrics"][key] <= 1.0
    runs = zsbench_home / "runs"
    assert (runs / f"{record['run_id']}.json").is_file() and (runs / f"{record['run_id']}.npz").is_file()
    assert not [p for p in runs.iterdir() if p.name.startswith(".")]


def test_same_config_twice_gives_identical_metrics_and_finds_the_record(first_run: dict, zsbench_home: Path) -> None:
    shutil.rmtree(zsbench_home / "encoders")  # retrain from scratch, not from the checkpoint cache
    again = invoke(*RUN, "--split", "48/12", "--json", "--overwrite")
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["metrics"] == first_run["metrics"]
    # A retrained encoder with the same weights has the same hash (it names the weights, not the saved file).
    # ("reused" may differ: in a whole-suite run an earlier test can have cached the first run's encoder.)
    retrained = json.loads(again.stdout)["encoders"]
    assert all(retrained[fold]["reused"] is False for fold in retrained)

    def without_reuse(encoders: dict) -> dict:
        return {fold: {k: v for k, v in info.items() if k != "reused"} for fold, info in encoders.items()}

    assert without_reuse(retrained) == without_reuse(first_run["encoders"])
    found = invoke(*RUN, "--split", "48/12")
    assert found.exit_code == 0
    assert "found an existing record" in found.stderr
    assert "ZSL top-1" in found.stdout


def test_zero_shot_signal_flows_through_text(zsbench_home: Path) -> None:
    """Real text: well above chance. Unseen texts permuted among themselves: no better than chance."""
    chance = 1 / 12
    real, permuted = [], []
    for seed in ("0", "1", "2"):
        for control, sink in (("none", real), ("permute", permuted)):
            result = invoke(*RUN, "--split", "48/12", "--seed", seed, "--json",
                            "--set", f"evaluation.unseen_text_control={control}")  # fmt: skip
            assert result.exit_code == 0, result.output
            sink.append(json.loads(result.stdout)["metrics"]["zsl_top1"])
    assert sum(real) / 3 >= 3 * chance
    assert sum(permuted) / 3 <= 1.5 * chance


def test_paper_protocol_names_its_quirks(zsbench_home: Path) -> None:
    result = invoke(*RUN, "--split", "48/12", "--protocol", "paper", "--json")
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["protocol"]["quirks"] == ["gzsl_calibration_on_test"]
    assert record["calibration"]["chosen_on"] == "test set (paper quirk)"


def test_gating_calibration_is_recorded(zsbench_home: Path) -> None:
    result = invoke(*RUN, "--split", "48/12", "--json", "--set", "evaluation.calibration=gating")
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert 0 <= record["metrics"]["gzsl_gated_h"] <= 1
    assert record["calibration"]["gate"]["chosen_on"] == "validation fold"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--method", "dynapurl"], "Did you mean 'dynapurls'? Valid methods: cada_vae, devise, dvta"),
        (["--dataset", "ntu61"], "Valid datasets:"),
        (["--split", "47/13"], "Valid splits: synse:55/5"),
        (["--protocol", "loose"], "unknown protocol"),
        (["--set", "encoder.epochz=3"], "unknown field 'epochz'"),
    ],
)
def test_unknown_names_exit_2_and_list_valid_ones(zsbench_home: Path, args: list[str], expected: str) -> None:
    result = invoke("run", "--dataset", "ntu60-synth", "--split", "55/5", *args)
    assert result.exit_code == 2
    assert expected in result.stderr


def test_unprepared_dataset_exits_3_with_the_prepare_command(zsbench_home: Path) -> None:
    result = invoke("run", "--dataset", "ntu120-synth", "--split", "110/10")
    assert result.exit_code == 3
    assert "zsbench prepare ntu120-synth" in result.stderr


def test_real_dataset_without_root_exits_3_pointing_to_the_synthetic_set(zsbench_home: Path, tmp_path: Path) -> None:
    result = invoke("prepare", "ntu60", "--root", str(tmp_path / "nowhere"))
    assert result.exit_code == 3
    assert "rose1.ntu.edu.sg" in result.stderr and "ntu60-synth" in result.stderr


def test_report_formats(zsbench_home: Path, tmp_path: Path) -> None:
    # Its own records, so that the test reads nothing another test wrote.
    runs = str(tmp_path / "runs")
    records = []
    for control in ("none", "permute"):
        result = invoke(*RUN, "--split", "48/12", "--json", "--results-dir", runs,
                        "--set", f"evaluation.unseen_text_control={control}")  # fmt: skip
        assert result.exit_code == 0, result.output
        records.append(json.loads(result.stdout))
    as_json = invoke("report", "--json", "--results-dir", runs)
    assert as_json.exit_code == 0
    rows = json.loads(as_json.stdout)
    assert len(rows) == 2
    plain = [r for r in rows if "evaluation" not in r["variant"]]
    assert len(plain) == 1 and plain[0]["n"] == 1 and plain[0]["seeds"] == "0"
    assert plain[0]["zsl_top1_mean"] == pytest.approx(records[0]["metrics"]["zsl_top1"])
    markdown = invoke("report", "--format", "markdown", "--results-dir", runs).stdout
    assert markdown.startswith("| method | dataset | split") and "evaluation.unseen_text_control=permute" in markdown
    latex = invoke("report", "--format", "latex", "--results-dir", runs).stdout
    assert r"\begin{tabular" in latex
    csv = invoke("report", "--format", "csv", "--results-dir", runs).stdout
    assert csv.splitlines()[0].startswith("method,dataset,split,protocol,variant,n")
    assert len(csv.strip().splitlines()) == 3
    assert invoke("report", "--format", "yaml", "--results-dir", runs).exit_code == 2
    only = json.loads(invoke("report", "--json", "--method", "nosuchmethod", "--results-dir", runs).stdout)
    assert only == []


def test_settings_shared_by_every_row_are_printed_once() -> None:
    import pandas as pd

    from zsbench.report.aggregate import factor_common

    summary = pd.DataFrame(
        {"variant": ["a", "b"], "settings": [("encoder.hidden=32", "method_params.x=1"), ("encoder.hidden=32",)]}
    )
    shortened, common = factor_common(summary)
    assert common == ["encoder.hidden=32"]
    assert list(shortened["variant"]) == ["method_params.x=1", "common"]
    assert factor_common(summary.iloc[:1])[1] == []


def test_ls_describe_and_version(zsbench_home: Path) -> None:
    methods = json.loads(invoke("ls", "methods", "--json").stdout)
    assert {"devise", "dvta"} <= {m["name"] for m in methods}
    split_rows = json.loads(invoke("ls", "splits", "--dataset", "pku-mmd", "--json").stdout)
    assert "star:39/12" in [s["name"] for s in split_rows]
    described = json.loads(invoke("describe", "A001", "--dataset", "ntu60", "--json").stdout)
    assert described["name"] == "Drink water" and set(described["parts"]) == {"head", "hands", "arms", "torso", "legs"}
    assert invoke("--version").stdout.startswith("zsbench ")
    assert invoke("ls", "widgets").exit_code == 2


def test_committed_reference_records_still_load_and_aggregate() -> None:
    folder = Path(__file__).resolve().parents[1] / "results" / "reference" / "ntu60-synth"
    result = invoke("report", "--results-dir", str(folder), "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert {r["method"] for r in rows} == {"devise", "dvta", "pgfa", "dynapurls", "neuron"}
    assert all(r["n"] == 3 for r in rows)


def test_committed_shared_backbone_records_load_and_read_one_encoder() -> None:
    folder = Path(__file__).resolve().parents[1] / "results" / "reference" / "ntu60-synth-jointmix"
    result = invoke("report", "--results-dir", str(folder), "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert {"devise", "dynapurls"} <= {r["method"] for r in rows}
    assert {r["encoder"] for r in rows} == {"jointmix"}
    assert "different encoders" not in result.stderr
    records = [json.loads(p.read_text()) for p in folder.glob("*.json")]
    assert all(r["identity"]["code"]["numerics"] >= 3 and (folder / f"{r['run_id']}.npz").is_file() for r in records)


def test_committed_records_at_the_current_defaults_were_made_on_the_current_default_store(
    empty_home: Path,
) -> None:
    """The reference records of the current embedded set name the content hash of `zsbench prepare ntu60-synth`."""
    folder = Path(__file__).resolve().parents[1] / "results" / "reference" / "ntu60-synth-5x17"
    records = [json.loads(p.read_text()) for p in folder.glob("*.json")]
    assert {r["config"]["method"] for r in records} >= {"devise", "jpose", "sadvae"}
    assert {r["dataset"]["num_samples"] for r in records} == {7920}
    prepared = invoke("prepare", "ntu60-synth")
    assert prepared.exit_code == 0, prepared.output
    manifest = json.loads((empty_home / "datasets" / "ntu60-synth" / "manifest.json").read_text())
    assert {r["dataset"]["content_hash"] for r in records} == {manifest["content_hash"]}
    assert {(r["config"]["encoder"]["name"], r["config"]["encoder"]["epochs"]) for r in records} == {("jointmix", 30)}


# Committed reference folders and the splits on which every registered method has its strict seed-0 record.
REFERENCE_SETS = {
    "ntu60-synth-5x17": ("synse:55/5", "synse:48/12"),
    "pku-mmd-synth-5x17": ("star:46/5", "star:39/12"),
    "ntu120-synth-5x17": ("synse:110/10", "synse:96/24"),
}


@pytest.mark.parametrize(("folder_name", "splits"), list(REFERENCE_SETS.items()))
def test_committed_records_are_the_current_defaults_of_every_method(folder_name: str, splits: tuple[str, str]) -> None:
    """Each committed default-variant record resolves, today, to the config it was made with (budgets and
    parameter defaults included), so a change of defaults without new records fails here; every registered
    method has its strict seed-0 row on both splits."""
    from zsbench.catalog import METHODS
    from zsbench.config import build_config
    from zsbench.pipeline.resolve import resolve_run
    from zsbench.report.aggregate import variant_settings

    folder = Path(__file__).resolve().parents[1] / "results" / "reference" / folder_name
    records = [json.loads(p.read_text()) for p in folder.glob("*.json")]
    defaults = [r for r in records if not variant_settings(r["config"])]
    for record in defaults:
        config = record["config"]
        fields = ("method", "dataset", "split", "seed", "protocol")
        run = resolve_run(build_config(assignments=[f"{field}={config[field]}" for field in fields]))
        assert json.loads(run.config.canonical_json()) == config, (config["method"], config["split"])
    strict_seed_0 = {(r["config"]["method"], r["config"]["split"]) for r in defaults
                     if r["config"]["seed"] == 0 and r["protocol"]["name"] == "strict"}  # fmt: skip
    assert strict_seed_0 == {(m, s) for m in METHODS.names() for s in splits}


def test_pku_stand_in_prepares_and_runs_a_method_on_a_star_split(empty_home: Path) -> None:
    """pku-mmd-synth end to end: its own partition columns define the folds, and the text carries a zero-shot signal."""
    from zsbench.data.prepare import prepare_synthetic
    from zsbench.data.synthetic.generator import SynthConfig

    prepare_synthetic("pku-mmd-synth", SynthConfig(family="pku51", train_subjects=3, test_subjects=3, frames=32))
    result = invoke("run", "--method", "devise", "--dataset", "pku-mmd-synth", "--split", "46/5", "--json", *FAST_RUN)
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["split"]["name"] == "star:46/5" and record["split"]["unseen"] == [1, 9, 20, 34, 50]
    assert record["dataset"]["family"] == "pku51"
    counts = record["confusion"]["zsl"]["counts"]
    assert [sum(row) for row in counts] == [3 * 2 * 3] * 5  # per class: the 3 test sequences x 2 replications x 3 views
    assert record["metrics"]["zsl_top1"] >= 2 * 0.2  # chance is 1 in 5
