"""Write synthetic samples as real-format NTU ``.skeleton`` text files (exercises and benchmarks the raw path)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from zsbench.data.readers.ntu import write_skeleton
from zsbench.data.synthetic.generator import SynthConfig, synth_samples
from zsbench.seeding import numpy_rng

KINECT_ID_BASE = 72057594037927936  # 2**56: real Kinect body ids are this large, beyond float64's exact integers
NOISE_BODY_PER_FRAME = 0.003


def write_synthetic_skeletons(
    config: SynthConfig,
    folder: Path,
    limit: int | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> int:
    """Write up to ``limit`` samples as ``SsssCcccPpppRrrrAaaa.skeleton`` files; returns how many were written.

    Each body gets a large random Kinect-style id, files alternate LF and CRLF line endings, and now and
    then a short-lived noisy extra body appears, as in the real recordings.
    """
    skeletons, rows = synth_samples(config)
    folder.mkdir(parents=True, exist_ok=True)
    rng = numpy_rng(config.seed, "skeleton-files")
    count = len(rows) if limit is None else min(limit, len(rows))
    for position in range(count):
        bodies = skeletons[position].transpose(1, 3, 2, 0)  # (T, M, 25, 3)
        present = np.abs(bodies).sum(axis=(0, 2, 3)) > 0
        ids = [KINECT_ID_BASE + int(rng.integers(0, 2**40)) for _ in range(int(present.sum()))]
        write_skeleton(
            folder / f"{rows[position]['sample']}.skeleton",
            np.ascontiguousarray(bodies[:, present]),
            ids,
            line_ending="\r\n" if position % 2 else "\n",
            rng=rng,
            noise_body_probability=NOISE_BODY_PER_FRAME,
        )
        if progress is not None and (position % 50 == 0 or position + 1 == count):
            progress("writing .skeleton files", position + 1, count)
    return count
