"""ST-GCN (Yan et al., 2018) in plain torch, with the widths the ZS-SAR papers use.

``widths`` lists each block's output channels; the default is the SMIE-size network used by SMIE, PGFA
(setting 1) and DVTA's custom track (16-16-16-16-32-32-32-64-64, then a 1x1 projection to ``dim``).
The spatio-temporal map (N, dim, T', V) feeds part-aware methods; ``features`` pools it.
"""

from __future__ import annotations

import torch
from torch import nn

from zsbench.encoders.graph import spatial_partition
from zsbench.encoders.joint_map import JointMapEncoder, residual_path

SMIE_WIDTHS = (16, 16, 16, 16, 32, 32, 32, 64, 64)
STRIDE_AT = (4, 7)  # blocks that halve the time axis


class GraphConv(nn.Module):
    adjacency: torch.Tensor

    def __init__(self, in_channels: int, out_channels: int, adjacency: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("adjacency", adjacency)
        self.subsets = adjacency.shape[0]
        self.conv = nn.Conv2d(in_channels, out_channels * self.subsets, 1)
        self.importance = nn.Parameter(torch.ones_like(adjacency))  # ST-GCN's learnable edge importance

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, _, t, v = x.shape
        y = self.conv(x).view(n, self.subsets, -1, v)  # (N, K, C*T, V)
        mixed = torch.matmul(y, self.adjacency * self.importance).sum(1)  # sum_k y_k A_k: (N, C*T, V)
        return mixed.view(n, -1, t, v)


class StgcnBlock(nn.Module):
    def __init__(
        self, in_channels: int, out_channels: int, adjacency: torch.Tensor, stride: int, dropout: float
    ) -> None:
        super().__init__()
        self.gcn = GraphConv(in_channels, out_channels, adjacency)
        self.tcn = nn.Sequential(
            nn.BatchNorm2d(out_channels), nn.ReLU(),
            nn.Conv2d(out_channels, out_channels, (9, 1), (stride, 1), (4, 0)), nn.BatchNorm2d(out_channels),
            nn.Dropout(dropout),
        )  # fmt: skip
        self.residual = residual_path(in_channels, out_channels, stride)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.tcn(self.gcn(x)) + self.residual(x))


class StGcnEncoder(JointMapEncoder):
    def __init__(
        self,
        num_classes: int,
        dim: int = 256,
        hidden: int = 128,
        widths: tuple[int, ...] = SMIE_WIDTHS,
        dropout: float = 0.5,
    ) -> None:
        super().__init__()
        # The config's width knob: 128 is the reference (SMIE) width; other values scale every block.
        widths = tuple(max(4, w * hidden // 128) for w in widths)
        adjacency = torch.tensor(spatial_partition(), dtype=torch.float32)
        self.data_norm = nn.BatchNorm1d(3 * 25)
        channels = [3, *widths]
        self.blocks = nn.ModuleList(
            StgcnBlock(channels[i], channels[i + 1], adjacency, 2 if i in STRIDE_AT else 1, 0.0 if i == 0 else dropout)
            for i in range(len(widths))
        )
        self.project = nn.Conv2d(widths[-1], dim, 1)
        self.classifier = nn.Linear(dim, num_classes)
        self.dim = dim
