"""Benchmark of raw NTU ``.skeleton`` preparation: zsbench's reader against a plain line-by-line reference.

Both parse the same files (the real samples, when given, plus synthetic files written in the real
format) in one process and must give identical arrays. Then ``zsbench prepare ntu120 --root`` itself runs as
a separate process (start-up, file listing, checksums, parsing, body selection, resampling, the store and its
manifest) with 1 and 2 workers, on half the files and on all of them: its throughput projects a full NTU-120
preparation, and its peak resident memory at the two sizes shows whether memory grows with the file count.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from zsbench import paths
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
    peak_mib: float | None = None  # the process's peak resident memory (the CLI runs only)

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
        for subset in (files[: len(files) // 2], files):
            folder = Path(scratch) / f"raw-{len(subset)}"
            folder.mkdir()
            for f in subset:
                (folder / f.name).symlink_to(f)
            subset_megabytes = sum(f.stat().st_size for f in subset) / 1e6
            for workers in (1, 2):
                seconds, peak = cli_prepare(folder, Path(scratch) / f"home-{len(subset)}-{workers}", workers)
                name = f"zsbench prepare (CLI), {workers} worker(s), {len(subset)} files"
                timings.append(PrepareTiming(name, len(subset), subset_megabytes, seconds, peak))
    best, half = timings[-1], timings[-3]
    projection = (
        f"projected full NTU-120 prepare on 2 cores (at {best.megabytes_per_second:.0f} MB/s, "
        f"{best.files_per_second:.0f} files/s): {NTU120_BYTES / 1e6 / best.megabytes_per_second / 60:.1f} min by bytes, "
        f"{NTU120_FILES / best.files_per_second / 60:.1f} min by file count; peak memory (2 workers) {half.peak_mib:.0f} "
        f"MiB at {half.files} files, {best.peak_mib:.0f} MiB at {best.files}"
    )
    return timings, projection


def cli_prepare(folder: Path, home: Path, workers: int) -> tuple[float, float]:
    """Wall seconds and peak resident MiB (the largest of the CLI and its workers) of one ``zsbench prepare``."""
    command = [sys.executable, "-c", "from zsbench.cli.main import run_app; run_app()", "prepare", "ntu120",
               "--root", str(folder), "--workers", str(workers)]  # fmt: skip
    started = time.perf_counter()
    process = subprocess.Popen(
        command, env={**os.environ, "ZSBENCH_HOME": str(home)}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    assert process.stderr is not None
    errors = process.stderr.read()
    _, status, usage = os.wait4(process.pid, 0)  # the child's own usage, its waited-for workers included
    seconds = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise RunFailed(f"zsbench prepare failed in the benchmark: {errors.decode(errors='replace').strip()[-500:]}")
    return seconds, usage.ru_maxrss / 1024  # Linux reports KiB
