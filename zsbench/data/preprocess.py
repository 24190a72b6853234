"""Turning variable-length sequences into the store's fixed (3, T, 25, 2) samples."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from zsbench.data.skeleton import CENTRE_JOINT, MAX_BODIES
from zsbench.data.values import check_policy
from zsbench.errors import UsageError

TEMPORAL_MODES = ("resample", "pad")
DTYPES = ("float32", "float16")


@dataclass(frozen=True)
class PrepareOptions:
    """Preprocessing applied while preparing a store; recorded in its manifest."""

    frames: int = 64  # samples are stored at this length
    temporal: str = (
        "resample"  # resample: linear interpolation of all frames to `frames`; pad: first `frames`, zero tail
    )
    centre: bool = False  # subtract actor 1's SpineMid in its first present frame from every joint (CTR-GCN style)
    dtype: str = "float32"  # float32 | float16
    non_finite: str = "error"  # error: a nan/inf coordinate is a DataError | zero: it is set to 0 (recorded)

    def __post_init__(self) -> None:
        if self.temporal not in TEMPORAL_MODES:
            raise UsageError(f"temporal must be one of {', '.join(TEMPORAL_MODES)}, got {self.temporal!r}")
        if self.dtype not in DTYPES:
            raise UsageError(f"dtype must be one of {', '.join(DTYPES)}, got {self.dtype!r}")
        if self.frames < 2:
            raise UsageError(f"frames must be at least 2, got {self.frames}")
        check_policy(self.non_finite)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def centre_of(sequence: np.ndarray) -> np.ndarray:
    """Actor 1's SpineMid (x, y, z) in the first frame where actor 1 is present, as the CTR-GCN scripts centre.

    ``sequence`` is (T, M, 25, 3); zeros when actor 1 is never present.
    """
    present = np.flatnonzero(np.any(sequence[:, 0] != 0, axis=(1, 2)))
    if not len(present):
        return np.zeros(3, dtype=sequence.dtype)
    return np.asarray(sequence[present[0], 0, CENTRE_JOINT])


def to_fixed_length(sequence: np.ndarray, options: PrepareOptions) -> np.ndarray:
    """(T, M<=2, 25, 3) sequence -> (3, frames, 25, 2) sample in the store's dtype."""
    padded = np.zeros((sequence.shape[0], MAX_BODIES, *sequence.shape[2:]), dtype=np.float32)
    padded[:, : sequence.shape[1]] = sequence[:, :MAX_BODIES]
    if options.centre and len(padded):
        padded = padded - centre_of(padded) * (np.abs(padded).sum(axis=(2, 3), keepdims=True) > 0)
    length, target = padded.shape[0], options.frames
    if length == 0:
        fixed = np.zeros((target, *padded.shape[1:]), dtype=np.float32)
    elif options.temporal == "pad":
        fixed = np.zeros((target, *padded.shape[1:]), dtype=np.float32)
        fixed[: min(length, target)] = padded[:target]
    else:
        position = np.linspace(0.0, length - 1, target)
        low = np.floor(position).astype(int)
        high = np.minimum(low + 1, length - 1)
        weight = (position - low)[:, None, None, None]
        fixed = (1.0 - weight) * padded[low] + weight * padded[high]
    return np.ascontiguousarray(fixed.transpose(3, 0, 2, 1)).astype(options.dtype)
