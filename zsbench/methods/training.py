"""Pieces shared by methods that train with in-batch cross-modal objectives."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

EpochMonitor = Callable[[int], None]
"""Called after each training epoch with the 1-based epoch number (used by `paper`-protocol quirks)."""


def same_label_kl_loss(logits: torch.Tensor, labels: torch.Tensor, sharpness: float = 10.0) -> torch.Tensor:
    """Symmetric KL between softmax(logits) and softmax(sharpness * same-label mask), batch-mean, both directions.

    ``logits`` is (B, B): row i scores sample i against the text of sample j's class.
    """
    mask = (labels[:, None] == labels[None, :]).to(logits.dtype)
    target = torch.softmax(sharpness * mask, dim=1)
    kl = nn.KLDivLoss(reduction="batchmean")
    return 0.5 * (kl(torch.log_softmax(logits, 1), target) + kl(torch.log_softmax(logits.T, 1), target.T))


def warmup_cosine(epoch: int, warmup: int, total: int) -> float:
    """LR factor: linear from 0 over ``warmup`` epochs (epoch 0 at 0), then cosine to 0 at ``total``."""
    if epoch < warmup:
        return epoch / warmup
    progress = (epoch - warmup) / max(1, total - warmup)
    return 0.5 * (1.0 + math.cos(math.pi * progress))
