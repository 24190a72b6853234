"""Generate NTU-compatible synthetic skeleton samples from per-class motion scripts.

Every class's motion is a short script of primitives (``motions_ntu120.yaml``) written to match the
class's text descriptions, so text similarity between classes reflects motion similarity and a
zero-shot signal can flow through text. Subjects vary bone lengths, tempo, amplitude and
handedness; the three cameras see each performance from -45, 0 and +45 degrees; sensor jitter and
joint dropouts are added per view. Everything is a deterministic function of the seed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import cache
from importlib import resources
from typing import Any

import numpy as np
import yaml

from zsbench.data.readers import pku
from zsbench.data.skeleton import MAX_BODIES, NUM_JOINTS
from zsbench.data.synthetic.kinematics import REST_POSE, forward_kinematics
from zsbench.data.synthetic.primitives import PRIMITIVES, evaluate
from zsbench.errors import DataError
from zsbench.families import FAMILIES
from zsbench.seeding import numpy_rng
from zsbench.text.descriptions import pku_ntu_counterparts

CAMERA_YAW_DEGREES = {1: 0.0, 2: 45.0, 3: -45.0}
CAMERA_DISTANCE = 3.2
CAMERA_HEIGHT = 1.0
DEFAULT_WINDOW = (0.15, 0.85)


@dataclass(frozen=True)
class SynthConfig:
    """Size and noise of a synthetic dataset. The defaults keep ``nox -s demo`` fast on 2 CPU cores."""

    family: str = "ntu60"
    # Subjects drawn from the NTU cross-subject train and test lists. Each subject performs every class
    # replications x cameras times (6 samples), so 17 test subjects give the ZSL test fold 102 samples per unseen
    # class and 5 training subjects give the validation fold 30 per pseudo-unseen class, while the encoder trains on
    # 5 subjects only (training time follows the train subjects; the test subjects cost extraction and scoring).
    train_subjects: int = 5
    test_subjects: int = 17
    replications: int = 2
    cameras: tuple[int, ...] = (1, 2, 3)
    frames: int = 64
    seed: int = 0
    jitter_m: float = 0.01
    dropout_probability: float = 0.1
    left_handed_probability: float = 0.15

    def to_dict(self) -> dict[str, Any]:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()}


@dataclass(frozen=True)
class Call:
    primitive: str
    sides: tuple[str, ...]
    window: tuple[float, float]
    amp: float
    rate: float


@dataclass(frozen=True)
class ClassScript:
    label: int
    actors: tuple[tuple[Call, ...], ...]
    distance: float = 1.3


@dataclass
class Subject:
    subject_id: int
    scale: float
    arm_scale: float
    leg_scale: float
    tempo: float
    amplitude: float
    left_handed: bool
    rest: np.ndarray = field(repr=False)


@cache
def load_scripts(family: str = "ntu120") -> dict[int, ClassScript]:
    """Read and validate the motion scripts of a family's classes.

    NTU classes have one script each (``motions_ntu120.yaml``). A PKU-MMD I class performs the script of the NTU
    class with the same action (``pku51.yaml``'s ``ntu`` field); the few without one have their own script in
    ``motions_pku51.yaml``.
    """
    if family in ("ntu60", "ntu120"):
        scripts = _read_scripts("motions_ntu120.yaml")
        return {label: script for label, script in scripts.items() if label < FAMILIES[family].classes}
    if family != "pku51":
        raise DataError(f"synthetic family must be ntu60, ntu120 or pku51, got {family!r}")
    ntu, own = load_scripts("ntu120"), _read_scripts("motions_pku51.yaml")
    counterparts = pku_ntu_counterparts()
    needless = sorted(label for label in own if label in counterparts or not 0 <= label < FAMILIES["pku51"].classes)
    if needless:
        raise DataError(
            f"motions_pku51.yaml: classes {needless} have an NTU counterpart or are not PKU classes (0-50); "
            "only classes without a counterpart take a script here"
        )
    scripts = {}
    for label in range(FAMILIES["pku51"].classes):
        if label in counterparts:
            scripts[label] = replace(ntu[counterparts[label]], label=label)
        elif label in own:
            scripts[label] = own[label]
        else:
            raise DataError(f"motions_pku51.yaml: no script for PKU class {label} (it has no NTU counterpart)")
    return scripts


def _read_scripts(file_name: str) -> dict[int, ClassScript]:
    source = resources.files("zsbench.data.synthetic").joinpath(file_name)
    raw = yaml.safe_load(source.read_text())
    return {int(label): _parse_script(int(label), body, file_name) for label, body in raw.items()}


def _parse_script(label: int, body: dict[str, Any], file_name: str) -> ClassScript:
    where = f"{file_name}, class {label}"
    actors = []
    for key in ("actor1", "actor2"):
        if key not in body:
            continue
        calls = []
        for position, call in enumerate(body[key]):
            name = call.get("p")
            if name not in PRIMITIVES:
                raise DataError(f"{where}, {key}[{position}]: field 'p' is {name!r}, expected one of the primitives")
            side = call.get("side", "R")
            if side not in ("R", "L", "both"):
                raise DataError(f"{where}, {key}[{position}]: field 'side' is {side!r}, expected R, L or both")
            begin, end = call.get("at", DEFAULT_WINDOW)
            if not 0.0 <= begin < end <= 1.0:
                raise DataError(
                    f"{where}, {key}[{position}]: field 'at' is {[begin, end]}, expected 0 <= start < end <= 1"
                )
            rate = float(call.get("rate", PRIMITIVES[name].rate))
            sides = ("L", "R") if side == "both" else (side,)
            calls.append(Call(name, sides, (float(begin), float(end)), float(call.get("amp", 1.0)), rate))
        actors.append(tuple(calls))
    if not actors:
        raise DataError(f"{where}: no 'actor1' script")
    return ClassScript(label, tuple(actors), float(body.get("distance", 1.3)))


def make_subject(subject_id: int, seed: int, left_handed_probability: float) -> Subject:
    rng = numpy_rng(seed, "subject", str(subject_id))
    scale = float(np.clip(rng.normal(1.0, 0.06), 0.85, 1.15))
    arm_scale = float(np.clip(rng.normal(1.0, 0.04), 0.9, 1.1))
    leg_scale = float(np.clip(rng.normal(1.0, 0.04), 0.9, 1.1))
    rest = REST_POSE * scale
    arm_joints = [5, 6, 7, 9, 10, 11, 21, 22, 23, 24]
    shoulders = np.array([4 if j in (5, 6, 7, 21, 22) else 8 for j in arm_joints])
    rest[arm_joints] = rest[shoulders] + (rest[arm_joints] - rest[shoulders]) * arm_scale
    leg_joints = [13, 14, 15, 17, 18, 19]
    hips = np.array([12 if j < 16 else 16 for j in leg_joints])
    rest[leg_joints] = rest[hips] + (rest[leg_joints] - rest[hips]) * leg_scale
    return Subject(
        subject_id=subject_id,
        scale=scale,
        arm_scale=arm_scale,
        leg_scale=leg_scale,
        tempo=float(np.exp(rng.normal(0.0, 0.12))),
        amplitude=float(np.clip(rng.normal(1.0, 0.1), 0.75, 1.25)),
        left_handed=bool(rng.random() < left_handed_probability),
        rest=rest,
    )


def _mirror(sides: tuple[str, ...]) -> tuple[str, ...]:
    return tuple("L" if s == "R" else "R" for s in sides)


def perform(calls: tuple[Call, ...], subjects: list[Subject], frames: int, rng: np.random.Generator) -> np.ndarray:
    """Body-frame joints (B, T, 25, 3) of one actor script performed once by each subject."""
    batch = len(subjects)
    tempo = np.array([s.tempo for s in subjects])
    time = np.linspace(0.0, 1.0, frames)[None, :]
    shift = rng.uniform(-0.05, 0.05, size=(batch, 1))
    u = np.clip(time ** tempo[:, None] + shift, 0.0, 1.0)
    pose: dict[str, np.ndarray] = {}
    for call in calls:
        begin = np.clip(call.window[0] + rng.uniform(-0.04, 0.04, batch), 0.0, 0.95)
        end = np.clip(call.window[1] + rng.uniform(-0.04, 0.04, batch), begin + 0.05, 1.0)
        amplitude = call.amp * np.array([s.amplitude for s in subjects]) * rng.uniform(0.85, 1.15, batch)
        for flip in (False, True):
            members = np.array([s.left_handed == flip for s in subjects])
            if not members.any():
                continue
            sides = _mirror(call.sides) if flip else call.sides
            offsets = evaluate(PRIMITIVES[call.primitive], u, (begin, end), amplitude * members, sides, call.rate)
            for channel, value in offsets.items():
                pose[channel] = pose.get(channel, 0.0) + value
    for channel in ("sh_flex_L", "sh_flex_R", "elbow_L", "elbow_R", "spine_pitch", "neck_yaw", "neck_pitch"):
        phase = rng.uniform(0, 2 * np.pi, (batch, 1))
        idle = 0.05 * np.sin(2 * np.pi * rng.uniform(0.3, 1.2, (batch, 1)) * time + phase)
        pose[channel] = pose.get(channel, 0.0) + idle
    rest = np.stack([s.rest for s in subjects])
    return forward_kinematics(pose, rest)


def _place(joints: np.ndarray, facing: np.ndarray, position: np.ndarray) -> np.ndarray:
    """Rotate body-frame joints by ``facing`` (B,) about y and move them to ``position`` (B, 3)."""
    c, s = np.cos(facing), np.sin(facing)
    x = joints[..., 0] * c[:, None, None] + joints[..., 2] * s[:, None, None]
    z = -joints[..., 0] * s[:, None, None] + joints[..., 2] * c[:, None, None]
    return np.stack([x, joints[..., 1], z], -1) + position[:, None, None, :]


def generate_class(
    script: ClassScript, subjects: list[Subject], config: SynthConfig, rng: np.random.Generator
) -> np.ndarray:
    """World-frame joints (B, T, M=2, 25, 3) of one class performed by each subject, before the camera."""
    batch = len(subjects)
    scene = np.zeros((batch, config.frames, MAX_BODIES, NUM_JOINTS, 3))
    two_person = len(script.actors) == 2
    for slot, calls in enumerate(script.actors):
        joints = perform(calls, subjects, config.frames, rng)
        facing_jitter = rng.normal(0.0, 0.15, batch)
        position = np.zeros((batch, 3))
        position[:, 0] = rng.normal(0.0, 0.1, batch)
        if two_person:
            half = script.distance * rng.uniform(0.9, 1.1, batch) / 2
            position[:, 0] += -half if slot == 0 else half
            facing = (np.pi / 2 if slot == 0 else -np.pi / 2) + facing_jitter
        else:
            facing = np.pi + facing_jitter  # facing the camera
        scene[:, :, slot] = _place(joints, facing, position)
    return scene


def view_from_camera(scene: np.ndarray, yaw_degrees: float) -> np.ndarray:
    """Camera-space coordinates (Kinect convention: y up, z away from the sensor) of a camera at ``yaw_degrees``."""
    yaw = np.deg2rad(yaw_degrees)
    c, s = np.cos(yaw), np.sin(yaw)
    x = scene[..., 0] * c + scene[..., 2] * s
    z = -scene[..., 0] * s + scene[..., 2] * c
    return np.stack([x, scene[..., 1] - CAMERA_HEIGHT, z + CAMERA_DISTANCE], -1)


def add_sensor_noise(
    view: np.ndarray, present: np.ndarray, config: SynthConfig, rng: np.random.Generator
) -> np.ndarray:
    """Jitter every joint; now and then a hand's joints go wild for a few frames, as Kinect does."""
    noisy = view + rng.normal(0.0, config.jitter_m, view.shape)
    batch, frames = view.shape[:2]
    for b in np.flatnonzero(rng.random(batch) < config.dropout_probability):
        start = int(rng.integers(0, max(frames - 8, 1)))
        joints = [7, 21, 22] if rng.random() < 0.5 else [11, 23, 24]
        window = noisy[b, start : start + 8, 0]  # a view: the in-place update below writes through
        window[:, joints] += rng.normal(0.0, 0.06, (len(window), len(joints), 3))
    return noisy * present[:, None, :, None, None]


@dataclass(frozen=True)
class Layout:
    """Where a family's synthetic performers come from and how its samples are named, as its real store does."""

    train_pool: tuple[int, ...]  # performers of the cross-subject training side
    test_pool: tuple[int, ...]
    camera_yaw: dict[int, float]  # the store's camera ids -> yaw of that view
    row: Callable[[int, int, int, int], dict[str, Any]]  # (performer, camera, replication, label) -> index columns


def _ntu_layout(family: str) -> Layout:
    train_pool = FAMILIES[family].xsub_train_subjects
    limits = FAMILIES[family].name_limits
    assert limits is not None
    setups, performers = limits

    def row(performer: int, camera: int, replication: int, label: int) -> dict[str, Any]:
        setup = 1 + (performer + replication) % setups
        return {"sample": f"S{setup:03d}C{camera:03d}P{performer:03d}R{replication:03d}A{label + 1:03d}",
                "label": label, "subject": performer, "camera": camera, "setup": setup,
                "replication": replication}  # fmt: skip

    test_pool = tuple(s for s in range(1, performers + 1) if s not in train_pool)
    return Layout(train_pool, test_pool, CAMERA_YAW_DEGREES, row)


PKU_VIEWS = {camera: view for view, camera in pku.CAMERAS.items()}
PKU_VIEW_YAW = {pku.CAMERAS[view]: yaw for view, yaw in (("L", 45.0), ("M", 0.0), ("R", -45.0))}
# PKU-MMD names carry no subject id; its store groups by the video's sequence number instead. The pools are the
# official cross-subject lists' sequences (Split/cross-subject.txt): test 0291-0334, train the rest of 0002-0364
# (0247-0250 do not exist).
PKU_TEST_SEQUENCES = tuple(range(291, 335))
PKU_TRAIN_SEQUENCES = tuple(s for s in range(2, 365) if s not in PKU_TEST_SEQUENCES and not 247 <= s <= 250)
PKU_XVIEW_TRAIN_VIEWS = ("L", "R")  # the official cross-view split tests on the middle view


def _pku_layout(replications: int) -> Layout:
    def row(sequence: int, camera: int, replication: int, label: int) -> dict[str, Any]:
        view = PKU_VIEWS[camera]
        segment = label * replications + replication - 1  # one video holds every class's performances, in order
        return {"sample": f"{sequence:04d}-{view}#{segment:02d}", "label": label, "subject": sequence,
                "camera": camera, "setup": 0, "replication": replication,
                "partition_xsub": "test" if sequence in PKU_TEST_SEQUENCES else "train",
                "partition_xview": "train" if view in PKU_XVIEW_TRAIN_VIEWS else "test"}  # fmt: skip

    return Layout(PKU_TRAIN_SEQUENCES, PKU_TEST_SEQUENCES, PKU_VIEW_YAW, row)


def layout(config: SynthConfig) -> Layout:
    if config.family in ("ntu60", "ntu120"):
        return _ntu_layout(config.family)
    if config.family == "pku51":
        return _pku_layout(config.replications)
    raise DataError(f"synthetic family must be ntu60, ntu120 or pku51, got {config.family!r}")


def synth_samples(
    config: SynthConfig, progress: Callable[[str, int, int], None] | None = None
) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """All samples of a synthetic dataset: array (N, 3, T, 25, 2) float32 and one metadata row per sample."""
    where = layout(config)
    scripts = load_scripts(config.family)
    for name, wanted, pool in (("train_subjects", config.train_subjects, where.train_pool),
                               ("test_subjects", config.test_subjects, where.test_pool)):  # fmt: skip
        if not 1 <= wanted <= len(pool):
            raise DataError(f"synthetic {config.family}: {name} is {wanted}, expected 1 to {len(pool)}")
    unknown = [c for c in config.cameras if c not in where.camera_yaw]
    if unknown:
        raise DataError(
            f"synthetic {config.family}: cameras {unknown} unknown, expected some of {sorted(where.camera_yaw)}"
        )
    pick = numpy_rng(config.seed, "subjects", config.family)
    chosen = sorted(
        [int(s) for s in pick.choice(where.train_pool, config.train_subjects, replace=False)]
        + [int(s) for s in pick.choice(where.test_pool, config.test_subjects, replace=False)]
    )
    subjects = [make_subject(s, config.seed, config.left_handed_probability) for s in chosen]
    performers = [s for s in subjects for _ in range(config.replications)]
    replication_of = [r + 1 for _ in subjects for r in range(config.replications)]
    arrays, rows = [], []
    num_classes = FAMILIES[config.family].classes
    for label in range(num_classes):
        if progress is not None:
            progress("generating classes", label, num_classes)
        rng = numpy_rng(config.seed, "class", str(label))
        script = scripts[label]
        scene = generate_class(script, performers, config, rng)
        present = np.zeros((len(performers), MAX_BODIES))
        present[:, : len(script.actors)] = 1.0
        for camera in config.cameras:
            view = add_sensor_noise(view_from_camera(scene, where.camera_yaw[camera]), present, config, rng)
            arrays.append(view.transpose(0, 4, 1, 3, 2).astype(np.float32))  # (B, 3, T, 25, M)
            for performer, replication in zip(performers, replication_of, strict=True):
                rows.append(
                    {**where.row(performer.subject_id, camera, replication, label), "frames": config.frames,
                     "bodies": len(script.actors)}
                )  # fmt: skip
    if progress is not None:
        progress("generating classes", num_classes, num_classes)
    return np.concatenate(arrays), rows
