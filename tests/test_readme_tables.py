"""The README's committed-results tables are what `zsbench report` prints today for the committed records.

A change of metrics, aggregation or rendering, or a record added without regenerating the README, fails here.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from zsbench.cli.main import app
from zsbench.report.aggregate import variant_settings

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "results" / "reference"
ABLATED_METHODS = ("dvta", "dynapurls", "neuron", "pgfa", "purls")  # PURLS is DynaPURLS without refinement

Select = Callable[[dict], bool]
TABLES: dict[str, tuple[str, Select]] = {
    "reference-table": ("ntu60-synth-5x17", lambda record: not variant_settings(record["config"])),
    "reference-ablations": (
        "ntu60-synth-5x17",
        lambda record: record["protocol"]["name"] == "strict" and record["config"]["method"] in ABLATED_METHODS,
    ),
    "reference-pku": ("pku-mmd-synth-5x17", lambda record: True),
    "reference-ntu120": ("ntu120-synth-5x17", lambda record: True),
}


def _readme_block(marker: str) -> str:
    text = (ROOT / "README.md").read_text()
    found = re.search(f"<!-- {marker}:start -->\n(.*?)\n<!-- {marker}:end -->", text, re.S)
    assert found is not None, f"README.md has no {marker} block"
    return found.group(1).strip()


@pytest.mark.parametrize("marker", list(TABLES))
def test_readme_table_is_the_report_of_the_committed_records(marker: str, tmp_path: Path) -> None:
    folder, selected = TABLES[marker]
    chosen = [path for path in sorted((REFERENCE / folder).glob("*.json")) if selected(json.loads(path.read_text()))]
    assert chosen, f"no records selected in {folder}"
    for path in chosen:
        shutil.copy(path, tmp_path / path.name)
    result = CliRunner().invoke(
        app, ["report", "--results-dir", str(tmp_path), "--layout", "paper", "--ausuc", "--format", "markdown"]
    )
    assert result.exit_code == 0, result.output
    assert _readme_block(marker) == result.stdout.strip()
