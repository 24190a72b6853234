"""A small temporal-convolution encoder: all joints of a body per frame, convolved over time.

Not a paper's backbone — the simple, fast default that turns raw skeletons into pooled features
without touching unseen classes. Bodies are encoded separately and averaged over the bodies present.
"""

from __future__ import annotations

import torch
from torch import nn

from zsbench.data.skeleton import CENTRE_JOINT, NUM_JOINTS


def centre(skeletons: torch.Tensor) -> torch.Tensor:
    """Subtract the first body's mean SpineMid position over its non-empty frames, per sequence.

    ``skeletons`` is (N, 3, T, V, M); empty (all-zero) bodies stay zero.
    """
    spine = skeletons[:, :, :, CENTRE_JOINT, 0]  # (N, 3, T)
    present = (skeletons[..., 0].abs().sum(dim=(1, 3)) > 0).to(skeletons.dtype)  # (N, T)
    origin = (spine * present[:, None]).sum(-1) / present.sum(-1).clamp(min=1.0)[:, None]  # (N, 3)
    body_present = (skeletons.abs().sum(dim=(1, 2, 3), keepdim=True) > 0).to(skeletons.dtype)
    return (skeletons - origin[:, :, None, None, None]) * body_present


class TemporalConvEncoder(nn.Module):
    def __init__(self, num_classes: int, dim: int = 256, hidden: int = 128) -> None:
        super().__init__()
        channels = 3 * NUM_JOINTS
        self.input_norm = nn.BatchNorm1d(channels)
        self.body = nn.Sequential(
            nn.Conv1d(channels, hidden, 5, padding=2),
            nn.BatchNorm1d(hidden),
            nn.ReLU(),
            nn.Conv1d(hidden, hidden, 5, stride=2, padding=2),
            nn.BatchNorm1d(hidden),
            nn.ReLU(),
            nn.Conv1d(hidden, dim, 3, stride=2, padding=1),
            nn.BatchNorm1d(dim),
            nn.ReLU(),
        )
        self.classifier = nn.Linear(dim, num_classes)
        self.dim = dim

    def features(self, skeletons: torch.Tensor) -> torch.Tensor:
        """Pooled features (N, dim) from skeletons (N, 3, T, V, M)."""
        x = centre(skeletons)
        n, c, t, v, m = x.shape
        per_body = x.permute(0, 4, 1, 3, 2).reshape(n * m, c * v, t)
        encoded = self.body(self.input_norm(per_body)).mean(-1).reshape(n, m, -1)
        present = (x.abs().sum(dim=(1, 2, 3)) > 0).to(x.dtype)  # (N, M)
        weights = present / present.sum(-1, keepdim=True).clamp(min=1.0)
        return (encoded * weights[..., None]).sum(1)

    def forward(self, skeletons: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(skeletons))
