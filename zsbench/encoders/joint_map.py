"""The shared shape of the graph encoders: per-body, per-joint maps pooled into one feature per sample."""

from __future__ import annotations

import torch
from torch import nn

from zsbench.encoders.tcn import centre


def residual_path(in_channels: int, out_channels: int, stride: int) -> nn.Module:
    """Identity when shapes match, else a strided 1x1 convolution with BatchNorm."""
    if in_channels == out_channels and stride == 1:
        return nn.Identity()
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, (stride, 1)), nn.BatchNorm2d(out_channels))


class JointMapEncoder(nn.Module):
    """Subclasses build ``data_norm`` (BatchNorm1d over V·C), ``blocks`` (on (N·M, C, T, V)), ``project`` and
    ``classifier``; this class runs them and pools the map over time, joints and the bodies present."""

    data_norm: nn.Module
    blocks: nn.ModuleList
    project: nn.Module
    classifier: nn.Module

    def feature_map(self, skeletons: torch.Tensor) -> torch.Tensor:
        """(N, M, dim, T', V) per-body maps from skeletons (N, 3, T, V, M)."""
        x = centre(skeletons)
        n, c, t, v, m = x.shape
        x = self.data_norm(x.permute(0, 4, 3, 1, 2).reshape(n * m, v * c, t))
        x = x.view(n * m, v, c, t).permute(0, 2, 3, 1)
        for block in self.blocks:
            x = block(x)
        out = self.project(x)
        return out.view(n, m, *out.shape[1:])

    def features(self, skeletons: torch.Tensor) -> torch.Tensor:
        maps = self.feature_map(skeletons)
        present = (skeletons.abs().sum(dim=(1, 2, 3)) > 0).to(maps.dtype)  # (N, M)
        weights = present / present.sum(-1, keepdim=True).clamp(min=1.0)
        return (maps.mean(dim=(3, 4)) * weights[..., None]).sum(1)

    def forward(self, skeletons: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(skeletons))
