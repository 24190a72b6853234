"""The paper layout, published anchors and the leaks view; the LaTeX compiles with pdflatex and fits a page."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from tests.test_compare import correctness, write_fake_run
from zsbench.cli.main import app
from zsbench.report import render
from zsbench.report.aggregate import factor_common, runs_table, summarise
from zsbench.report.anchors import Published
from zsbench.report.leaks import leaks_grid
from zsbench.report.paper import paper_grid

REFERENCE = Path(__file__).resolve().parents[1] / "results" / "reference" / "ntu60-synth"
runner = CliRunner()


@pytest.fixture
def records(tmp_path: Path) -> Path:
    """devise 60/70/80 %, dvta 40/50/60 %, pgfa (transductive) 20/30/40 %, devise paper 90 %, on 55/5 and 48/12."""
    for split in ("synse:55/5", "synse:48/12"):
        for seed in range(3):
            for method, accuracy in (("devise", 0.6), ("dvta", 0.4), ("pgfa", 0.2)):
                zsl = np.arange(40) < round(40 * (accuracy + 0.1 * seed))
                write_fake_run(tmp_path, method, seed, zsl, split=split, npz=False, transductive=method == "pgfa")
            write_fake_run(tmp_path, "devise", seed, correctness(0.9, seed), split=split, protocol="paper", npz=False)
    return tmp_path


def _grid(folder: Path, **kwargs):
    summary, common = factor_common(summarise(runs_table(folder)))
    return paper_grid(summary, common, **kwargs)


def test_paper_layout_has_methods_as_rows_and_splits_as_groups(records: Path) -> None:
    grid = _grid(records)
    assert [title for title, _ in grid.groups] == ["55/5", "48/12"] and grid.columns == ["ZSL", "H", "ZSL", "H"]
    labels = [(label.text, label.marks) for label, _ in grid.rows]
    assert labels == [("devise", ""), ("devise", "‡"), ("dvta", ""), ("pgfa", "†")]
    devise, paper, dvta, pgfa = (cells for _, cells in grid.rows)
    assert devise[0].mean == pytest.approx(70.0) and devise[0].std == pytest.approx(10.0) and devise[0].n == 3
    # Best and second best among strict rows; the paper row is better but does not compete.
    assert (devise[0].rank, dvta[0].rank, pgfa[0].rank, paper[0].rank) == (1, 2, 0, 0)
    text = render.markdown(grid)
    assert "**70.0 ± 10.0**" in text and "<u>50.0 ± 10.0</u>" in text and "| pgfa† |" in text
    assert "‡ paper protocol" in text and "gzsl_calibration_on_test" in text and "n = 3 runs" in text
    with_ausuc = _grid(records, ausuc=True)
    assert with_ausuc.columns == ["ZSL", "H", "AUSUC"] * 2


def test_a_cell_with_another_n_says_so(records: Path) -> None:
    next(records.glob("*.json")).unlink()
    text = render.markdown(_grid(records))
    assert "(n=2)" in text


def test_anchors_add_the_published_number_and_the_difference(records: Path, tmp_path: Path) -> None:
    published = tmp_path / "published.csv"
    published.write_text(
        "method,dataset,split,metric,value,source,note\n"
        "DeViSE,ntu60,synse_fixed:55/5,zsl_top1,65.5,Some paper,quoted\n"
        "DeViSE,ntu60,synse_fixed:55/5,zsl_top1,66.0,Own paper,own result\n"
        "DVTA,ntu120,synse_fixed:110/10,zsl_top1,1.0,x,\n"
    )
    grid = _grid(records, published=Published.read(published))
    assert grid.columns[:4] == ["ZSL", "ZSL pub.", "Δ", "H"] and grid.groups[0] == ("55/5", 4)
    devise = grid.rows[0][1]
    assert devise[1].mean == 66.0 and devise[2].mean == pytest.approx(4.0) and devise[2].signed
    assert grid.rows[2][1][1].missing  # dvta has no ntu60 anchor
    assert any("synthetic" in note for note in grid.notes)
    bad = tmp_path / "bad.csv"
    bad.write_text("method,dataset,split,metric,value,source\nX,ntu60,synse_fixed:55/5,zsl_top1,high,y\n")
    from zsbench.errors import DataError

    with pytest.raises(DataError, match="line 2"):
        Published.read(bad)


def test_committed_published_numbers_match_a_reference_row() -> None:
    anchor = Published.read().lookup("pgfa", "ntu60", "synse:55/5", 5, "zsl_top1")
    assert anchor is not None and anchor.value == 80.26
    assert Published.read().lookup("purls", "ntu60", "smie:1", 5, "zsl_top1") is None  # not in the table
    assert Published.read().lookup("SMIE", "ntu60", "smie:2", 5, "zsl_top1").value == pytest.approx(65.08)  # type: ignore[union-attr]


def test_leaks_view_is_strict_minus_paper_on_the_same_seed(records: Path) -> None:
    grid = leaks_grid(runs_table(records))
    ((label, cells),) = grid.rows
    assert label.text == "devise" and grid.columns == ["ZSL", "H", "AUSUC"] * 2
    runs = runs_table(records)
    strict = runs[(runs.protocol == "strict") & (runs.method == "devise") & (runs.split == "synse:55/5")].sort_values(
        "seed"
    )
    paper = runs[(runs.protocol == "paper") & (runs.split == "synse:55/5")].sort_values("seed")
    expected = 100 * (strict["zsl_top1"].to_numpy() - paper["zsl_top1"].to_numpy())
    assert cells[0].mean == pytest.approx(expected.mean()) and cells[0].std == pytest.approx(expected.std(ddof=1))
    assert cells[0].mean < 0 and "gzsl_calibration_on_test" in " ".join(grid.notes)


def test_report_cli_layouts_and_usage_errors(records: Path) -> None:
    base = ["report", "--results-dir", str(records)]
    latex = runner.invoke(app, [*base, "--format", "latex"])
    assert latex.exit_code == 0 and r"\multicolumn{2}{c}{55/5}" in latex.stdout and r"\toprule" in latex.stdout
    assert r"\textbf{70.0}" in latex.stdout and r"$^\dagger$" in latex.stdout and r"$^\ddagger$" in latex.stdout
    long = runner.invoke(app, [*base, "--format", "latex", "--layout", "long"])
    assert long.exit_code == 0 and "protocol" in long.stdout and r"\multicolumn" not in long.stdout
    leaks = runner.invoke(app, [*base, "--layout", "leaks", "--format", "markdown"])
    assert leaks.exit_code == 0 and leaks.stdout.startswith("| method | 55/5 ZSL")
    table = runner.invoke(app, [*base, "--layout", "paper"])
    assert table.exit_code == 0 and "55/5 ZSL" in table.stdout
    assert runner.invoke(app, [*base, "--layout", "wide"]).exit_code == 2
    assert runner.invoke(app, [*base, "--layout", "paper", "--format", "csv"]).exit_code == 2
    assert runner.invoke(app, [*base, "--anchors", "--layout", "long"]).exit_code == 2
    missing = runner.invoke(app, [*base, "--anchors", "--published", str(records / "nowhere.csv")])
    assert missing.exit_code == 3 and "nowhere.csv" in missing.stderr


def test_latex_escapes_what_tex_treats_specially() -> None:
    assert render.latex_escape("a_b & 5% #1 {x} ~ ^") == (r"a\_\allowbreak{}b \& 5\% \#1 \{x\} \textasciitilde{} \^{}")


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex is not installed")
def test_paper_latex_of_the_reference_records_compiles_and_fits_one_page(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["report", "--results-dir", str(REFERENCE), "--format", "latex", "--standalone", "--anchors", "--ausuc"]
    )
    assert result.exit_code == 0, result.output
    (tmp_path / "table.tex").write_text(result.stdout)
    compiled = subprocess.run(
        ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "table.tex"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    log = (tmp_path / "table.log").read_text(errors="replace")
    assert compiled.returncode == 0, log[-3000:]
    assert "Overfull \\hbox" not in log and "Overfull \\vbox" not in log
    pages = re.search(r"Output written on table\.pdf \((\d+) pages?", log)
    assert pages is not None and pages.group(1) == "1"
