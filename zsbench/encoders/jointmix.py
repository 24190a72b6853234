"""A fast per-joint map encoder for the CPU: joint mixing by a learned matrix, depthwise temporal convolutions.

Not a paper's backbone. It keeps the joint axis (so it yields the per-joint token map DynaPURLS and Neuron
read) at a fraction of ST-GCN's cost: each block mixes joints with one learned V x V matrix (initialised
to the column-normalised skeleton adjacency with self-loops, so it starts as one graph hop and can learn
any long-range coupling), mixes channels with a 1x1 convolution, and convolves time depthwise (one 5-tap
filter per channel). Weights are shared across joints, so a learned per-joint embedding is added after the
stem to tell joints apart. The stem halves the frame rate, the second block halves it again: a 64-frame
clip gives a (dim, 16, 25) map, the shape Neuron's released code reads. Absent actors (all-zero bodies)
are not encoded, and pooled features are taken before the final (linear) 1x1 projection.
"""

from __future__ import annotations

import torch
from torch import nn

from zsbench.data.skeleton import NUM_JOINTS
from zsbench.encoders.graph import spatial_partition
from zsbench.encoders.joint_map import JointMapEncoder, residual_path
from zsbench.encoders.tcn import centre

WIDTHS = (32, 64, 96)  # block output channels at hidden=128; other values scale them
STRIDES = (1, 2, 1)
STEM_STRIDE = 2
TEMPORAL_KERNEL = 5


class JointMixBlock(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, stride: int, adjacency: torch.Tensor) -> None:
        super().__init__()
        self.mixing = nn.Parameter(adjacency.clone())  # (V, V): out joint w = sum_v x_v · mixing[v, w]
        self.channels = nn.Conv2d(in_channels, out_channels, 1)
        self.norm = nn.BatchNorm2d(out_channels)
        self.temporal = nn.Conv2d(
            out_channels, out_channels, (TEMPORAL_KERNEL, 1), (stride, 1), (TEMPORAL_KERNEL // 2, 0),
            groups=out_channels,
        )  # fmt: skip
        self.temporal_norm = nn.BatchNorm2d(out_channels)
        self.residual = residual_path(in_channels, out_channels, stride)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, T, V)
        y = self.relu(self.norm(self.channels(torch.matmul(x, self.mixing))))
        return self.relu(self.temporal_norm(self.temporal(y)) + self.residual(x))


class JointMixEncoder(JointMapEncoder):
    def __init__(self, num_classes: int, dim: int = 256, hidden: int = 128) -> None:
        super().__init__()
        widths = tuple(max(8, w * hidden // 128) for w in WIDTHS)
        adjacency = torch.tensor(spatial_partition(), dtype=torch.float32).sum(0)
        adjacency = adjacency / adjacency.sum(0, keepdim=True)  # column-normalised: one averaging hop
        self.data_norm = nn.BatchNorm1d(3 * NUM_JOINTS)
        stem = nn.Sequential(
            nn.Conv2d(3, widths[0], (2 * STEM_STRIDE, 1), (STEM_STRIDE, 1), (STEM_STRIDE // 2, 0)),
            nn.BatchNorm2d(widths[0]),
            nn.ReLU(),
        )
        self.joint_embedding = nn.Parameter(torch.zeros(1, widths[0], 1, NUM_JOINTS))
        channels = [widths[0], *widths]
        self.blocks = nn.ModuleList(
            [stem, *(JointMixBlock(channels[i], channels[i + 1], STRIDES[i], adjacency) for i in range(len(widths)))]
        )
        self.project = nn.Conv2d(widths[-1], dim, 1)
        self.classifier = nn.Linear(dim, num_classes)
        self.dim = dim

    def _present_bodies(self, skeletons: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The blocks' output (P, C, T', V) for the P bodies present (absent bodies are all zeros), and
        their presence mask (N, M)."""
        x = centre(skeletons)
        _, c, t, v, _ = x.shape
        present = skeletons.abs().sum(dim=(1, 2, 3)) > 0  # (N, M)
        bodies = x.permute(0, 4, 3, 1, 2)[present]  # (P, V, C, T)
        y = self.data_norm(bodies.reshape(-1, v * c, t)).view(-1, v, c, t).permute(0, 2, 3, 1)
        for position, block in enumerate(self.blocks):
            y = block(y)
            if position == 0:
                y = y + self.joint_embedding
        return y, present

    def feature_map(self, skeletons: torch.Tensor) -> torch.Tensor:
        """(N, M, dim, T', V); absent bodies are not encoded (their map is zero)."""
        y, present = self._present_bodies(skeletons)
        projected = self.project(y)
        maps = projected.new_zeros(*present.shape, *projected.shape[1:])
        maps[present] = projected
        return maps

    def features(self, skeletons: torch.Tensor) -> torch.Tensor:
        # The 1x1 projection is linear, so pooling before it gives the pooled map exactly, at a fraction of
        # the cost (the map at full width is what dominates a training step otherwise).
        y, present = self._present_bodies(skeletons)
        pooled = self.project(y.mean(dim=(2, 3), keepdim=True)).flatten(1)  # (P, dim)
        per_body = pooled.new_zeros(*present.shape, pooled.shape[1])
        per_body[present] = pooled
        weights = present.to(pooled.dtype) / present.sum(-1, keepdim=True).clamp(min=1).to(pooled.dtype)
        return (per_body * weights[..., None]).sum(1)
