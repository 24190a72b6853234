"""Value checks shared by the readers: finite coordinates and labels within a dataset's classes.

Structure (field counts, shapes) is each reader's business; these check what the values are. A non-finite
coordinate is an error unless ``--non-finite zero`` is given, which sets it to 0 (an absent joint) and is
recorded in the store's manifest.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

import numpy as np

from zsbench.errors import DataError, UsageError

NON_FINITE_POLICIES = ("error", "zero")
log = logging.getLogger(__name__)


def check_policy(policy: str) -> str:
    if policy not in NON_FINITE_POLICIES:
        raise UsageError(f"--non-finite must be one of {', '.join(NON_FINITE_POLICIES)}, got {policy!r}")
    return policy


def finite(values: np.ndarray, policy: str, where: Callable[[tuple[int, ...]], str], source: str) -> int:
    """Check ``values`` (modified in place under policy ``zero``); return how many values were replaced.

    ``where`` turns the index of the first bad value into the location named in the error ("FILE: line 3:
    field 2 (y)"); ``source`` names the file in the warning logged when values are replaced.
    """
    bad = ~np.isfinite(values)
    if not bad.any():
        return 0
    if check_policy(policy) == "error":
        position = tuple(int(i) for i in np.argwhere(bad)[0])
        raise DataError(
            f"{where(position)} is {values[position]!r}, expected a finite number "
            "(--non-finite zero sets non-finite coordinates to 0 and records that in the manifest)"
        )
    count = int(bad.sum())
    values[bad] = 0
    log.warning("%s: %d non-finite values set to 0 (--non-finite zero)", source, count)
    return count


def class_labels(labels: np.ndarray, num_classes: int, family: str, where: Callable[[int], str]) -> np.ndarray:
    """``labels`` as int64 after checking each is an integer class index in ``0..num_classes-1``."""
    values = np.asarray(labels)
    if values.dtype.kind not in "iu":
        position = next(
            (i for i, v in enumerate(values.reshape(-1).tolist()) if not isinstance(v, int) or isinstance(v, bool)),
            0,
        )
        value = values.reshape(-1)[position] if values.size else None
        raise DataError(f"{where(position)}: label is {value!r} ({values.dtype}), expected an integer class index")
    values = values.astype(np.int64).reshape(-1)
    outside = np.flatnonzero((values < 0) | (values >= num_classes))
    if len(outside):
        position = int(outside[0])
        raise DataError(
            f"{where(position)}: label is {values[position]}, expected 0..{num_classes - 1} "
            f"(0-based; {family} has {num_classes} classes)"
        )
    return values


def integer_labels(raw: Iterable[object], where: Callable[[int], str]) -> np.ndarray:
    """Labels from a Python sequence (a pickle), refusing floats and other non-integers instead of truncating."""
    out = []
    for position, value in enumerate(raw):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise DataError(
                f"{where(position)}: label is {value!r} ({type(value).__name__}), expected an integer class index"
            )
        out.append(int(value))
    return np.asarray(out, dtype=np.int64)
