"""PGFA's visual prototypes: per class, the mean feature of its most certain test samples."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from zsbench.errors import DataError, UsageError
from zsbench.kernels.sort_keys import float_key

__all__ = ["prototypes"]


def prototypes(features: Tensor, entropy: Tensor, pseudo_labels: Tensor, text: Tensor, rho: float) -> Tensor:
    """(C, D) prototypes from the first-pass predictions, as the released PGFA code builds them.

    For class c with n_c samples predicted c, the mean of the features (as given, not re-normalised) of its
    k_c = floor(rho·n_c) lowest-entropy samples, ties broken by sample index ascending; ``text[c]`` when
    k_c < 1 (with rho = 0.4 that is every class predicted at most twice).
    """
    num_classes = _check(features, entropy, pseudo_labels, text, rho)
    labels = pseudo_labels.to(torch.int64)
    order = _class_entropy_order(labels, entropy)
    sorted_labels = labels[order]
    per_class = torch.bincount(labels, minlength=num_classes)
    class_start = torch.cumsum(per_class, 0) - per_class
    rank = torch.arange(order.numel(), device=labels.device) - class_start[sorted_labels]
    # floor in float64, so that k matches Python's math.floor(rho * n) bit for bit.
    take = torch.floor(per_class.to(torch.float64) * rho).to(torch.int64)
    chosen = order[rank < take[sorted_labels]]  # grouped by class, in class order
    # One bag per class; embedding_bag sums the rows in place instead of gathering them first.
    sums = F.embedding_bag(chosen, features, torch.cumsum(take, 0) - take, mode="sum")
    means = sums / take.clamp(min=1).unsqueeze(1).to(features.dtype)
    return torch.where((take >= 1).unsqueeze(1), means, text.to(features.dtype))


def _class_entropy_order(labels: Tensor, entropy: Tensor) -> Tensor:
    """Sample indices sorted by (class, entropy, index)."""
    if entropy.dtype == torch.float64:
        # Two stable sorts, least significant key first.
        order = torch.sort(float_key(entropy), stable=True).indices
        return order[torch.sort(labels[order], stable=True).indices]
    # float32 and narrower: one stable sort of the composite int64 key (class << 32 | entropy bits).
    return torch.sort((labels << 32) | float_key(entropy), stable=True).indices


def _check(features: Tensor, entropy: Tensor, pseudo_labels: Tensor, text: Tensor, rho: float) -> int:
    if features.ndim != 2 or text.ndim != 2 or features.shape[1] != text.shape[1]:
        raise DataError(
            f"features must be (N, D) and text (C, D) with one D, got {tuple(features.shape)}, {tuple(text.shape)}"
        )
    if entropy.shape != (features.shape[0],) or pseudo_labels.shape != (features.shape[0],):
        raise DataError(
            f"entropy and pseudo_labels must be (N,) = ({features.shape[0]},), "
            f"got {tuple(entropy.shape)}, {tuple(pseudo_labels.shape)}"
        )
    num_classes = text.shape[0]
    if pseudo_labels.numel() and (int(pseudo_labels.min()) < 0 or int(pseudo_labels.max()) >= num_classes):
        raise DataError(f"pseudo-labels must lie in [0, {num_classes})")
    if not 0 <= rho <= 1:
        raise UsageError(f"rho must lie in [0, 1], got {rho}")
    return num_classes
