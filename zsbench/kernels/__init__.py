"""Batched test-time refinement kernels: scoring, the memory bank, PGFA prototypes, DynaPURLS text refinement.

Each op has a plain reference in :mod:`zsbench.kernels.reference` (the test oracle) and a vectorised torch
implementation; :func:`fused_scores` also has a Triton kernel, used on CUDA when triton is importable.
"""

from zsbench.kernels.memory_bank import MemoryBank
from zsbench.kernels.prototypes import prototypes
from zsbench.kernels.refine import (
    FUNCTION_DEFAULTS,
    RELEASED,
    Mode,
    RefineConfig,
    RefineLog,
    RefineResult,
    Semantics,
    refine_text,
    stream_order,
)
from zsbench.kernels.scoring import Backend, ScoreStats, backend, fused_scores

__all__ = [
    "FUNCTION_DEFAULTS",
    "RELEASED",
    "Backend",
    "MemoryBank",
    "Mode",
    "RefineConfig",
    "RefineLog",
    "RefineResult",
    "ScoreStats",
    "Semantics",
    "backend",
    "fused_scores",
    "prototypes",
    "refine_text",
    "stream_order",
]
