"""Figures (matplotlib, the plots extra) and the self-contained HTML page, rendered in headless Chromium."""

from __future__ import annotations

import base64
import importlib.util
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from tests.test_compare import correctness, write_fake_run
from zsbench.cli.main import app

runner = CliRunner()


@pytest.fixture
def records(tmp_path: Path) -> Path:
    folder = tmp_path / "runs"
    for seed in range(2):
        write_fake_run(folder, "devise", seed, correctness(0.7, seed))
        write_fake_run(folder, "dvta", seed, correctness(0.5, seed + 5), transductive=True)
        write_fake_run(folder, "devise", seed, correctness(0.9, seed), protocol="paper")
    return folder


def test_cli_start_up_imports_no_scipy_or_matplotlib() -> None:
    code = (
        "import sys, zsbench.cli.main; print(sorted(m for m in ('scipy', 'matplotlib', 'torch') if m in sys.modules))"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"


def test_plots_are_written_as_png_and_pdf_with_labelled_axes(records: Path, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    from zsbench.report.aggregate import runs_table, summarise
    from zsbench.report.plots import OKABE_ITO, write_plots
    from zsbench.report.selection import main_variants

    runs = runs_table(records)
    arms = main_variants(runs)
    assert [a.method for a in arms] == ["devise", "dvta"]
    written = write_plots(runs, summarise(runs), arms, tmp_path / "figures")
    names = sorted(p.name for p in written.files)
    stems = {Path(n).stem for n in names}
    assert stems == {
        "seen-unseen_ntu60-synth_synse-55-5", "per-class_ntu60-synth_synse-55-5",
        "confusion_devise_ntu60-synth_synse-55-5", "confusion_dvta_ntu60-synth_synse-55-5", "methods-by-split",
    }  # fmt: skip
    assert all((tmp_path / "figures" / f"{s}.{e}").stat().st_size > 1000 for s in stems for e in ("png", "pdf"))
    assert written.skipped == []
    # Colour-blind-safe palette and labelled axes, read back from a figure drawn the same way.
    import matplotlib.pyplot as plt

    from zsbench.report import plots

    files: list[Path] = []
    original = plots._save
    captured = []
    plots._save = lambda figure, folder, stem, out: captured.append(figure)  # type: ignore[assignment]
    try:
        plots.seen_unseen_curves(runs, arms, tmp_path, files, [])
    finally:
        plots._save = original  # type: ignore[assignment]
    (axes,) = captured[0].axes
    assert axes.get_xlabel() == "seen-class accuracy (%)" and axes.get_ylabel() == "unseen-class accuracy (%)"
    legend = [t.get_text() for t in axes.get_legend().get_texts()]
    assert legend[0].startswith("devise (AUSUC ") and "n=2" in legend[0]
    colours = {line.get_color() for line in axes.get_lines()}
    assert colours <= set(OKABE_ITO)
    plt.close("all")


def test_report_plots_option_and_missing_npz(records: Path, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    for npz in records.glob("*.npz"):
        npz.unlink()
    result = runner.invoke(app, ["report", "--results-dir", str(records), "--plots", str(tmp_path / "f")])
    assert result.exit_code == 0, result.output
    assert "no .npz" in result.stderr and "figure files" in result.stderr
    assert not list((tmp_path / "f").glob("seen-unseen*")) and (tmp_path / "f" / "methods-by-split.png").is_file()


def _html(records: Path) -> str:
    result = runner.invoke(app, ["report", "--results-dir", str(records), "--format", "html"])
    assert result.exit_code == 0, result.output
    return result.stdout


def test_html_page_is_self_contained(records: Path) -> None:
    page = _html(records)
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert '<th colspan="2">55/5</th>' in page  # the paper table
    assert "strict: model selection and GZSL calibration on a validation fold" in page
    assert "paper protocol, devise: quirks applied: gzsl_calibration_on_test" in page
    assert "transductive" in page and "strict − paper" in page
    assert not re.search(r'(src|href)="(?!data:)', page)  # nothing loaded from outside the page
    if importlib.util.find_spec("matplotlib") is not None:
        images = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
        assert len(images) == 5 and all(base64.b64decode(i).startswith(b"\x89PNG") for i in images)


def _chromium() -> str | None:
    return next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)


@pytest.mark.skipif(_chromium() is None, reason="Chromium is not installed")
def test_html_renders_in_headless_chromium_and_is_not_blank(records: Path, tmp_path: Path) -> None:
    plt = pytest.importorskip("matplotlib.pyplot")
    page = tmp_path / "report.html"
    page.write_text(_html(records))
    shot = tmp_path / "shot.png"
    subprocess.run(
        [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", f"--screenshot={shot}",
         "--window-size=1200,1600", page.as_uri()],
        capture_output=True, timeout=120, check=False,
    )  # fmt: skip
    assert shot.is_file(), "Chromium wrote no screenshot"
    pixels = np.asarray(plt.imread(shot))[..., :3]
    assert pixels.shape[0] >= 1000 and pixels.shape[1] >= 1000
    assert float(pixels.var()) > 0.005  # a blank page has variance 0
    dark = (pixels.mean(axis=2) < 0.5).mean()
    assert 0.002 < dark < 0.5  # text and figures drawn, not one flat colour
