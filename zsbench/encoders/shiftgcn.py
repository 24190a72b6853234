"""Shift-GCN (Cheng et al., 2020) in plain torch: no custom CUDA build.

The spatial shift is the paper's non-local one: channel c of joint v reads joint (v + c) mod V before
a pointwise convolution (with the learnable joint-channel mask) and writes back to joint (v - c) mod V
after it. Simplification, named: the paper's *adaptive* temporal shift (learnable per-channel offsets,
a CUDA kernel) is replaced by a fixed temporal shift of channel groups by -2..+2 frames followed by a
pointwise convolution, strided where the network downsamples time. Widths follow the paper's
10 blocks (64 x4, 128 x3, 256 x3) ending in a 256-d map, scaled by the config's width knob.
"""

from __future__ import annotations

import torch
from torch import nn

from zsbench.data.skeleton import NUM_JOINTS
from zsbench.encoders.joint_map import JointMapEncoder, residual_path

WIDTHS = (64, 64, 64, 64, 128, 128, 128, 256, 256, 256)
STRIDE_AT = (4, 7)
TEMPORAL_OFFSETS = (-2, -1, 0, 1, 2)


def shift_indices(channels: int, joints: int = NUM_JOINTS) -> torch.Tensor:
    """(C, V) source joint of each (channel, joint) for the shift-in: joint (v + c) mod V."""
    return (torch.arange(joints)[None, :] + torch.arange(channels)[:, None]) % joints


def spatial_shift(x: torch.Tensor, inverse: bool = False) -> torch.Tensor:
    """Shift (N, C, T, V) features across joints by the channel index (or back, with ``inverse``)."""
    n, c, t, v = x.shape
    index = shift_indices(c, v).to(x.device)
    if inverse:
        index = (torch.arange(v, device=x.device)[None, :] - torch.arange(c, device=x.device)[:, None]) % v
    return torch.gather(x, 3, index[None, :, None, :].expand(n, c, t, v))


def temporal_shift(x: torch.Tensor) -> torch.Tensor:
    """Shift equal channel groups by the fixed frame offsets (zero-filled at the ends)."""
    groups = torch.chunk(x, len(TEMPORAL_OFFSETS), dim=1)
    shifted = []
    for offset, group in zip(TEMPORAL_OFFSETS, groups, strict=False):
        if offset == 0:
            shifted.append(group)
        elif offset > 0:
            shifted.append(nn.functional.pad(group[:, :, offset:], (0, 0, 0, offset)))
        else:
            shifted.append(nn.functional.pad(group[:, :, :offset], (0, 0, -offset, 0)))
    return torch.cat(shifted, dim=1)


class ShiftBlock(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.spatial = nn.Conv2d(in_channels, out_channels, 1)
        self.mask = nn.Parameter(torch.ones(1, out_channels, 1, NUM_JOINTS))
        self.spatial_norm = nn.BatchNorm2d(out_channels)
        self.temporal = nn.Conv2d(out_channels, out_channels, 1, (stride, 1))
        self.temporal_norm = nn.BatchNorm2d(out_channels)
        self.residual = residual_path(in_channels, out_channels, stride)
        self.relu = nn.ReLU()
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.spatial(spatial_shift(x)) * (torch.tanh(self.mask) + 1.0)  # shift in, pointwise, joint-channel mask
        y = self.relu(self.spatial_norm(spatial_shift(y, inverse=True)))  # shift out
        y = self.temporal_norm(self.temporal(temporal_shift(y)))
        return self.relu(y + self.residual(x))


class ShiftGcnEncoder(JointMapEncoder):
    def __init__(self, num_classes: int, dim: int = 256, hidden: int = 128) -> None:
        super().__init__()
        widths = tuple(max(8, w * hidden // 128) for w in WIDTHS)  # the config's width knob: 128 = the paper's
        self.data_norm = nn.BatchNorm1d(3 * NUM_JOINTS)
        channels = [3, *widths]
        self.blocks = nn.ModuleList(
            ShiftBlock(channels[i], channels[i + 1], 2 if i in STRIDE_AT else 1) for i in range(len(widths))
        )
        self.project = nn.Conv2d(widths[-1], dim, 1) if widths[-1] != dim else nn.Identity()
        self.classifier = nn.Linear(dim, num_classes)
        self.dim = dim
