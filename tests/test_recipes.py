"""Reproduction recipes: the committed ones are valid, and a recipe runs and reports on the synthetic stand-ins."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.conftest import FAST_RUN
from zsbench import recipes
from zsbench.cli.main import app
from zsbench.errors import DataError

runner = CliRunner()


@pytest.mark.parametrize("name", recipes.available())
def test_committed_recipe_is_valid_and_every_published_cell_is_on_record(name: str) -> None:
    recipe = recipes.load(name)
    assert recipe.tables and recipe.methods
    assert recipes.unpublished_cells(recipe) == []


def _write_recipe(folder: Path, text: str, name: str = "tiny") -> None:
    folder.mkdir(exist_ok=True)
    (folder / f"{name}.yaml").write_text(text)


TINY_RECIPE = """
name: tiny
title: "a one-table recipe for tests"
source: "tests"
methods: [devise]
tables:
  - dataset: ntu60
    splits: [55/5]
seeds: [0]
protocols: [strict, paper]
encoder: shiftgcn
published: []
"""


def test_a_malformed_recipe_names_the_file_and_the_field(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(recipes, "recipes_dir", lambda: tmp_path)
    _write_recipe(tmp_path, TINY_RECIPE.replace("methods: [devise]", "methods: [devize]"))
    with pytest.raises(DataError, match=r"tiny\.yaml: field 'methods' names 'devize'"):
        recipes.load("tiny")
    _write_recipe(tmp_path, TINY_RECIPE.replace("published: []", "published: [DeViSE ntu60 55/5]"))
    with pytest.raises(DataError, match=r"published\[0\]: expected 'METHOD DATASET SPLIT METRIC'"):
        recipes.load("tiny")
    _write_recipe(tmp_path, TINY_RECIPE.replace("published: []", "published: [DeViSE ntu60 synse_fixed:55/5 zsl_top1]"))
    assert [c.method for c in recipes.unpublished_cells(recipes.load("tiny"))] == ["DeViSE"]


def test_a_recipe_without_its_data_exits_3_naming_the_prepare_command(empty_home: Path) -> None:
    result = runner.invoke(app, ["sweep", "--recipe", "pgfa-tip2025", "--dry-run"])
    assert result.exit_code == 3, result.output
    assert "zsbench prepare ntu60 --root DIR" in result.output


def test_recipe_runs_strict_and_paper_on_the_stand_in_and_reports_beside_published(
    zsbench_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "recipes"
    monkeypatch.setattr(recipes, "recipes_dir", lambda: folder)
    _write_recipe(folder, TINY_RECIPE)
    results = tmp_path / "runs"
    common = ["--recipe", "tiny", "--stand-in", "--results-dir", str(results)]
    swept = runner.invoke(app, ["sweep", *common, "--json", *FAST_RUN])
    assert swept.exit_code == 0, swept.output
    outcomes = json.loads(swept.stdout)
    # The recipe's two protocols on its one split, on the synthetic NTU-60 set; the user's --set wins over the
    # recipe's encoder.
    assert sorted(o["run"].split(" · ")[-1] for o in outcomes) == ["paper", "strict"]
    records = [json.loads(Path(o["path"]).read_text()) for o in outcomes]
    assert {r["dataset"]["name"] for r in records} == {"ntu60-synth"}
    assert {r["config"]["encoder"]["name"] for r in records} == {"tcn"}
    published = tmp_path / "published.csv"
    published.write_text(
        "method,dataset,split,metric,value,source,note\nDeViSE,ntu60,synse_fixed:55/5,zsl_top1,12.5,test,\n"
    )
    report = runner.invoke(
        app,
        ["report", *common[:3], "--results-dir", str(results), "--published", str(published), "--format", "markdown"],
    )
    assert report.exit_code == 0, report.output
    assert "12.5" in report.stdout  # the published cell beside ours
    assert "the published table used encoder shiftgcn; these rows ran tcn" in report.output
