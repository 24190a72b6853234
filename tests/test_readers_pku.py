from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import SAMPLES, needs_shared
from zsbench.data.readers import pku
from zsbench.errors import DataError

PKU = SAMPLES / "pku-mmd"


@pytest.fixture(scope="module")
def interaction() -> np.ndarray:
    return pku.read_skeleton(needs_shared(PKU / "PKU_Skeleton_Renew" / "0310-R.txt"))


@pytest.fixture(scope="module")
def daily() -> np.ndarray:
    return pku.read_skeleton(needs_shared(PKU / "PKU_Skeleton_Renew" / "0160-L.txt"))


def _labels(video: str) -> list[pku.Segment]:
    return pku.read_labels(needs_shared(PKU / "Train_Label_PKU_final" / f"{video}.txt"))


def test_interaction_video_has_two_bodies(interaction: np.ndarray) -> None:
    assert interaction.shape == (1158, 2, 25, 3) and interaction.dtype == np.float32
    assert np.all(np.any(interaction[:, 0] != 0, axis=(1, 2))) and np.any(interaction[:, 1] != 0)
    assert interaction[0, 0, 0].tolist() == np.array([-0.866605, -0.100693, 2.731147], dtype=np.float32).tolist()
    assert 1.5 < float(interaction[..., 2][interaction[..., 2] != 0].mean()) < 3.5  # z in metres


def test_single_person_video_has_body_two_all_zeros(daily: np.ndarray) -> None:
    assert daily.shape == (2566, 2, 25, 3)
    assert not np.any(daily[:, 1]) and np.all(np.any(daily[:, 0] != 0, axis=(1, 2)))


def test_labels() -> None:
    interaction, daily = _labels("0310-R"), _labels("0160-L")
    assert len(interaction) == 8 and len(daily) == 16
    assert interaction[0] == pku.Segment(label=26, start=148, end=192, confidence=2)
    assert {segment.label + 1 for segment in interaction} == {12, 14, 16, 18, 21, 24, 26, 27}
    assert {segment.confidence for segment in daily} == {1, 2}
    for segments in (interaction, daily):
        assert all(0 <= s.label < 51 and s.start < s.end for s in segments)
        assert all(a.end <= b.start for a, b in itertools.pairwise(segments))


def test_cut_segments(interaction: np.ndarray, daily: np.ndarray) -> None:
    for skeleton, segments in ((interaction, _labels("0310-R")), (daily, _labels("0160-L"))):
        pieces = pku.cut_segments(skeleton, segments)
        assert [len(piece) for piece in pieces] == [s.end - s.start for s in segments]
        assert np.array_equal(pieces[0], skeleton[segments[0].start : segments[0].end])
    first = _labels("0310-R")[0]
    shifted = pku.cut_segments(interaction, [first], frame_base=1)[0]
    assert np.array_equal(shifted, interaction[first.start - 1 : first.end - 1])
    with pytest.raises(DataError, match=r"0310-R: segment 1 \(label 27, frames 148..1200\) does not fit in 1158"):
        pku.cut_segments(interaction, [pku.Segment(26, 148, 1200, 2)], source="0310-R")
    with pytest.raises(DataError, match="does not fit"):
        pku.cut_segments(interaction, [pku.Segment(26, 0, 10, 2)], frame_base=1)


@pytest.mark.parametrize(("name", "train", "test"), [("cross-subject", 944, 132), ("cross-view", 717, 359)])
def test_splits(name: str, train: int, test: int) -> None:
    train_videos, test_videos = pku.read_split(needs_shared(PKU / "Split" / f"{name}.txt"))
    assert (len(train_videos), len(test_videos)) == (train, test)
    assert len(set(train_videos) | set(test_videos)) == 1076 and not set(train_videos) & set(test_videos)
    assert train_videos[0] == "0002-L" and all(v.endswith(("-L", "-M", "-R")) for v in train_videos + test_videos)
    if name == "cross-view":
        assert all(v.endswith("-M") for v in test_videos) and not any(v.endswith("-M") for v in train_videos)


def test_bad_skeleton_files(tmp_path: Path) -> None:
    path = tmp_path / "0001-L.txt"
    row = " ".join(["0.5"] * 150)
    path.write_text(f"{row}\n{row}\n{' '.join(['0.5'] * 149)}\n")
    with pytest.raises(DataError, match=r"0001-L.txt: line 3: 149 values, expected 150"):
        pku.read_skeleton(path)
    path.write_text(f"{row}\n{row.replace('0.5', 'x', 1)}\n")
    with pytest.raises(DataError, match=r"0001-L.txt: line 2: value 1 is 'x'"):
        pku.read_skeleton(path)
    path.write_text(f"{' '.join(['0.5'] * 75)}\n" * 3)
    with pytest.raises(DataError, match=r"line 1: 75 values, expected 150"):
        pku.read_skeleton(path)
    path.write_text("")
    with pytest.raises(DataError, match="no frames"):
        pku.read_skeleton(path)
    path.write_text(f"{row}\n{row}\n")
    assert pku.read_skeleton(path).shape == (2, 2, 25, 3)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("27,148,192", "has 3 fields"),
        ("27,148,x,2", "not four integers"),
        ("52,148,192,2", "label is 52, expected 1..51"),
        ("0,148,192,2", "label is 0"),
        ("27,192,192,2", "start 192 and end 192"),
        ("27,148,192,3", "confidence is 3"),
    ],
)
def test_bad_label_lines(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "0001-L.txt"
    path.write_text(f"4,134,207,2\n{line}\n")
    with pytest.raises(DataError, match=rf"0001-L.txt: line 2: .*{message}"):
        pku.read_labels(path)


def test_label_file_tolerates_spaces_and_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "0001-L.txt"
    path.write_text("4, 134, 207, 2\r\n\n40,385,626,1")
    assert pku.read_labels(path) == [pku.Segment(3, 134, 207, 2), pku.Segment(39, 385, 626, 1)]


def test_bad_split_files(tmp_path: Path) -> None:
    path = tmp_path / "split.txt"
    path.write_text("Training videos: \n0002-L, 0002-M,\nValidation videos:\n0003-L , ,\n")
    assert pku.read_split(path) == (["0002-L", "0002-M"], ["0003-L"])
    path.write_text("Training videos: \n0002-L, 0002-M,\nValidataion videos: \n")
    with pytest.raises(DataError, match="3 non-empty lines, expected 4"):
        pku.read_split(path)
    path.write_text("Train: \n0002-L,\nValidataion videos: \n0003-L,\n")
    with pytest.raises(DataError, match="line 1: 'Train:'"):
        pku.read_split(path)
    path.write_text("Training videos: \n0002-L, 0002-X,\nValidataion videos: \n0003-L,\n")
    with pytest.raises(DataError, match="line 2: '0002-X' is not a video name"):
        pku.read_split(path)
