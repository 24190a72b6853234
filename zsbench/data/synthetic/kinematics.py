"""Forward kinematics of a 25-joint Kinect body from a few joint angles, vectorised over (batch, time).

Body frame: x is the person's left, y is up, z is the person's forward. A pose is a dict of
named channels (arrays of shape (B, T)); a missing channel is 0, which is standing upright with
the arms hanging. Angles are in radians, distances in metres.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from zsbench.data.skeleton import NUM_JOINTS

SIDES = ("L", "R")
SIDED_CHANNELS = ("sh_flex", "sh_abd", "elbow", "shrug", "hip_flex", "hip_abd", "knee")
CHANNELS = (
    "walk", "stagger_x", "yaw", "jump", "tilt",
    "spine_pitch", "spine_roll", "spine_twist", "neck_pitch", "neck_yaw",
    *(f"{name}_{side}" for name in SIDED_CHANNELS for side in SIDES),
)  # fmt: skip

# Rest pose (metres), person facing +z; x = person's left.
REST_POSE = np.array(
    [
        [0.00, 0.00, 0.00],
        [0.00, 0.28, 0.00],
        [0.00, 0.58, 0.00],
        [0.00, 0.74, 0.02],  # spine, head
        [0.18, 0.50, 0.00],
        [0.20, 0.22, 0.00],
        [0.21, -0.03, 0.00],
        [0.21, -0.10, 0.00],  # left arm
        [-0.18, 0.50, 0.00],
        [-0.20, 0.22, 0.00],
        [-0.21, -0.03, 0.00],
        [-0.21, -0.10, 0.00],  # right arm
        [0.09, -0.03, 0.00],
        [0.09, -0.46, 0.01],
        [0.09, -0.86, 0.00],
        [0.09, -0.92, 0.10],  # left leg
        [-0.09, -0.03, 0.00],
        [-0.09, -0.46, 0.01],
        [-0.09, -0.86, 0.00],
        [-0.09, -0.92, 0.10],  # right leg
        [0.00, 0.51, 0.00],  # spine shoulder
        [0.21, -0.17, 0.01],
        [0.18, -0.12, 0.03],
        [-0.21, -0.17, 0.01],
        [-0.18, -0.12, 0.03],  # tips, thumbs
    ]
)
ARM = {"L": (4, 5, (6, 7, 21, 22)), "R": (8, 9, (10, 11, 23, 24))}  # shoulder, elbow, forearm+hand joints
LEG = {"L": (12, 13, (14, 15)), "R": (16, 17, (18, 19))}  # hip, knee, shank+foot joints
UPPER_BODY = (1, 2, 3, 20, 4, 5, 6, 7, 21, 22, 8, 9, 10, 11, 23, 24)
FLOOR_CLEARANCE = 0.0


def rot_x(angle: np.ndarray) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    one, zero = np.ones_like(angle), np.zeros_like(angle)
    return np.stack([np.stack([one, zero, zero], -1), np.stack([zero, c, -s], -1), np.stack([zero, s, c], -1)], -2)


def rot_y(angle: np.ndarray) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    one, zero = np.ones_like(angle), np.zeros_like(angle)
    return np.stack([np.stack([c, zero, s], -1), np.stack([zero, one, zero], -1), np.stack([-s, zero, c], -1)], -2)


def rot_z(angle: np.ndarray) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    one, zero = np.ones_like(angle), np.zeros_like(angle)
    return np.stack([np.stack([c, -s, zero], -1), np.stack([s, c, zero], -1), np.stack([zero, zero, one], -1)], -2)


def _apply(rotation: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """rotation (B, T, 3, 3) applied to vectors (B, T, ..., 3)."""
    extra = vectors.ndim - 3
    rotation = rotation.reshape(rotation.shape[:2] + (1,) * extra + (3, 3))
    return np.einsum("...ij,...j->...i", rotation, vectors)


def forward_kinematics(pose: Mapping[str, np.ndarray], rest: np.ndarray) -> np.ndarray:
    """Joint positions (B, T, 25, 3) in the body frame, feet (or the lowest joint) on the floor y=0.

    ``rest`` is a per-body rest pose (B, 25, 3), the subject's bone lengths.
    """
    some = next(iter(pose.values()))
    batch, frames = some.shape

    def channel(name: str) -> np.ndarray:
        return pose.get(name, np.zeros((batch, frames)))

    joints = np.broadcast_to(rest[:, None], (batch, frames, NUM_JOINTS, 3)).copy()

    for side in SIDES:
        sign = 1.0 if side == "L" else -1.0
        shoulder, elbow, hand = ARM[side]
        joints[:, :, [shoulder, elbow, *hand], 1] += channel(f"shrug_{side}")[..., None]
        upper = rot_z(sign * channel(f"sh_abd_{side}")) @ rot_x(-channel(f"sh_flex_{side}"))
        fore = upper @ rot_x(-channel(f"elbow_{side}"))
        shoulder_pos = joints[:, :, shoulder]
        elbow_pos = shoulder_pos + _apply(upper, rest[:, None, elbow] - rest[:, None, shoulder])
        hand_rel = rest[:, None, list(hand)] - rest[:, None, elbow][:, :, None]
        joints[:, :, elbow] = elbow_pos
        joints[:, :, list(hand)] = elbow_pos[:, :, None] + _apply(
            fore, np.broadcast_to(hand_rel, (batch, frames, 4, 3))
        )

        hip, knee, foot = LEG[side]
        thigh = rot_z(sign * channel(f"hip_abd_{side}")) @ rot_x(-channel(f"hip_flex_{side}"))
        shank = thigh @ rot_x(channel(f"knee_{side}"))
        hip_pos = joints[:, :, hip]
        knee_pos = hip_pos + _apply(thigh, rest[:, None, knee] - rest[:, None, hip])
        foot_rel = rest[:, None, list(foot)] - rest[:, None, knee][:, :, None]
        joints[:, :, knee] = knee_pos
        joints[:, :, list(foot)] = knee_pos[:, :, None] + _apply(
            shank, np.broadcast_to(foot_rel, (batch, frames, 2, 3))
        )

    head = 3
    neck = joints[:, :, 2]
    neck_rotation = rot_y(channel("neck_yaw")) @ rot_x(channel("neck_pitch"))
    joints[:, :, head] = neck + _apply(neck_rotation, joints[:, :, head] - neck)

    spine = rot_y(channel("spine_twist")) @ rot_x(channel("spine_pitch")) @ rot_z(channel("spine_roll"))
    upper = list(UPPER_BODY)
    joints[:, :, upper] = _apply(spine, joints[:, :, upper])

    joints = _apply(rot_x(channel("tilt")), joints)
    lowest = joints[..., 1].min(axis=2)
    joints[..., 1] += (FLOOR_CLEARANCE - lowest)[..., None] + channel("jump")[..., None]

    heading = rot_y(channel("yaw"))
    joints = _apply(heading, joints)
    forward = np.stack([np.sin(channel("yaw")), np.zeros_like(some), np.cos(channel("yaw"))], -1)
    lateral = np.stack([np.cos(channel("yaw")), np.zeros_like(some), -np.sin(channel("yaw"))], -1)
    shift = forward * channel("walk")[..., None] + lateral * channel("stagger_x")[..., None]
    return joints + shift[:, :, None, :]
