"""Benchmark of raw NTU ``.skeleton`` parsing: zsbench's reader against a plain line-by-line reference.

Both parse the same files (the real samples, when given, plus synthetic files written in the real
format) in one process and must give identical arrays. Then the whole ``prepare`` pipeline (parse,
body selection, resampling, writing the store) runs with 1 and 2 worker processes, and its throughput
projects the time of a full NTU-120 preparation.
"""

from __future__ import annotations

import math
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from zsbench import paths
from zsbench.data.preprocess import PrepareOptions
from zsbench.data.readers import ntu
from zsbench.data.synthetic.generator import SynthConfig
from zsbench.data.synthetic.skeleton_files import write_synthetic_skeletons
from zsbench.errors import RunFailed

NTU120_FILES = 114_480
NTU120_BYTES = 27.5e9  # roughly 25-30 GB of text


@dataclass
class PrepareTiming:
    name: str
    files: int
    megabytes: float
    seconds: float

    @property
    def files_per_second(self) -> float:
        return self.files / self.seconds

    @property
    def megabytes_per_second(self) -> float:
        return self.megabytes / self.seconds


def synthetic_corpus(count: int, seed: int = 0) -> Path:
    """A cached folder of ``count`` synthetic real-format files (90 frames each, like typical NTU clips)."""
    per_subject = 60 * 2 * 3 * 2  # classes x replications x cameras x (one train + one test subject)
    folder = paths.home() / "bench" / f"ntu-skeletons-{count}-{seed}"
    if len(list(folder.glob("*.skeleton"))) < count:
        shutil.rmtree(folder, ignore_errors=True)
        subjects = math.ceil(count / per_subject)
        config = SynthConfig(train_subjects=subjects, test_subjects=subjects, frames=90, seed=seed)
        write_synthetic_skeletons(config, folder, limit=count)
    return folder


def _same(a: ntu.SkeletonSequence, b: ntu.SkeletonSequence) -> bool:
    return (
        a.num_frames == b.num_frames
        and a.bodies.keys() == b.bodies.keys()
        and all(np.array_equal(a.bodies[k].joints, b.bodies[k].joints) for k in a.bodies)
        and all(np.array_equal(a.bodies[k].frames, b.bodies[k].frames) for k in a.bodies)
    )


def skeleton_parsing(count: int = 2000, samples: Path | None = None) -> tuple[list[PrepareTiming], str]:
    files = sorted(synthetic_corpus(count).glob("*.skeleton"))[:count]
    if samples is not None:
        files += sorted(samples.glob("*.skeleton"))
    megabytes = sum(f.stat().st_size for f in files) / 1e6
    started = time.perf_counter()
    reference = [ntu.reference_parse(f) for f in files]
    reference_seconds = time.perf_counter() - started
    started = time.perf_counter()
    ours = [ntu.parse_skeleton(f) for f in files]
    ours_seconds = time.perf_counter() - started
    mismatched = [f.name for f, a, b in zip(files, ours, reference, strict=True) if not _same(a, b)]
    if mismatched:
        raise RunFailed(f"zsbench and the reference parser disagree on {mismatched[:3]}")
    timings = [
        PrepareTiming("reference parser (line by line, every field)", len(files), megabytes, reference_seconds),
        PrepareTiming("zsbench parse_skeleton", len(files), megabytes, ours_seconds),
    ]
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch) / "raw"
        folder.mkdir()
        for f in files:
            (folder / f.name).symlink_to(f)
        for workers in (1, 2):
            started = time.perf_counter()
            _prepare_into(Path(scratch) / "home", folder, workers)
            timings.append(
                PrepareTiming(
                    f"full prepare, {workers} worker(s)", len(files), megabytes, time.perf_counter() - started
                )
            )
    best = timings[-1]
    projection = (
        f"projected full NTU-120 prepare on 2 cores (at {best.megabytes_per_second:.0f} MB/s, "
        f"{best.files_per_second:.0f} files/s): {NTU120_BYTES / 1e6 / best.megabytes_per_second / 60:.1f} min by bytes, "
        f"{NTU120_FILES / best.files_per_second / 60:.1f} min by file count"
    )
    return timings, projection


def _prepare_into(home: Path, folder: Path, workers: int) -> None:
    import os

    from zsbench.data.prepare import prepare_ntu

    previous = os.environ.get("ZSBENCH_HOME")
    os.environ["ZSBENCH_HOME"] = str(home)
    try:
        prepare_ntu("ntu120", folder, PrepareOptions(), workers=workers)
    finally:
        if previous is None:
            os.environ.pop("ZSBENCH_HOME")
        else:
            os.environ["ZSBENCH_HOME"] = previous
