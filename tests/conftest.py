from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from zsbench.data.synthetic.generator import SynthConfig

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
SAMPLES = SHARED / "data-samples"
REFERENCE = SHARED / "reference"

# A small synthetic set and short training budgets: every end-to-end test finishes in seconds.
TINY_SYNTH = SynthConfig(
    family="ntu60", train_subjects=3, test_subjects=3, replications=2, cameras=(1, 2, 3), frames=32, seed=0
)
# The CLI tests pin the small tcn (several times faster to train than the default backbone); the backbone's
# own tests (test_backbone.py) and the token-map methods' end-to-end tests run the default.
FAST_RUN = [
    "--set", "encoder.name=tcn",
    "--set", "encoder.epochs=12",
    "--set", "encoder.hidden=64",
    "--set", "encoder.dim=128",
    "--set", "method_params.epochs=40",
]  # fmt: skip


def needs_shared(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"{path} is not available (tests read the shared reference data beside the checkout)")
    return path


@pytest.fixture(scope="session")
def zsbench_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A private ZSBENCH_HOME holding a tiny prepared ntu60-synth store (shared by the whole session)."""
    from zsbench.data.prepare import prepare_synthetic

    home = tmp_path_factory.mktemp("zsbench-home")
    previous = os.environ.get("ZSBENCH_HOME")
    os.environ["ZSBENCH_HOME"] = str(home)
    prepare_synthetic("ntu60-synth", TINY_SYNTH)
    yield home
    if previous is None:
        del os.environ["ZSBENCH_HOME"]
    else:
        os.environ["ZSBENCH_HOME"] = previous


@pytest.fixture
def empty_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ZSBENCH_HOME", str(tmp_path))
    return tmp_path


def leftovers(home: Path) -> list[str]:
    """Hidden folders (staging, .old) in the datasets folder and temp files anywhere under home: what a failed
    or interrupted write must not leave behind."""
    datasets = home / "datasets"
    found = [p.name for p in datasets.rglob(".*")] if datasets.is_dir() else []
    return found + [str(p) for p in home.rglob("*.tmp")]
