"""Class scores and their softmax statistics in one call (the hot op of every test-time refinement step)."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from zsbench.errors import DataError, UsageError

__all__ = ["Backend", "ScoreStats", "backend", "check_score_inputs", "fused_scores", "slot_text"]

Backend = Literal["torch", "triton"]


def backend(device: torch.device | str | None = None) -> Backend:
    """The implementation ``fused_scores`` picks on ``device``: "triton" on CUDA with triton importable, else "torch".

    ``device=None`` means the default CUDA device when there is one, else the CPU.
    """
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if torch.device(device).type == "cuda" and importlib.util.find_spec("triton") is not None:
        return "triton"
    return "torch"


@dataclass(frozen=True)
class ScoreStats:
    """Everything a refinement step reads from one scoring pass, for N samples and C classes."""

    logits: Tensor  # (N, C): mean over slots of features · text[c, s], divided by the temperature
    probs: Tensor  # (N, C): softmax of the logits over classes
    confidence: Tensor  # (N,): the largest probability
    entropy: Tensor  # (N,): -Σ p log p, in nats
    prediction: Tensor  # (N,) int64: argmax of the logits (first index among ties)


def slot_text(text: Tensor) -> Tensor:
    """``text`` as (C, S, D): a (C, D) matrix is one slot per class."""
    if text.ndim == 2:
        return text.unsqueeze(1)
    if text.ndim == 3:
        return text
    raise DataError(f"text must be (C, D) or (C, S, D), got shape {tuple(text.shape)}")


def check_score_inputs(features: Tensor, text: Tensor, temperature: float) -> Tensor:
    """Validate the operands of :func:`fused_scores`; returns the text as (C, S, D)."""
    slots = slot_text(text)
    if features.ndim != 2:
        raise DataError(f"features must be (N, D), got shape {tuple(features.shape)}")
    if features.shape[1] != slots.shape[2]:
        raise DataError(f"features have D={features.shape[1]} but text has D={slots.shape[2]}")
    if slots.shape[0] < 1 or slots.shape[1] < 1:
        raise DataError(f"text needs at least one class and one slot, got shape {tuple(text.shape)}")
    if features.device != slots.device:
        raise DataError(f"features on {features.device} but text on {slots.device}")
    if not temperature > 0:
        raise UsageError(f"temperature must be positive, got {temperature}")
    return slots


def _fused_scores_torch(features: Tensor, slots: Tensor, temperature: float) -> ScoreStats:
    # The mean over slots of the dot products is the dot product with the slot mean: one (N, D) x (D, C) matmul.
    logits = features @ slots.mean(dim=1).T / temperature
    log_probs = torch.log_softmax(logits, dim=1)
    probs = log_probs.exp()
    entropy = -(probs * log_probs).sum(dim=1)
    return ScoreStats(logits, probs, probs.amax(dim=1), entropy, logits.argmax(dim=1))


def fused_scores(
    features: Tensor,
    text: Tensor,
    temperature: float = 1.0,
    *,
    implementation: Literal["auto"] | Backend = "auto",
) -> ScoreStats:
    """Score N samples against C classes and return the softmax statistics.

    ``logits[n, c] = mean_s(features[n] · text[c, s]) / temperature`` with ``text`` (C, S, D), or (C, D) for
    one slot. ``implementation="auto"`` runs the Triton kernel (float32 throughout) on CUDA when triton is
    importable, unless the inputs are float64, and the vectorised torch code otherwise; naming ``"triton"``
    forces the kernel (on the CPU it needs ``TRITON_INTERPRET=1`` set before triton is imported).
    """
    slots = check_score_inputs(features, text, temperature)
    chosen = implementation
    if implementation == "auto":
        wide = torch.float64 in (features.dtype, slots.dtype)
        chosen = "torch" if wide else backend(features.device)
    if chosen == "triton":
        from zsbench.kernels.triton_scoring import fused_scores_triton

        logits, probs, confidence, entropy, prediction = fused_scores_triton(features, slots, temperature)
        return ScoreStats(logits, probs, confidence, entropy, prediction)
    if chosen != "torch":
        raise UsageError(f"unknown implementation {chosen!r}; valid: auto, torch, triton")
    return _fused_scores_torch(features, slots, temperature)
