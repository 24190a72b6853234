"""Where a run's time goes, per registered method: encoder training, extraction, fit and scoring.

Each method runs once from empty encoder and fit caches (cold), then once more after another run filled
the encoder cache (warm: the encoder is reused, the method fits again). Runs go to a private
``$ZSBENCH_HOME`` so nothing of the user's is touched or reused.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from zsbench import paths
from zsbench.config import build_config
from zsbench.data.synthetic.generator import SynthConfig

STAGES = ("encoder_training_seconds", "extraction_seconds", "fit_seconds", "scoring_seconds")
# --quick: a small store and short budgets, to see the shape of the costs in about a minute per method.
QUICK_STORE = SynthConfig(family="ntu60", train_subjects=2, test_subjects=2, replications=1, frames=64)
QUICK_SETTINGS = ("encoder.epochs=2", "method_params.epochs=2")


@dataclass(frozen=True)
class MethodTiming:
    method: str
    cache: str  # cold | warm
    total_seconds: float
    stages: dict[str, float]
    encoders_reused: bool  # both folds' encoders came from the cache
    test_samples: int = 0  # evaluation samples of the test fold (each scored against every class, GZSL and ZSL)
    test_scoring_seconds: float = 0.0  # the test fold's scoring time (its share of scoring_seconds)

    @property
    def other_seconds(self) -> float:
        return max(0.0, self.total_seconds - sum(self.stages.values()))

    @property
    def samples_per_second(self) -> float:
        """Scoring throughput: test samples scored per second of the test fold's scoring."""
        return self.test_samples / self.test_scoring_seconds if self.test_scoring_seconds > 0 else float("nan")


@contextmanager
def _private_home() -> Iterator[Path]:
    previous = os.environ.get("ZSBENCH_HOME")
    home = Path(tempfile.mkdtemp(prefix="zsbench-bench-"))
    os.environ["ZSBENCH_HOME"] = str(home)
    try:
        yield home
    finally:
        if previous is None:
            os.environ.pop("ZSBENCH_HOME", None)
        else:
            os.environ["ZSBENCH_HOME"] = previous
        shutil.rmtree(home, ignore_errors=True)


def method_stages(
    methods: Sequence[str], split: str = "48/12", quick: bool = False, device: str | None = None
) -> list[MethodTiming]:
    """Cold and warm timings of each method on ``ntu60-synth`` (the default set, or a small one with ``quick``)."""
    from zsbench.data.prepare import prepare_synthetic
    from zsbench.results.store import ExistingRecord
    from zsbench.runner import execute

    timings = []
    with _private_home() as home:
        prepare_synthetic("ntu60-synth", QUICK_STORE if quick else SynthConfig())
        settings = list(QUICK_SETTINGS if quick else ())
        for method in methods:
            for cache in ("cold", "warm"):
                if cache == "cold":
                    shutil.rmtree(paths.encoders_dir(), ignore_errors=True)
                shutil.rmtree(paths.fits_dir(), ignore_errors=True)
                config = build_config(None, settings, {"method": method, "split": split, "dataset": "ntu60-synth"})
                started = time.perf_counter()
                record, path, _ = execute(config, home / "runs", ExistingRecord.OVERWRITE, device=device)
                total = time.perf_counter() - started
                stages = {stage: float(record.timings.get(stage, 0.0)) for stage in STAGES}
                reused = all(bool(record.encoders[fold].get("reused")) for fold in ("test_fold", "validation_fold"))
                with np.load(path.with_suffix(".npz")) as arrays:
                    test_samples = len(arrays["labels"])
                scoring = float(record.timings.get("test_scoring_seconds", 0.0))
                timings.append(MethodTiming(method, cache, total, stages, reused, test_samples, scoring))
    return timings
