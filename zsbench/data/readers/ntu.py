"""NTU RGB+D 60/120: sample names, missing-sample lists and raw ``.skeleton`` files (formats.md §1, §2, §4, §6c).

``parse_skeleton`` is the fast reader: it splits the file into lines once, walks the count lines with an
index and converts all joint lines of the file in one numpy call. ``reference_parse`` is a deliberately
plain line-by-line reader, kept as a test oracle and as the baseline of the reader benchmark.

What the fast reader checks: every count and body-info field is parsed; of a joint line, x, y, z and the
tracking state are parsed, and the eight fields zsbench discards (depth and colour positions, orientation)
are checked only for their characters (digits, ``.``, ``+``, ``-``, ``e``, ``E``) and their count (12
fields, single spaces). Parsing those eight would double the cost of reading a file; CTR-GCN's script
parses two of them and checks neither the rest nor the count. A file that is not in that plain form goes
to the general path, which parses every field, and a bad file is walked line by line to name the line and
field at fault.
"""

from __future__ import annotations

import os
import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn, TextIO

import numpy as np

from zsbench.data import values
from zsbench.data.skeleton import NUM_JOINTS, PARENT
from zsbench.errors import DataError
from zsbench.families import FAMILIES

NAME_PATTERN = re.compile(r"^S(\d{3})C(\d{3})P(\d{3})R(\d{3})A(\d{3})$")
BODY_FIELDS = 10
JOINT_FIELDS = 12
LEAF_JOINTS = (3, 15, 19, 21, 22, 23, 24)  # orientation written as 0 0 0 0

# Denoising thresholds of SGN / CTR-GCN (formats.md §6c).
NOISE_LENGTH = 11
NOISE_SPREAD_RATIO = 0.8
NOISE_FRAME_RATIO = 0.69754

# A rough Kinect v2 pinhole model, used only to write plausible 2-D fields.
DEPTH_CAMERA = (365.0, 365.0, 256.0, 212.0)  # fx, fy, cx, cy for the 512x424 depth frame
COLOR_CAMERA = (1060.0, 1060.0, 960.0, 540.0)  # the same for the 1920x1080 colour frame
BODY_ID_BASE = 72057594037927936  # 2**56; real bodyIDs are this plus a few thousand
CAMERAS = 3
# Per family: the largest setup, performer and action number a sample name may carry.
FAMILY_LIMITS = {f.name: (*f.name_limits, f.classes) for f in FAMILIES.values() if f.name_limits is not None}


@dataclass(frozen=True)
class SampleName:
    setup: int
    camera: int
    subject: int
    replication: int
    label: int  # 0-based

    @property
    def stem(self) -> str:
        return f"S{self.setup:03d}C{self.camera:03d}P{self.subject:03d}R{self.replication:03d}A{self.label + 1:03d}"


@dataclass(frozen=True, eq=False)
class BodyTrack:
    frames: np.ndarray  # (n,) int64, the frame indices where this body appears
    joints: np.ndarray  # (n, 25, 3) float32, x y z in metres


@dataclass(frozen=True, eq=False)
class SkeletonSequence:
    num_frames: int
    bodies: dict[int, BodyTrack]  # keyed by bodyID, in order of first appearance
    non_finite: int = 0  # coordinates that were non-finite and set to 0 (policy "zero")


def parse_name(stem: str) -> SampleName:
    match = NAME_PATTERN.match(stem)
    if match is None:
        raise DataError(f"sample name {stem!r} does not match SsssCcccPpppRrrrAaaa (e.g. S001C002P003R002A013)")
    setup, camera, subject, replication, action = (int(group) for group in match.groups())
    for field, letter, value in (
        ("setup", "S", setup),
        ("camera", "C", camera),
        ("performer", "P", subject),
        ("replication", "R", replication),
        ("action", "A", action),
    ):
        if value < 1:
            raise DataError(f"sample name {stem!r}: {field} {letter}{value:03d} is not valid, numbers start at 1")
    if camera > CAMERAS:
        raise DataError(f"sample name {stem!r}: camera C{camera:03d} is not valid, expected C001..C{CAMERAS:03d}")
    return SampleName(setup, camera, subject, replication, action - 1)


