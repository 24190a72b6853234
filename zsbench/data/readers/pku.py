"""PKU-MMD phase 1: skeleton files, action labels and the official splits (formats.md §7)."""

from __future__ import annotations

import dataclasses
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from zsbench.data import values as checks
from zsbench.data.skeleton import MAX_BODIES, NUM_JOINTS
from zsbench.errors import DataError
from zsbench.families import FAMILIES

NUM_CLASSES = FAMILIES["pku51"].classes
FRAME_VALUES = MAX_BODIES * NUM_JOINTS * 3  # 150
CONFIDENCES = (1, 2)  # slight, strong
VIDEO_PATTERN = re.compile(r"^\d{4}-[LMR]$")
CAMERAS = {"L": 1, "M": 2, "R": 3}  # a video's view -> zsbench's camera id
TRAIN_HEADER = re.compile(r"^training videos:$", re.IGNORECASE)
TEST_HEADER = re.compile(r"^(validataion|validation|testing|test) videos:$", re.IGNORECASE)  # sic: "Validataion"


@dataclass(frozen=True)
class Segment:
    label: int  # 0-based
    start: int
    end: int
    confidence: int  # 1 slight, 2 strong
    line: int = dataclasses.field(default=0, compare=False)  # 1-based line in the label file (0: not from a file)

    @property
    def length(self) -> int:
        return self.end - self.start


def _read_text(path: Path, what: str) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError as error:
        raise DataError(f"{path}: cannot read the {what} ({error})") from error


def _diagnose_skeleton(path: Path) -> None:
    for number, line in enumerate(_read_text(path, "skeleton file").split("\n"), 1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != FRAME_VALUES:
            raise DataError(
                f"{path}: line {number}: {len(fields)} values, expected {FRAME_VALUES} (2 bodies x 25 x xyz)"
            )
        for position, field in enumerate(fields, 1):
            try:
                float(field)
            except ValueError:
                raise DataError(
                    f"{path}: line {number}: value {position} is {field[:40]!r}, expected a number"
                ) from None


def read_skeleton(path: Path, non_finite: str = "error") -> np.ndarray:
    """One video's skeletons, float32 (T, 2, 25, 3); body 2 is all zeros when only one person is present.

    A non-finite value is a DataError naming its line and position, unless ``non_finite`` is ``"zero"``
    (then it is set to 0).
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "input contained no data", handled below
            values = np.loadtxt(path, dtype=np.float64, comments=None, ndmin=2)
    except OSError as error:
        raise DataError(f"{path}: cannot read the skeleton file ({error})") from error
    except ValueError as error:
        _diagnose_skeleton(path)
        raise DataError(f"{path}: not a PKU-MMD skeleton file ({error})") from error
    if len(values) == 0:
        raise DataError(f"{path}: no frames, expected lines of {FRAME_VALUES} values")
    if values.shape[1] != FRAME_VALUES:
        _diagnose_skeleton(path)
        raise DataError(f"{path}: {values.shape[1]} values per line, expected {FRAME_VALUES}")
    with np.errstate(over="ignore"):  # a value beyond float32 becomes inf, reported below
        frames = values.astype(np.float32)

    def where(position: tuple[int, ...]) -> str:
        return f"{path}: line {position[0] + 1}: value {position[1] + 1}"

    checks.finite(frames, non_finite, where, str(path))
    return frames.reshape(-1, MAX_BODIES, NUM_JOINTS, 3)


def _parse_label_line(path: Path, number: int, line: str) -> Segment:
    parts = [part.strip() for part in line.split(",")]
    if len(parts) != 4:
        raise DataError(f"{path}: line {number}: {line!r} has {len(parts)} fields, expected label,start,end,confidence")
    try:
        label, start, end, confidence = (int(part) for part in parts)
    except ValueError:
        raise DataError(f"{path}: line {number}: {line!r} is not four integers label,start,end,confidence") from None
    if not 1 <= label <= NUM_CLASSES:
        raise DataError(f"{path}: line {number}: label is {label}, expected 1..{NUM_CLASSES}")
    if not 0 <= start < end:
        raise DataError(f"{path}: line {number}: start {start} and end {end}, expected 0 <= start < end")
    if confidence not in CONFIDENCES:
        raise DataError(f"{path}: line {number}: confidence is {confidence}, expected 1 (slight) or 2 (strong)")
    return Segment(label - 1, start, end, confidence, number)


def read_labels(path: Path) -> list[Segment]:
    """The labelled action instances of one video, from lines ``label,start,end,confidence`` (label 1-based)."""
    text = _read_text(path, "label file")
    return [
        _parse_label_line(path, number, line.strip()) for number, line in enumerate(text.split("\n"), 1) if line.strip()
    ]


def _video_names(path: Path, number: int, line: str) -> list[str]:
    names = [token.strip() for token in line.split(",") if token.strip()]
    for name in names:
        if not VIDEO_PATTERN.match(name):
            raise DataError(f"{path}: line {number}: {name[:40]!r} is not a video name like 0002-L")
    return names


def read_split(path: Path) -> tuple[list[str], list[str]]:
    """(train videos, test videos) of ``Split/cross-subject.txt`` or ``Split/cross-view.txt``.

    The file has 4 lines: a "Training videos:" header, the names separated by commas, a "Validataion videos:"
    header (sic) and the test names. Trailing commas, spaces and empty tokens are ignored.
    """
    lines = [(number, line.strip()) for number, line in enumerate(_read_text(path, "split file").split("\n"), 1)]
    lines = [(number, line) for number, line in lines if line]
    if len(lines) != 4:
        raise DataError(f"{path}: {len(lines)} non-empty lines, expected 4 (two headers, each followed by names)")
    (train_number, train_header), train, (test_number, test_header), test = lines
    if not TRAIN_HEADER.match(train_header):
        raise DataError(f"{path}: line {train_number}: {train_header[:40]!r}, expected 'Training videos:'")
    if not TEST_HEADER.match(test_header):
        raise DataError(f"{path}: line {test_number}: {test_header[:40]!r}, expected 'Validataion videos:'")
    return _video_names(path, *train), _video_names(path, *test)


def cut_segments(
    skeleton: np.ndarray,
    segments: list[Segment],
    frame_base: int = 0,
    source: str = "skeleton",
    label_file: str | None = None,
) -> list[np.ndarray]:
    """Slice each segment out of a video's (T, ...) array as ``skeleton[start - frame_base : end - frame_base]``.

    Intervals are half-open, as most PKU-MMD code treats them; ``frame_base=1`` reads start and end as 1-based.
    The slices are views. ``source`` names the video in error messages; with ``label_file``, an error names
    that file and the segment's line in it (the place to fix).
    """
    if frame_base not in (0, 1):
        raise DataError(f"frame_base is {frame_base}, expected 0 or 1")
    frames = len(skeleton)
    pieces = []
    for position, segment in enumerate(segments, 1):
        first, last = segment.start - frame_base, segment.end - frame_base
        if first < 0 or last > frames or first >= last:
            what = f"segment {position} (label {segment.label + 1}, frames {segment.start}..{segment.end})"
            if label_file is not None:
                raise DataError(
                    f"{label_file}: line {segment.line}: {what} does not fit in the {frames} frames of {source} "
                    f"with frame_base {frame_base}"
                )
            raise DataError(f"{source}: {what} does not fit in {frames} frames with frame_base {frame_base}")
        pieces.append(skeleton[first:last])
    return pieces
