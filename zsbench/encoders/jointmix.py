"""A fast per-joint map encoder for the CPU: a whole-body temporal trunk plus a per-joint trajectory branch.

Not a paper's backbone. Two branches over each actor's clip, both downsampling time by 4 (a 64-frame clip
gives the 16 x 25 map Neuron's released code reads):

- the whole-body trunk: exactly the layers of the fast ``tcn`` (all 75 coordinates of a frame as channels,
  three temporal convolutions), giving a (dim, T/4) sequence that every joint's token shares;
- the joint branch: each joint's own trajectory through two temporal convolutions shared across joints, with
  a learned per-joint embedding and a learned 25 x 25 joint-mixing matrix (initialised to one graph hop)
  between them, giving a (J, T/4, 25) map.

The token of joint v at step t is ``trunk_t + W joint_{t,v}``, with W (dim x J) initialised to zero, so
training starts from the tcn and learns how much each joint adds. Because the token is linear in the two
branches, pooled features are computed from the pooled branches (exactly the pooled map) without building
the map, which keeps training as cheap as the tcn plus the joint branch.
"""

from __future__ import annotations

import torch
from torch import nn

from zsbench.data.skeleton import NUM_JOINTS
from zsbench.encoders.graph import spatial_partition
from zsbench.encoders.tcn import centre

JOINT_WIDTHS = (32, 64)  # joint-branch channels at hidden=128; other values scale them (as the trunk's)


def _temporal(in_channels: int, out_channels: int, kernel: int, stride: int) -> list[nn.Module]:
    return [nn.Conv1d(in_channels, out_channels, kernel, stride, kernel // 2), nn.BatchNorm1d(out_channels), nn.ReLU()]


class JointMixEncoder(nn.Module):
    def __init__(self, num_classes: int, dim: int = 256, hidden: int = 128) -> None:
        super().__init__()
        channels = 3 * NUM_JOINTS
        first, second = (max(8, w * hidden // 128) for w in JOINT_WIDTHS)
        self.input_norm = nn.BatchNorm1d(channels)
        self.trunk = nn.Sequential(
            *_temporal(channels, hidden, 5, 1), *_temporal(hidden, hidden, 5, 2), *_temporal(hidden, dim, 3, 2)
        )
        self.joint_in = nn.Sequential(nn.Conv2d(3, first, (5, 1), (2, 1), (2, 0)), nn.BatchNorm2d(first), nn.ReLU())
        self.joint_embedding = nn.Parameter(torch.zeros(1, first, 1, NUM_JOINTS))
        adjacency = torch.tensor(spatial_partition(), dtype=torch.float32).sum(0)
        self.mixing = nn.Parameter(adjacency / adjacency.sum(0, keepdim=True))  # out joint w = sum_v x_v m[v, w]
        self.joint_out = nn.Sequential(
            nn.Conv2d(first, second, (5, 1), (2, 1), (2, 0)), nn.BatchNorm2d(second), nn.ReLU()
        )
        self.joint_weight = nn.Parameter(torch.zeros(dim, second))  # W: starts as the plain tcn
        self.classifier = nn.Linear(dim, num_classes)
        self.dim = dim

    def _branches(self, skeletons: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Trunk (N·M, dim, T') and joint map (N·M, J, T', V), per body (absent bodies included, as the tcn)."""
        x = centre(skeletons)
        n, c, t, v, m = x.shape
        bodies = self.input_norm(x.permute(0, 4, 1, 3, 2).reshape(n * m, c * v, t))  # channels c-major, as tcn
        trunk = self.trunk(bodies)
        joints = self.joint_in(bodies.view(n * m, c, v, t).transpose(2, 3)) + self.joint_embedding
        joints = self.joint_out(torch.matmul(joints, self.mixing))
        return trunk, joints  # both ceil(ceil(T/2)/2) steps: the same strides and paddings

    def _over_bodies(self, skeletons: torch.Tensor, per_body: torch.Tensor) -> torch.Tensor:
        """(N·M, ...) -> (N, ...): the mean over the bodies present."""
        present = (skeletons.abs().sum(dim=(1, 2, 3)) > 0).to(per_body.dtype)  # (N, M)
        weights = present / present.sum(-1, keepdim=True).clamp(min=1.0)
        shaped = per_body.view(*present.shape, *per_body.shape[1:])
        return (shaped * weights.view(*present.shape, *([1] * (per_body.ndim - 1)))).sum(1)

    def feature_map(self, skeletons: torch.Tensor) -> torch.Tensor:
        """(N, M, dim, T', V) per-body maps."""
        trunk, joints = self._branches(skeletons)
        tokens = trunk[..., None] + torch.einsum("dj,bjtv->bdtv", self.joint_weight, joints)
        return tokens.view(skeletons.shape[0], skeletons.shape[-1], *tokens.shape[1:])

    def token_map(self, skeletons: torch.Tensor, segments: int) -> torch.Tensor:
        """(N, dim, segments, V): the map averaged over the bodies present and over equal time segments.

        Equal (to float rounding) to pooling :meth:`feature_map`, but the body mean and the time pooling are
        taken on the two branches before they are combined (both are linear), so the per-body map is never
        built: half the work and memory for two-body clips, and less again for fewer segments than steps.
        """
        trunk, joints = self._branches(skeletons)
        trunk = nn.functional.adaptive_avg_pool1d(self._over_bodies(skeletons, trunk), segments)
        joints = nn.functional.adaptive_avg_pool2d(self._over_bodies(skeletons, joints), (segments, NUM_JOINTS))
        return trunk[..., None] + torch.einsum("dj,bjtv->bdtv", self.joint_weight, joints)

    def features(self, skeletons: torch.Tensor) -> torch.Tensor:
        """Pooled features (N, dim): the map averaged over time, joints and the bodies present."""
        trunk, joints = self._branches(skeletons)
        pooled = trunk.mean(-1) + joints.mean(dim=(2, 3)) @ self.joint_weight.T
        return self._over_bodies(skeletons, pooled)

    def forward(self, skeletons: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(skeletons))
