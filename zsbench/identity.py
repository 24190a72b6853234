"""What makes a number: the code that computed it, the compute settings it ran under, the weights it read.

Run records, the encoder cache and the fit cache are keyed by these, so a change of data, code or
compute settings can never hand back numbers made under other ones.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import torch

from zsbench import __version__, runtime

# Bump whenever a change alters any run's numbers: records and cached fits made before become stale
# (their keys no longer match), and `zsbench run` recomputes them instead of reusing them.
NUMERICS_VERSION = 4


def code_identity() -> dict[str, Any]:
    """The code's part of a key: the package version and the numerics version."""
    return {"zsbench": __version__, "numerics": NUMERICS_VERSION}


def compute_identity(device: str | None = None) -> dict[str, Any]:
    """The compute settings that change float results: device type and CPU thread count.

    Reductions are split across threads, so one config gives slightly different numbers at 1 and 2 threads
    (issue 15 reports ZSL 73.33 vs 74.17 for one DeViSE run id); the two are different runs.
    """
    return {"device": runtime.resolve_device(device).type, "threads": runtime.cpu_threads()}


def weights_hash(state: Mapping[str, torch.Tensor]) -> str:
    """A hash of a state dict's tensors alone (names, dtypes, shapes, values): equal weights, equal hash.

    Hashing the saved file instead would also hash whatever else the file carries (timings, history).
    """
    digest = hashlib.sha256()
    for name in sorted(state):
        tensor = state[name].detach().cpu().contiguous()
        digest.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)}:".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes() if tensor.numel() else b"")
    return digest.hexdigest()[:16]
