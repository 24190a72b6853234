"""The 25-joint Kinect v2 layout shared by NTU RGB+D and PKU-MMD.

Bone convention: the ST-GCN / CTR-GCN list (0-based parent per joint, SpineShoulder as root).
Arrays are laid out ``(N, C=3, T, V=25, M=2)``: coordinates, frames, joints, bodies.
"""

from __future__ import annotations

NUM_JOINTS = 25
MAX_BODIES = 2

JOINT_NAMES = (
    "SpineBase", "SpineMid", "Neck", "Head",
    "ShoulderLeft", "ElbowLeft", "WristLeft", "HandLeft",
    "ShoulderRight", "ElbowRight", "WristRight", "HandRight",
    "HipLeft", "KneeLeft", "AnkleLeft", "FootLeft",
    "HipRight", "KneeRight", "AnkleRight", "FootRight",
    "SpineShoulder", "HandTipLeft", "ThumbLeft", "HandTipRight", "ThumbRight",
)  # fmt: skip

PARENT = (1, 20, 20, 2, 20, 4, 5, 6, 20, 8, 9, 10, 0, 12, 13, 14, 0, 16, 17, 18, 20, 22, 7, 24, 11)
CENTRE_JOINT = 1  # SpineMid, subtracted when centring a sequence
GRAPH_CENTRE = 20  # SpineShoulder, the ST-GCN spatial-partition centre

BODY_PARTS: dict[str, tuple[int, ...]] = {
    "head": (2, 3, 20),
    "hands": (6, 7, 10, 11, 21, 22, 23, 24),
    "arms": (4, 5, 6, 8, 9, 10),
    "torso": (0, 1, 2, 4, 8, 12, 16, 20),
    "legs": (12, 13, 14, 15, 16, 17, 18, 19),
}


def bones() -> list[tuple[int, int]]:
    """The 24 (child, parent) edges, 0-based, without the root's self loop."""
    return [(child, parent) for child, parent in enumerate(PARENT) if child != parent]
