"""Benchmark of raw NTU ``.skeleton`` preparation: zsbench's reader against a plain line-by-line reference.

The corpus is real-format files: with ``samples`` (a folder of real ``.skeleton`` files) the real files
themselves, linked under as many distinct sample names as asked for; without it, synthetic files written in
the real format (which parse somewhat faster than real ones, so the output says which corpus it timed).
Both parsers read every file in one process and must give identical arrays. Then ``zsbench prepare ntu120
--root`` itself runs as a separate process (start-up, file listing, checksums, parsing, body selection,
resampling, the store and its manifest) with 1 and 2 workers, on half the files and on all of them. The
difference between the two sizes gives the per-file cost without the fixed start-up, which projects a full
NTU-120 preparation; the peak resident memory at the two sizes shows whether memory grows with the file count.
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


def real_corpus(samples: Path, count: int, folder: Path) -> list[Path]:
    """``count`` links in ``folder`` to the real files in ``samples``, cycled, each under its own NTU-120 name."""
    sources = sorted(samples.glob("*.skeleton"))
    if not sources:
        raise RunFailed(f"{samples}: no .skeleton files to build the benchmark corpus from")
    folder.mkdir(parents=True, exist_ok=True)
    setups, performers, _ = ntu.FAMILY_LIMITS["ntu120"]
    links = []
    for position in range(count):
        source = sources[position % len(sources)]
        setup, rest = divmod(position, performers * ntu.CAMERAS)
        performer, camera = divmod(rest, ntu.CAMERAS)
        action = ntu.parse_name(source.stem).label + 1
        name = f"S{setup % setups + 1:03d}C{camera + 1:03d}P{performer + 1:03d}R{setup // setups + 1:03d}A{action:03d}"
        link = folder / f"{name}.skeleton"
        link.symlink_to(source.resolve())
        links.append(link)
    return links


def _same(a: ntu.SkeletonSequence, b: ntu.SkeletonSequence) -> bool:
    return (
        a.num_frames == b.num_frames
        and a.bodies.keys() == b.bodies.keys()
        and all(np.array_equal(a.bodies[k].joints, b.bodies[k].joints) for k in a.bodies)
        and all(np.array_equal(a.bodies[k].frames, b.bodies[k].frames) for k in a.bodies)
    )


def skeleton_parsing(count: int = 2000, samples: Path | None = None) -> tuple[list[PrepareTiming], str]:
    with tempfile.TemporaryDirectory() as scratch:
        if samples is None:
            files = sorted(synthetic_corpus(count).glob("*.skeleton"))[:count]
            corpus = f"{len(files)} synthetic real-format files"
        else:
            files = real_corpus(samples, count, Path(scratch) / "real")
            corpus = f"{len(files)} links to the {len({f.resolve() for f in files})} real files in {samples}"
        timings = _parser_timings(files)
        for subset in (files[: len(files) // 2], files):
            folder = Path(scratch) / f"raw-{len(subset)}"
            folder.mkdir()
            for f in subset:
                (folder / f.name).symlink_to(f.resolve())
            subset_megabytes = sum(f.stat().st_size for f in subset) / 1e6
            for workers in (1, 2):
                seconds, peak = cli_prepare(folder, Path(scratch) / f"home-{len(subset)}-{workers}", workers)
                name = f"zsbench prepare (CLI), {workers} worker(s), {len(subset)} files"
                timings.append(PrepareTiming(name, len(subset), subset_megabytes, seconds, peak))
    return timings, f"corpus: {corpus}. " + _projection(timings[-3], timings[-1])


def _parser_timings(files: list[Path]) -> list[PrepareTiming]:
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
    return [
        PrepareTiming("reference parser (line by line, every field)", len(files), megabytes, reference_seconds),
        PrepareTiming("zsbench parse_skeleton", len(files), megabytes, ours_seconds),
    ]


def _projection(half: PrepareTiming, full: PrepareTiming) -> str:
    """A full NTU-120 prepare with 2 workers: the fixed start-up once, then the per-file (per-byte) cost."""
    memory = f"peak memory (2 workers) {half.peak_mib:.0f} MiB at {half.files} files, {full.peak_mib:.0f} MiB at {full.files}"
    extra_seconds = full.seconds - half.seconds
    if extra_seconds <= 0:
        return f"no projection: the run on {full.files} files was not slower than on {half.files} (noise); {memory}"
    per_file = extra_seconds / (full.files - half.files)
    per_megabyte = extra_seconds / (full.megabytes - half.megabytes)
    start_up = max(full.seconds - per_file * full.files, 0.0)
    by_files = start_up + per_file * NTU120_FILES
    by_bytes = max(full.seconds - per_megabyte * full.megabytes, 0.0) + per_megabyte * NTU120_BYTES / 1e6
    return (
        f"projected full NTU-120 prepare on 2 workers ({start_up:.1f} s start-up, then {per_file * 1e3:.2f} ms per "
        f"file): {by_files / 60:.1f} min by file count, {by_bytes / 60:.1f} min by bytes; {memory}"
    )


# A small process starts the CLI and reports on it: Linux counts a forked child's resident memory from its
# parent's at the fork, so measured straight from this (large) process the CLI's peak would include ours.
_LAUNCHER = """
import os, subprocess, sys, time
started = time.perf_counter()
child = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL)
_, status, usage = os.wait4(child.pid, 0)
print(time.perf_counter() - started, usage.ru_maxrss, os.waitstatus_to_exitcode(status))
"""


def cli_prepare(folder: Path, home: Path, workers: int) -> tuple[float, float]:
    """Wall seconds and peak resident MiB (the largest of the CLI and its workers) of one ``zsbench prepare``."""
    command = [sys.executable, "-c", "from zsbench.cli.main import run_app; run_app()", "prepare", "ntu120",
               "--root", str(folder), "--workers", str(workers)]  # fmt: skip
    finished = subprocess.run(
        [sys.executable, "-c", _LAUNCHER, *command],
        env={**os.environ, "ZSBENCH_HOME": str(home)},
        capture_output=True,
        check=False,
    )
    report = finished.stdout.decode(errors="replace").split()
    if finished.returncode != 0 or len(report) != 3 or report[2] != "0":
        errors = finished.stderr.decode(errors="replace").strip()[-500:]
        raise RunFailed(f"zsbench prepare failed in the benchmark: {errors}")
    return float(report[0]), int(report[1]) / 1024  # Linux reports KiB