def check_family(name: SampleName, family: str) -> None:
    """Raise a DataError when a (valid) sample name cannot belong to ``family`` (ntu60 or ntu120)."""
    setups, performers, actions = FAMILY_LIMITS[family]
    for field, letter, value, limit in (
        ("setup", "S", name.setup, setups),
        ("performer", "P", name.subject, performers),
        ("action", "A", name.label + 1, actions),
    ):
        if value > limit:
            raise DataError(
                f"sample name {name.stem!r}: {field} {letter}{value:03d} is not in {family} "
                f"(expected {letter}001..{letter}{limit:03d})"
            )


def read_missing_list(path: Path) -> set[str]:
    """Sample names in a missing-skeleton list; prose headers and blank lines are skipped."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as error:
        raise DataError(f"{path}: cannot read the missing-sample list ({error})") from error
    return {line.strip() for line in text.splitlines() if NAME_PATTERN.match(line.strip())}


# --- the fast parser ---------------------------------------------------------------------------------------------


def _show(raw: bytes) -> str:
    text = raw.strip().decode("utf-8", errors="replace")
    return repr(text if len(text) <= 40 else text[:37] + "...")


def _check_joint_lines(path: Path, lines: list[bytes], starts: list[int], end: int) -> None:
    """Raise on the first joint line (of the blocks starting at ``starts``) with a wrong field or field count."""
    for start in starts:
        for index in range(start, min(start + NUM_JOINTS, end)):
            fields = lines[index].split()
            if len(fields) != JOINT_FIELDS:
                raise DataError(
                    f"{path}: line {index + 1}: joint line has {len(fields)} fields, expected {JOINT_FIELDS}"
                )
            for position, field in enumerate(fields, 1):
                try:
                    float(field)
                except ValueError:
                    raise DataError(
                        f"{path}: line {index + 1}: field {position} of the joint line is {_show(field)}, "
                        "expected a number"
                    ) from None


class _Walker:
    """Walks the count and body-info lines; joint lines are only skipped here and converted later in bulk."""

    def __init__(self, path: Path, lines: list[bytes]) -> None:
        self.path = path
        self.lines = lines
        self.index = 0
        self.end = _content_end(lines)
        self.block_starts: list[int] = []

    def fail(self, message: str, index: int | None = None) -> NoReturn:
        _check_joint_lines(self.path, self.lines, self.block_starts, self.end)  # an earlier bad line is the cause
        line = (self.index if index is None else index) + 1
        raise DataError(f"{self.path}: line {line}: {message}")

    def take(self, what: str) -> bytes:
        if self.index >= self.end:
            self.fail(f"the file ends early; expected {what}", self.end)
        self.index += 1
        return self.lines[self.index - 1]

    def count(self, what: str) -> int:
        raw = self.take(what)
        try:
            value = int(raw)
        except ValueError:
            self.fail(f"expected {what} (one integer), got {_show(raw)}", self.index - 1)
        if value < 0:
            self.fail(f"{what} is {value}, expected a count >= 0", self.index - 1)
        return value

    def body_info(self) -> int:
        fields = self.take("a body-info line").split()
        if len(fields) != BODY_FIELDS:
            self.fail(f"body-info line has {len(fields)} fields, expected {BODY_FIELDS}", self.index - 1)
        try:
            body_id = int(fields[0])
        except ValueError:
            self.fail(f"field 1 (bodyID) is {_show(fields[0])}, expected an integer", self.index - 1)
        for position, field in enumerate(fields[1:], 2):
            try:
                float(field)
            except ValueError:
                self.fail(
                    f"field {position} of the body-info line is {_show(field)}, expected a number", self.index - 1
                )
        return body_id

    def joint_block(self) -> None:
        joints = self.count("the joint count")
        if joints != NUM_JOINTS:
            self.fail(f"joint count is {joints}, expected {NUM_JOINTS}", self.index - 1)
        self.block_starts.append(self.index)
        if self.index + NUM_JOINTS > self.end:
            self.fail(f"the file ends early; expected {NUM_JOINTS} joint lines", self.end)
        self.index += NUM_JOINTS

    def finish(self) -> None:
        while self.index < self.end and not self.lines[self.index].strip():
            self.index += 1
        if self.index < self.end:
            self.fail(f"unexpected content after the last frame: {_show(self.lines[self.index])}")


def _content_end(lines: list[bytes]) -> int:
    end = len(lines)
    while end > 0 and not lines[end - 1].strip():
        end -= 1
    return end


def _layout(lines: list[bytes], end: int) -> tuple[int, list[int], list[int]]:
    """Optimistic walk over the count lines: (frames, index of each body-info line, frame of each body).

    Raises ValueError or IndexError on anything irregular; ``_diagnose`` then finds the line to blame.
    """
    num_frames = int(lines[0])
    if num_frames < 0:
        raise ValueError("negative frame count")
    info_lines: list[int] = []
    frame_of_block: list[int] = []
    index = 1
    for frame in range(num_frames):
        count = int(lines[index])
        if count < 0:
            raise ValueError(f"negative body count on line {index + 1}")
        index += 1
        for _ in range(count):
            if int(lines[index + 1]) != NUM_JOINTS:
                raise ValueError(f"joint count on line {index + 2}")
            info_lines.append(index)
            frame_of_block.append(frame)
            index += 2 + NUM_JOINTS
    if index != end:
        raise ValueError("the counts do not match the length of the file")
    return num_frames, info_lines, frame_of_block


def _table(rows: list[bytes], columns: int) -> np.ndarray:
    if not rows:
        return np.zeros((0, columns))
    values = np.loadtxt(rows, dtype=np.float64, comments=None, ndmin=2)
    if values.shape != (len(rows), columns):
        raise ValueError(f"a table of {values.shape}, expected ({len(rows)}, {columns})")
    return values


_NUMBER_BYTES = b"0123456789.+-eE\r\n"  # with the line ends; what is left of a plain file is its spaces
_PLAIN_COLUMNS = (0, 1, 2, JOINT_FIELDS - 1)  # x, y, z and the last field, so a short line fails


def plain_xyz(data: bytes, rows: list[bytes], bodies: int) -> np.ndarray | None:
    """x, y, z of the joint ``rows`` of a file in the plain form, else None (see the module's docstring).

    The plain form: only number characters and exactly one space between fields, which the file's space
    count shows once every joint line has at least 12 fields and every one of the ``bodies`` body-info lines
    exactly 10 (``_body_ids`` checks those before). A CR inside a line makes ``loadtxt`` fail, so CR counts
    only as part of a line end.
    """
    separators = len(rows) * (JOINT_FIELDS - 1) + bodies * (BODY_FIELDS - 1)
    if not rows or data.translate(None, _NUMBER_BYTES) != b" " * separators:
        return None
    try:
        values = np.loadtxt(rows, dtype=np.float64, comments=None, ndmin=2, usecols=_PLAIN_COLUMNS)
    except ValueError:
        return None
    if len(values) != len(rows):  # loadtxt skips blank rows; their spaces may sit elsewhere in the file
        return None
    return values[:, :3]


def joint_rows(lines: list[bytes], info_lines: list[int]) -> list[bytes]:
    """The joint lines of every body block, in file order (each block's 25 follow its body-info line and count)."""
    return [row for index in info_lines for row in lines[index + 2 : index + 2 + NUM_JOINTS]]


def _joints(data: bytes, lines: list[bytes], info_lines: list[int]) -> np.ndarray:
    """x, y, z of every joint block, (blocks, 25, 3) float32; all joint lines converted in one call."""
    rows = joint_rows(lines, info_lines)
    xyz = plain_xyz(data, rows, len(info_lines))
    if xyz is None:
        xyz = _table(rows, JOINT_FIELDS)[:, :3]
    with np.errstate(over="ignore"):  # a value beyond float32 becomes inf, which parse_skeleton reports
        return xyz.astype(np.float32).reshape(-1, NUM_JOINTS, 3)


def _body_ids(lines: list[bytes], info_lines: list[int]) -> list[int]:
    rows = [lines[index] for index in info_lines]
    _table(rows, BODY_FIELDS)  # every field numeric, 10 per line
    return [int(row.split(None, 1)[0]) for row in rows]


def _diagnose(path: Path, lines: list[bytes]) -> None:
    """Walk the file carefully and raise a DataError naming the first bad line."""
    walker = _Walker(path, lines)
    for _ in range(walker.count("the frame count")):
        for _ in range(walker.count("the body count")):
            walker.body_info()
            walker.joint_block()
    walker.finish()
    _check_joint_lines(path, lines, walker.block_starts, walker.end)


def _group_bodies(body_ids: list[int], frame_of_block: list[int], joints: np.ndarray) -> dict[int, BodyTrack]:
    blocks: dict[int, list[int]] = {}
    for block, body_id in enumerate(body_ids):
        blocks.setdefault(body_id, []).append(block)
    frames = np.asarray(frame_of_block, dtype=np.int64)
    bodies = {}
    for body_id, members in blocks.items():
        rows = np.asarray(members, dtype=np.int64)
        bodies[body_id] = BodyTrack(frames[rows], joints[rows])
    return bodies


def read_file(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise DataError(f"{path}: cannot read ({error})") from error


def parse_skeleton(path: Path, non_finite: str = "error", data: bytes | None = None) -> SkeletonSequence:
    """Read a raw ``.skeleton`` file (CRLF or LF). BodyIDs stay Python ints; only x, y, z of each joint are kept.

    A bodyID that appears twice in one frame keeps both entries (its ``frames`` then repeats that index).
    A non-finite x, y or z (``nan``, ``inf``, or a value beyond float32) is a DataError naming its line and
    field, unless ``non_finite`` is ``"zero"``: then it is set to 0 and counted in ``non_finite``.
    ``data``, when given, is the file's content already read; ``path`` then only names it in errors.
    """
    if data is None:
        data = read_file(path)
    lines = data.split(b"\n")
    try:
        num_frames, info_lines, frame_of_block = _layout(lines, _content_end(lines))
        body_ids = _body_ids(lines, info_lines)
        joints = _joints(data, lines, info_lines)
    except (ValueError, IndexError) as error:
        _diagnose(path, lines)
        raise DataError(f"{path}: not a valid .skeleton file ({error})") from error

    def where(position: tuple[int, ...]) -> str:
        block, joint, axis = position
        line = info_lines[block] + 3 + joint
        return f"{path}: line {line}: field {axis + 1} ({'xyz'[axis]}) of the joint line"

    replaced = values.finite(joints, non_finite, where, str(path))
    return SkeletonSequence(num_frames, _group_bodies(body_ids, frame_of_block, joints), replaced)


# --- the plain reference parser ----------------------------------------------------------------------------------

_BODY_KEYS = (
    "bodyID", "clippedEdges", "handLeftConfidence", "handLeftState", "handRightConfidence", "handRightState",
    "isRestricted", "leanX", "leanY", "trackingState",
)  # fmt: skip
_JOINT_KEYS = (
    "x", "y", "z", "depthX", "depthY", "colorX", "colorY",
    "orientationW", "orientationX", "orientationY", "orientationZ", "trackingState",
)  # fmt: skip


class _LineReader:
    def __init__(self, path: Path, handle: TextIO) -> None:
        self.path = path
        self.handle = handle
        self.number = 0

    def fields(self, expected: int, what: str) -> list[str]:
        line = self.handle.readline()
        self.number += 1
        if not line:
            raise DataError(f"{self.path}: line {self.number}: the file ends early; expected {what}")
        fields = line.split()
        if len(fields) != expected:
            raise DataError(f"{self.path}: line {self.number}: {what} has {len(fields)} fields, expected {expected}")
        return fields

    def convert(self, field: str, kind: type[int] | type[float], what: str) -> int | float:
        try:
            return kind(field)
        except ValueError:
            raise DataError(
                f"{self.path}: line {self.number}: field {field!r} of {what} is not a valid {kind.__name__}"
            ) from None


def reference_parse(path: Path) -> SkeletonSequence:
    """Plain line-by-line reader that converts every field of every line, as the common preprocessing scripts do."""
    frames_of: dict[int, list[int]] = {}
    joints_of: dict[int, list[list[list[float]]]] = {}
    with open(path, encoding="utf-8", errors="replace") as handle:
        reader = _LineReader(path, handle)
        num_frames = int(reader.convert(reader.fields(1, "the frame count")[0], int, "the frame count"))
        for frame in range(num_frames):
            num_bodies = int(reader.convert(reader.fields(1, "the body count")[0], int, "the body count"))
            for _ in range(num_bodies):
                values = reader.fields(BODY_FIELDS, "the body-info line")
                body = {
                    key: reader.convert(value, float, "the body-info line")
                    for key, value in zip(_BODY_KEYS[1:], values[1:], strict=True)
                }
                body["bodyID"] = reader.convert(values[0], int, "the body-info line")
                num_joints = int(reader.convert(reader.fields(1, "the joint count")[0], int, "the joint count"))
                if num_joints != NUM_JOINTS:
                    raise DataError(f"{path}: line {reader.number}: joint count is {num_joints}, expected {NUM_JOINTS}")
                joints = []
                for _ in range(num_joints):
                    fields = reader.fields(JOINT_FIELDS, "the joint line")
                    joint = {
                        key: reader.convert(value, float, "the joint line")
                        for key, value in zip(_JOINT_KEYS, fields, strict=True)
                    }
                    joints.append([float(joint["x"]), float(joint["y"]), float(joint["z"])])
                body_id = int(body["bodyID"])
                frames_of.setdefault(body_id, []).append(frame)
                joints_of.setdefault(body_id, []).append(joints)
        if handle.read().strip():
            raise DataError(f"{path}: line {reader.number + 1}: unexpected content after the last frame")
    bodies = {
        body_id: BodyTrack(
            np.asarray(frames_of[body_id], dtype=np.int64),
            np.asarray(joints_of[body_id], dtype=np.float64).astype(np.float32),
        )
        for body_id in frames_of
    }
    return SkeletonSequence(num_frames, bodies)


# --- body selection (SGN / CTR-GCN denoising) --------------------------------------------------------------------


def _motion(joints: np.ndarray) -> float:
    return float(np.var(joints.reshape(-1, 3), axis=0, dtype=np.float64).sum())


def _noisy_frames(joints: np.ndarray) -> np.ndarray:
    spread = joints.max(axis=1) - joints.min(axis=1)  # (n, 3)
    return spread[:, 0] > NOISE_SPREAD_RATIO * spread[:, 1]


def _drop_short(tracks: dict[int, BodyTrack]) -> dict[int, BodyTrack]:
    if len(tracks) <= 1:
        return tracks
    kept = {body_id: track for body_id, track in tracks.items() if len(track.frames) > NOISE_LENGTH}
    if kept:
        return kept
    longest = max(tracks, key=lambda body_id: len(tracks[body_id].frames))
    return {longest: tracks[longest]}


def _drop_spread_and_rank(tracks: dict[int, BodyTrack]) -> list[int]:
    """Drop bodies that are mostly noisy frames (while more than one remains); bodyIDs by motion, descending."""
    motion: dict[int, float] = {}
    remaining = len(tracks)
    for body_id, track in tracks.items():
        motion[body_id] = _motion(track.joints)
        if remaining <= 1:
            continue
        noisy = _noisy_frames(track.joints)
        if noisy.mean() >= NOISE_FRAME_RATIO:
            del motion[body_id]
            remaining -= 1
        elif noisy.any():
            motion[body_id] = min(motion[body_id], _motion(track.joints[~noisy]))
    return sorted(motion, key=lambda body_id: motion[body_id], reverse=True)


def select_bodies(sequence: SkeletonSequence, max_bodies: int = 2) -> np.ndarray:
    """Denoise a sequence into actor slots, as SGN / CTR-GCN do (formats.md §6c); float32 (T', max_bodies, 25, 3).

    1. Length filter: when more than one body exists, drop bodies tracked for <= 11 frames (if all are that
       short, keep the longest).
    2. Spread filter: a frame is noisy when its X spread (max - min over joints) exceeds 0.8 x its Y spread.
       While more than one body remains, a body with a noisy-frame ratio >= 0.69754 is dropped.
    3. Motion: sum over x, y, z of the variance of the body's joint coordinates; when some frames are noisy,
       the smaller of the all-frames and the non-noisy-frames value.
    4. Slots: bodies sorted by motion, descending. The first is actor 1. Each further body goes into the first
       slot (actor 1, then actor 2, ...) whose current frame interval it does not overlap, which then grows to
       cover it; a slot that is still empty overlaps nothing. A body that fits nowhere is discarded.
    5. Frames where every slot is empty (all zeros) are dropped, which also removes 0-body frames.

    A single-body sequence leaves the other slots all zeros. A body whose track has a gap (absent in some
    frames between its first and last) keeps its true frame indices: its slot is zeros in the gap, and a gap
    frame is dropped only when every slot is empty there. Frame intervals are closed (``[first, last]``), so
    two bodies that share exactly one frame overlap: the second does not join the first one's slot and goes
    to the next slot that it does not overlap (zsbench's rule; the step-4 wording of formats.md §6c leaves
    that case open).
    """
    tracks = _drop_short(sequence.bodies)
    ranked = _drop_spread_and_rank(tracks) if len(tracks) > 1 else list(tracks)
    out = np.zeros((sequence.num_frames, max_bodies, NUM_JOINTS, 3), dtype=np.float32)
    intervals: list[tuple[int, int] | None] = [None] * max_bodies
    for body_id in ranked:
        frames = tracks[body_id].frames
        first, last = int(frames.min()), int(frames.max())
        for slot, interval in enumerate(intervals):
            if interval is None or first > interval[1] or last < interval[0]:
                out[frames, slot] = tracks[body_id].joints
                intervals[slot] = (
                    (first, last) if interval is None else (min(first, interval[0]), max(last, interval[1]))
                )
                break
    return out[np.any(out != 0, axis=(1, 2, 3))]


# --- the writer --------------------------------------------------------------------------------------------------


def _noise_body(rng: np.random.Generator, frames: int) -> np.ndarray:
    """A furniture-like blob: points along a wide horizontal edge, jittering from frame to frame."""
    centre = np.array([rng.uniform(-1.0, 1.0), rng.uniform(-0.6, 0.0), rng.uniform(3.5, 4.5)])
    width = rng.uniform(0.9, 1.6)
    shape = np.stack(
        [
            rng.uniform(-width / 2, width / 2, NUM_JOINTS),
            rng.uniform(-0.1, 0.1, NUM_JOINTS),
            rng.uniform(-0.1, 0.1, NUM_JOINTS),
        ],
        axis=-1,
    )
    return centre + shape + rng.normal(0.0, 0.02, (frames, NUM_JOINTS, 3))


def _frame_entries(
    bodies: np.ndarray, body_ids: list[int], rng: np.random.Generator | None, noise_body_probability: float
) -> list[list[tuple[int, np.ndarray]]]:
    """Per frame, the (bodyID, joints) of every body written in that frame."""
    present = np.any(bodies != 0, axis=(2, 3))
    entries = [[(body_ids[m], bodies[t, m]) for m in np.flatnonzero(present[t])] for t in range(len(bodies))]
    if rng is None or noise_body_probability <= 0.0:
        return entries
    used = set(body_ids)
    for start in np.flatnonzero(rng.random(len(bodies)) < noise_body_probability):
        body_id = BODY_ID_BASE + int(rng.integers(1, 1_000_000))
        while body_id in used:
            body_id += 1
        used.add(body_id)
        length = min(int(rng.integers(3, 30)), len(bodies) - int(start))
        for offset, joints in enumerate(_noise_body(rng, length)):
            frame = entries[int(start) + offset]
            frame.insert(int(rng.integers(0, len(frame) + 1)), (body_id, joints))
    return entries


def _project(xyz: np.ndarray, camera: tuple[float, float, float, float]) -> np.ndarray:
    fx, fy, cx, cy = camera
    depth = np.maximum(xyz[..., 2], 0.1)
    return np.stack([cx + fx * xyz[..., 0] / depth, cy - fy * xyz[..., 1] / depth], axis=-1)


def _orientation(xyz: np.ndarray) -> np.ndarray:
    """W X Y Z of the rotation taking +y onto each joint's bone direction (child minus parent)."""
    parent = np.array(PARENT)
    bone = xyz - xyz[..., parent, :]
    bone[..., 20, :] = xyz[..., 20, :] - xyz[..., 1, :]  # the root: along the upper spine
    bone /= np.maximum(np.linalg.norm(bone, axis=-1, keepdims=True), 1e-9)
    quaternion = np.stack([1.0 + bone[..., 1], bone[..., 2], np.zeros_like(bone[..., 0]), -bone[..., 0]], axis=-1)
    norm = np.linalg.norm(quaternion, axis=-1, keepdims=True)
    quaternion = np.where(norm > 1e-6, quaternion / np.maximum(norm, 1e-6), np.array([0.0, 0.0, 0.0, 1.0]))
    quaternion[..., LEAF_JOINTS, :] = 0.0
    return quaternion


def _joint_fields(joints: np.ndarray) -> np.ndarray:
    """The first 11 fields of every joint line as strings, (K, 25, 11); floats in shortest float32 form."""
    values = np.concatenate(
        [joints, _project(joints, DEPTH_CAMERA), _project(joints, COLOR_CAMERA), _orientation(joints)], axis=-1
    )
    fields = values.astype(np.float32).astype(str)
    fields[:, LEAF_JOINTS, 7:] = "0"
    fields[(fields == "0.0") | (fields == "-0.0")] = "0"
    return fields


def _body_info(body_id: int, joints: np.ndarray) -> str:
    spine = joints[20] - joints[0]
    lean = np.clip(spine[[0, 2]] / max(float(np.linalg.norm(spine)), 1e-6), -1.0, 1.0).astype(np.float32)
    return f"{body_id} 0 1 1 1 1 0 {lean[0]!s} {lean[1]!s} 2"


def _format_skeleton(entries: list[list[tuple[int, np.ndarray]]], line_ending: str) -> str:
    flat = [joints for frame in entries for _, joints in frame]
    fields = _joint_fields(np.asarray(flat, dtype=np.float64).reshape(-1, NUM_JOINTS, 3))
    out = [str(len(entries))]
    block = 0
    for frame in entries:
        out.append(str(len(frame)))
        for body_id, joints in frame:
            out.append(_body_info(body_id, np.asarray(joints, dtype=np.float64)))
            out.append(str(NUM_JOINTS))
            out.extend(" ".join(row) + " 2" for row in fields[block].tolist())
            block += 1
    return line_ending.join(out) + line_ending


def write_skeleton(
    path: Path,
    bodies: np.ndarray,
    body_ids: list[int],
    line_ending: str = "\n",
    rng: np.random.Generator | None = None,
    noise_body_probability: float = 0.0,
) -> None:
    """Write ``bodies`` (T, M, 25, 3) as a real-format ``.skeleton`` file; an all-zero body is absent in that frame.

    With ``rng`` and ``noise_body_probability`` > 0, each frame starts a short-lived noisy body (a random
    bodyID, 3-29 frames of jittery points with a wide X spread) with that probability.
    """
    if bodies.ndim != 4 or bodies.shape[2:] != (NUM_JOINTS, 3):
        raise DataError(f"write_skeleton: bodies have shape {bodies.shape}, expected (T, M, 25, 3)")
    if len(body_ids) != bodies.shape[1]:
        raise DataError(f"write_skeleton: {len(body_ids)} bodyIDs for {bodies.shape[1]} bodies")
    if line_ending not in ("\n", "\r\n"):
        raise DataError(f"write_skeleton: line_ending is {line_ending!r}, expected '\\n' or '\\r\\n'")
    text = _format_skeleton(_frame_entries(bodies, body_ids, rng, noise_body_probability), line_ending)
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        temporary.write_bytes(text.encode("ascii"))
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
