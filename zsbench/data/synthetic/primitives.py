"""The shared vocabulary of body-part motion primitives that class scripts are written in.

Each primitive adds offsets to kinematic channels (see :mod:`kinematics`) inside a time window:
``hold`` rises to a pose, holds it and returns; ``osc`` holds a base pose while some channels
oscillate; ``transition`` moves from a start pose to an end pose and stays there. Channel names
ending in ``_S`` refer to the side the script chooses (``R``, ``L`` or ``both``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

PI = float(np.pi)
Wave = tuple[float, Literal["sin", "pulse"], float]  # amplitude, shape, phase (radians)


@dataclass(frozen=True)
class Primitive:
    kind: Literal["hold", "osc", "transition"]
    sided: bool
    pose: dict[str, float] = field(default_factory=dict)
    start: dict[str, float] = field(default_factory=dict)
    waves: dict[str, Wave] = field(default_factory=dict)
    rate: float = 1.0


def _both(**channels: float) -> dict[str, float]:
    """Expand ``name=value`` into ``name_L`` and ``name_R``."""
    return {f"{name}_{side}": value for name, value in channels.items() for side in ("L", "R")}


_SIT = {**_both(hip_flex=1.5, knee=1.5), "spine_pitch": 0.15}
_WALK_WAVES: dict[str, Wave] = {
    "hip_flex_L": (0.45, "sin", 0.0), "hip_flex_R": (0.45, "sin", PI),
    "knee_L": (0.5, "pulse", 0.0), "knee_R": (0.5, "pulse", PI),
    "sh_flex_L": (0.3, "sin", PI), "sh_flex_R": (0.3, "sin", 0.0),
}  # fmt: skip

PRIMITIVES: dict[str, Primitive] = {
    "hand_to_mouth": Primitive("hold", True, {"sh_flex_S": 0.9, "sh_abd_S": -0.25, "elbow_S": 2.3}),
    "hand_to_head": Primitive("hold", True, {"sh_flex_S": 1.2, "sh_abd_S": 0.9, "elbow_S": 2.0}),
    "hand_to_face": Primitive("hold", True, {"sh_flex_S": 1.0, "sh_abd_S": -0.15, "elbow_S": 2.2, "neck_pitch": 0.1}),
    "hand_to_ear": Primitive("hold", True, {"sh_flex_S": 0.4, "sh_abd_S": 0.6, "elbow_S": 2.5}),
    "hand_to_neck": Primitive("hold", True, {"sh_flex_S": 0.7, "sh_abd_S": -0.1, "elbow_S": 2.1}),
    "hand_to_chest": Primitive("hold", True, {"sh_flex_S": 0.5, "sh_abd_S": -0.35, "elbow_S": 1.7}),
    "hand_to_back": Primitive("hold", True, {"sh_flex_S": -0.6, "sh_abd_S": 0.2, "elbow_S": 1.6}),
    "hand_to_pocket": Primitive("hold", True, {"sh_flex_S": 0.05, "sh_abd_S": 0.15, "elbow_S": 0.4}),
    "raise_arm": Primitive("hold", True, {"sh_flex_S": 2.9, "elbow_S": 0.1}),
    "reach_forward": Primitive("hold", True, {"sh_flex_S": 1.5, "elbow_S": 0.15}),
    "reach_down": Primitive("hold", True, {"sh_flex_S": 0.9, "elbow_S": 0.1}),
    "hands_front_low": Primitive("hold", True, {"sh_flex_S": 0.35, "sh_abd_S": -0.1, "elbow_S": 1.5}),
    "wave": Primitive(
        "osc",
        True,
        {"sh_abd_S": 1.9, "sh_flex_S": 0.4, "elbow_S": 1.3},
        waves={"elbow_S": (0.5, "sin", 0.0), "sh_abd_S": (0.15, "sin", 0.0)},
        rate=4,
    ),
    "fine_hand_motion": Primitive(
        "osc", True, waves={"elbow_S": (0.12, "sin", 0.0), "sh_abd_S": (0.06, "sin", PI / 2)}, rate=8
    ),
    "point": Primitive("hold", True, {"sh_flex_S": 1.75, "elbow_S": 0.0}),
    "clap": Primitive(
        "osc",
        False,
        _both(sh_flex=1.1, elbow=1.3, sh_abd=-0.3),
        waves={"sh_abd_L": (0.3, "pulse", 0.0), "sh_abd_R": (0.3, "pulse", 0.0)},
        rate=5,
    ),
    "hands_together": Primitive("hold", False, _both(sh_flex=1.0, elbow=1.4, sh_abd=-0.4)),
    "cross_arms": Primitive("hold", False, _both(sh_flex=0.6, sh_abd=-0.8, elbow=1.9)),
    "swing_arm": Primitive("osc", True, waves={"sh_flex_S": (0.9, "sin", 0.0)}, rate=3),
    "arm_circle": Primitive(
        "osc", True, {"sh_abd_S": 1.4}, waves={"sh_flex_S": (1.2, "sin", 0.0), "sh_abd_S": (0.6, "sin", PI / 2)}, rate=3
    ),
    "punch": Primitive(
        "osc", True, {"sh_flex_S": 1.4, "elbow_S": 1.2}, waves={"elbow_S": (-1.1, "pulse", 0.0)}, rate=2
    ),
    "throw": Primitive(
        "osc",
        True,
        {"sh_flex_S": 1.8, "elbow_S": 0.8},
        waves={"sh_flex_S": (-1.0, "sin", 0.0), "elbow_S": (0.7, "sin", 0.0)},
        rate=1,
    ),
    "shake_fist": Primitive(
        "osc", True, {"sh_flex_S": 1.2, "elbow_S": 1.6}, waves={"elbow_S": (0.3, "sin", 0.0)}, rate=4
    ),
    "salute": Primitive("hold", True, {"sh_flex_S": 1.2, "sh_abd_S": 1.2, "elbow_S": 2.4}),
    "dress_arms": Primitive(
        "osc",
        False,
        _both(sh_flex=1.5, sh_abd=0.9, elbow=1.2),
        waves={"sh_flex_L": (1.0, "sin", 0.0), "sh_flex_R": (1.0, "sin", PI), "spine_twist": (0.2, "sin", 0.0)},
        rate=2,
    ),
    "bend_down": Primitive("hold", False, {"spine_pitch": 1.2, "neck_pitch": 0.3, **_both(hip_flex=0.3, knee=0.4)}),
    "bow": Primitive("hold", False, {"spine_pitch": 0.6, "neck_pitch": 0.4}),
    "lean_back": Primitive("hold", False, {"spine_pitch": -0.35, "neck_pitch": -0.3}),
    "squat": Primitive("hold", False, {"spine_pitch": 0.35, **_both(hip_flex=1.9, knee=2.2)}),
    "sit_down": Primitive("transition", False, pose=_SIT),
    "stand_up": Primitive("transition", False, start=_SIT),
    "fall": Primitive("transition", False, pose={"tilt": 1.3, **_both(knee=0.8, hip_flex=0.6, sh_flex=1.0)}),
    "kick_forward": Primitive("osc", True, waves={"hip_flex_S": (1.3, "pulse", 0.0), "knee_S": (0.3, "pulse", 0.0)}),
    "side_kick": Primitive("osc", True, waves={"hip_abd_S": (0.9, "pulse", 0.0), "spine_roll": (0.2, "pulse", 0.0)}),
    "butt_kick": Primitive("osc", False, waves={"knee_L": (2.0, "pulse", 0.0), "knee_R": (2.0, "pulse", PI)}, rate=4),
    "foot_up": Primitive("hold", True, {"hip_flex_S": 1.2, "knee_S": 1.6}),
    "step_on": Primitive("osc", True, waves={"hip_flex_S": (0.5, "pulse", 0.0), "knee_S": (0.6, "pulse", 0.0)}),
    "jump": Primitive(
        "osc", False, waves={"jump": (0.35, "pulse", 0.0), **{k: (0.5, "pulse", PI) for k in _both(knee=0, hip_flex=0)}}
    ),
    "hop": Primitive("osc", True, {"hip_flex_S": 0.9, "knee_S": 1.4}, waves={"jump": (0.12, "pulse", 0.0)}, rate=4),
    "run_in_place": Primitive(
        "osc",
        False,
        _both(elbow=1.4),
        waves={
            "hip_flex_L": (1.0, "pulse", 0.0),
            "hip_flex_R": (1.0, "pulse", PI),
            "knee_L": (1.4, "pulse", 0.0),
            "knee_R": (1.4, "pulse", PI),
            "sh_flex_L": (0.6, "sin", PI),
            "sh_flex_R": (0.6, "sin", 0.0),
        },
        rate=6,
    ),
    "walk_forward": Primitive("transition", False, pose={"walk": 1.5}, waves=_WALK_WAVES, rate=3),
    "walk_backward": Primitive("transition", False, pose={"walk": -1.5}, waves=_WALK_WAVES, rate=3),
    "turn_body": Primitive("transition", False, pose={"yaw": PI / 2}),
    "nod": Primitive("osc", False, waves={"neck_pitch": (0.35, "sin", 0.0)}, rate=2),
    "shake_head": Primitive("osc", False, waves={"neck_yaw": (0.6, "sin", 0.0)}, rate=3),
    "head_back": Primitive("hold", False, {"neck_pitch": -0.5}),
    "stagger": Primitive(
        "osc",
        False,
        waves={
            "spine_roll": (0.25, "sin", 0.0),
            "stagger_x": (0.15, "sin", 0.0),
            "hip_abd_L": (0.2, "sin", 0.0),
            "hip_abd_R": (0.2, "sin", PI),
        },
        rate=3,
    ),
    "torso_twist": Primitive("osc", False, waves={"spine_twist": (0.6, "sin", 0.0)}, rate=2),
    "shrug": Primitive("osc", False, waves={"shrug_L": (0.06, "pulse", 0.0), "shrug_R": (0.06, "pulse", 0.0)}, rate=2),
}


def smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def _expand_side(channel: str, sides: tuple[str, ...]) -> list[str]:
    return [channel[:-2] + "_" + side for side in sides] if channel.endswith("_S") else [channel]


def evaluate(
    primitive: Primitive,
    u: np.ndarray,
    window: tuple[np.ndarray, np.ndarray],
    amplitude: np.ndarray,
    sides: tuple[str, ...],
    rate: float,
) -> dict[str, np.ndarray]:
    """Channel offsets (B, T) of one primitive call. ``u`` is normalised time (B, T) in [0, 1]."""
    begin, end = (w[:, None] for w in window)
    width = np.maximum(end - begin, 1e-3)
    local = (u - begin) / width
    amp = amplitude[:, None]
    ramp = 0.25
    envelope = smoothstep(local / ramp) * (1.0 - smoothstep((local - 1.0 + ramp) / ramp))
    offsets: dict[str, np.ndarray] = {}

    def add(channel: str, value: np.ndarray) -> None:
        for name in _expand_side(channel, sides):
            offsets[name] = offsets.get(name, 0.0) + value

    if primitive.kind == "transition":
        progress = smoothstep(local)
        for channel in set(primitive.pose) | set(primitive.start):
            start, stop = primitive.start.get(channel, 0.0), primitive.pose.get(channel, 0.0)
            add(channel, amp * (start + (stop - start) * progress))
    else:
        for channel, value in primitive.pose.items():
            add(channel, amp * value * envelope)
    inside = (local >= 0.0) & (local <= 1.0)
    for channel, (wave_amp, shape, phase) in primitive.waves.items():
        angle = 2.0 * PI * rate * np.clip(local, 0.0, 1.0) + phase
        wave = np.sin(angle) if shape == "sin" else 0.5 * (1.0 - np.cos(angle))
        weight = inside * (envelope if primitive.kind != "transition" else 1.0)
        add(channel, amp * wave_amp * wave * weight)
    return offsets
