from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import SAMPLES, needs_shared
from zsbench.data.readers import ntu
from zsbench.data.synthetic.kinematics import REST_POSE
from zsbench.errors import DataError

NTU = SAMPLES / "ntu"
# frames, distinct bodyIDs, line ending (formats.md §2 and SOURCES.md)
SAMPLE_FILES = {
    "S001C001P001R001A001": (103, 1, b"\n"),
    "S001C001P001R001A011": (82, 1, b"\r\n"),
    "S002C001P003R001A003": (100, 1, b"\r\n"),
    "S001C003P008R002A058": (70, 2, b"\r\n"),
    "S017C003P020R002A054": (42, 2, b"\n"),
    "S017C003P020R002A055": (66, 2, b"\n"),
}
IDS = [72057594037931101, 72057594037931102, 72057594037931103, 72057594037931104]


def _sample(stem: str) -> Path:
    return needs_shared(NTU / f"{stem}.skeleton")


def _assert_same(first: ntu.SkeletonSequence, second: ntu.SkeletonSequence) -> None:
    assert first.num_frames == second.num_frames
    assert list(first.bodies) == list(second.bodies)
    for body_id, track in first.bodies.items():
        assert np.array_equal(track.frames, second.bodies[body_id].frames)
        assert track.joints.dtype == second.bodies[body_id].joints.dtype == np.float32
        assert np.array_equal(track.joints, second.bodies[body_id].joints)


def _actor(frames: int, x: float, z: float = 3.0, sway: float = 0.02, seed: int = 0) -> np.ndarray:
    """A standing person in camera space, swaying sideways; (T, 25, 3) float32."""
    rng = np.random.default_rng(seed)
    phase = np.sin(np.linspace(0.0, 4.0 * np.pi, frames))[:, None, None]
    joints = REST_POSE[None] + np.array([x, 0.0, z]) + phase * np.array([sway, 0.0, 0.0])
    return (joints + rng.normal(0.0, 0.005, joints.shape)).astype(np.float32)


def _noisy_object(frames: int, seed: int = 1) -> np.ndarray:
    """Furniture: a wide, flat and jittery set of points (X spread far above 0.8 x Y spread)."""
    rng = np.random.default_rng(seed)
    base = np.stack([np.linspace(-0.8, 0.8, 25), rng.uniform(-0.05, 0.05, 25), np.full(25, 4.0)], axis=-1)
    return (base + rng.normal(0.0, 0.05, (frames, 25, 3))).astype(np.float32)


def _write(path: Path, bodies: np.ndarray, line_ending: str = "\n") -> Path:
    ntu.write_skeleton(path, bodies, IDS[: bodies.shape[1]], line_ending=line_ending)
    return path


# --- the real samples -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("stem", list(SAMPLE_FILES))
def test_samples_have_the_documented_frames_and_bodies(stem: str) -> None:
    frames, bodies, line_ending = SAMPLE_FILES[stem]
    path = _sample(stem)
    assert (b"\r\n" in path.read_bytes()[:200]) == (line_ending == b"\r\n")
    sequence = ntu.parse_skeleton(path)
    assert sequence.num_frames == frames
    assert len(sequence.bodies) == bodies
    for body_id, track in sequence.bodies.items():
        assert isinstance(body_id, int) and body_id > 2**53
        assert track.joints.shape == (len(track.frames), 25, 3) and track.joints.dtype == np.float32
        assert np.array_equal(track.frames, np.arange(frames))  # every sample body is tracked throughout
    _assert_same(sequence, ntu.reference_parse(path))


def test_first_joint_and_body_id_are_exact() -> None:
    sequence = ntu.parse_skeleton(_sample("S001C001P001R001A001"))
    assert list(sequence.bodies) == [72057594037931101]
    track = sequence.bodies[72057594037931101]
    assert track.frames[0] == 0
    assert track.joints[0, 0].tolist() == np.array([0.2181153, 0.1725972, 3.785547], dtype=np.float32).tolist()


@pytest.mark.parametrize("stem", ["S001C001P001R001A001", "S001C003P008R002A058", "S017C003P020R002A054"])
def test_select_bodies_on_samples_keeps_every_frame(stem: str) -> None:
    frames, bodies, _ = SAMPLE_FILES[stem]
    sequence = ntu.parse_skeleton(_sample(stem))
    selected = ntu.select_bodies(sequence)
    assert selected.shape == (frames, 2, 25, 3) and selected.dtype == np.float32
    assert np.all(np.any(selected[:, 0] != 0, axis=(1, 2)))
    assert np.any(selected[:, 1] != 0) == (bodies == 2)
    tracks = [track.joints for track in sequence.bodies.values()]
    assert any(np.array_equal(selected[:, 0], joints) for joints in tracks)


def test_missing_lists() -> None:
    ntu60 = ntu.read_missing_list(needs_shared(NTU / "NTU_RGBD_samples_with_missing_skeletons.txt"))
    ntu120 = ntu.read_missing_list(needs_shared(NTU / "NTU_RGBD120_samples_with_missing_skeletons.txt"))
    assert len(ntu60) == 302 and len(ntu120) == 535
    assert ntu60 <= ntu120
    assert "S001C002P005R002A008" in ntu60
    assert not ntu120 & set(SAMPLE_FILES)


def test_headerless_missing_list(tmp_path: Path) -> None:
    path = tmp_path / "samples_with_missing_skeletons.txt"
    path.write_text("S001C002P005R002A008\r\n  S001C002P006R001A008 \nnot a name\n\nS001C003P002R001A055")
    assert ntu.read_missing_list(path) == {"S001C002P005R002A008", "S001C002P006R001A008", "S001C003P002R001A055"}


def test_parse_name() -> None:
    name = ntu.parse_name("S017C003P020R002A055")
    assert name == ntu.SampleName(setup=17, camera=3, subject=20, replication=2, label=54)
    assert name.stem == "S017C003P020R002A055"
    for bad in ("S017C003P020R002A055.skeleton", "S17C003P020R002A055", "s017c003p020r002a055", ""):
        with pytest.raises(DataError, match="does not match"):
            ntu.parse_name(bad)


# --- synthetic files ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("line_ending", ["\n", "\r\n"])
def test_write_then_parse_round_trip(tmp_path: Path, line_ending: str) -> None:
    bodies = np.stack([_actor(20, -0.4), _actor(20, 0.4, seed=1)], axis=1)
    bodies[15:, 1] = 0.0  # the second person leaves
    path = _write(tmp_path / "S001C001P001R001A050.skeleton", bodies, line_ending)
    raw = path.read_bytes()
    assert raw.count(b"\r\n") == (raw.count(b"\n") if line_ending == "\r\n" else 0)
    lines = raw.decode().splitlines()
    assert lines[:4] == ["20", "2", lines[2], "25"] and lines[2].startswith("72057594037931101 ")
    assert len(lines[4].split()) == 12 and lines[4 + 3].split()[7:11] == ["0", "0", "0", "0"]  # Head is a leaf
    sequence = ntu.parse_skeleton(path)
    _assert_same(sequence, ntu.reference_parse(path))
    assert sequence.num_frames == 20 and list(sequence.bodies) == IDS[:2]
    assert np.array_equal(sequence.bodies[IDS[0]].joints, bodies[:, 0])
    assert np.array_equal(sequence.bodies[IDS[1]].frames, np.arange(15))
    assert np.array_equal(sequence.bodies[IDS[1]].joints, bodies[:15, 1])
    assert not list(tmp_path.glob(".*.tmp"))


def test_a_frame_without_bodies(tmp_path: Path) -> None:
    bodies = _actor(16, 0.0)[:, None]
    bodies[4] = 0.0
    path = _write(tmp_path / "empty_frame.skeleton", bodies)
    sequence = ntu.parse_skeleton(path)
    _assert_same(sequence, ntu.reference_parse(path))
    assert sequence.num_frames == 16
    assert 4 not in sequence.bodies[IDS[0]].frames.tolist()
    selected = ntu.select_bodies(sequence)
    assert selected.shape == (15, 2, 25, 3)
    assert np.array_equal(selected[:, 0], np.delete(bodies[:, 0], 4, axis=0))
    assert not np.any(selected[:, 1])


def test_three_or_more_bodies_are_denoised(tmp_path: Path) -> None:
    frames = 30
    bodies = np.zeros((frames, 4, 25, 3), dtype=np.float32)
    bodies[:, 0] = _actor(frames, -0.4, sway=0.01)
    bodies[:, 1] = _actor(frames, 0.4, sway=0.08, seed=1)  # moves more: actor 1
    bodies[5:25, 2] = _noisy_object(20)  # long enough to pass the length filter; removed by the spread filter
    bodies[10:16, 3] = _actor(6, 1.5, sway=0.3, seed=2)  # a bystander seen for 6 frames: the length filter
    path = _write(tmp_path / "crowd.skeleton", bodies)
    sequence = ntu.parse_skeleton(path)
    _assert_same(sequence, ntu.reference_parse(path))
    assert len(sequence.bodies) == 4
    assert b"\n4\n" in path.read_bytes()  # some frame holds 4 bodies
    selected = ntu.select_bodies(sequence)
    assert selected.shape == (frames, 2, 25, 3)
    assert np.array_equal(selected[:, 0], bodies[:, 1])
    assert np.array_equal(selected[:, 1], bodies[:, 0])
    assert ntu.select_bodies(sequence, max_bodies=1).shape == (frames, 1, 25, 3)


def test_non_overlapping_bodies_share_a_slot() -> None:
    def track(first: int, last: int, x: float, sway: float) -> ntu.BodyTrack:
        return ntu.BodyTrack(np.arange(first, last, dtype=np.int64), _actor(last - first, x, sway=sway))

    tracks = {
        1: track(0, 20, 0.0, 0.10),  # actor 1
        2: track(20, 40, 0.2, 0.08),  # after actor 1: joins its slot
        3: track(5, 35, -0.6, 0.05),  # overlaps actor 1: actor 2
        4: track(10, 30, 0.8, 0.02),  # overlaps both: discarded
    }
    selected = ntu.select_bodies(ntu.SkeletonSequence(45, tracks))
    assert selected.shape == (40, 2, 25, 3)  # frames 40..44 are empty
    assert np.array_equal(selected[:20, 0], tracks[1].joints) and np.array_equal(selected[20:, 0], tracks[2].joints)
    assert np.array_equal(selected[5:35, 1], tracks[3].joints) and not np.any(selected[:5, 1])


def test_select_bodies_handles_edge_cases() -> None:
    assert ntu.select_bodies(ntu.SkeletonSequence(3, {})).shape == (0, 2, 25, 3)
    short = {i: ntu.BodyTrack(np.arange(i, i + 5, dtype=np.int64), _actor(5, 0.5 * i, seed=i)) for i in range(3)}
    short[1] = ntu.BodyTrack(np.arange(1, 9, dtype=np.int64), _actor(8, 0.5, seed=1))
    selected = ntu.select_bodies(ntu.SkeletonSequence(10, short))  # all short: the longest is kept
    assert selected.shape == (8, 2, 25, 3) and np.array_equal(selected[:, 0], short[1].joints)


def test_writer_noise_bodies_are_removed_by_select_bodies(tmp_path: Path) -> None:
    clean = _actor(60, 0.0)[:, None]
    path = tmp_path / "noisy.skeleton"
    ntu.write_skeleton(path, clean, IDS[:1], rng=np.random.default_rng(7), noise_body_probability=0.05)
    sequence = ntu.parse_skeleton(path)
    _assert_same(sequence, ntu.reference_parse(path))
    assert len(sequence.bodies) > 1
    assert any(len(track.frames) > 11 for body_id, track in sequence.bodies.items() if body_id != IDS[0])
    selected = ntu.select_bodies(sequence)
    assert np.array_equal(selected[:, 0], clean[:, 0]) and not np.any(selected[:, 1])


# --- errors name the file and the line ------------------------------------------------------------------------


def _lines_of(tmp_path: Path) -> tuple[Path, list[str]]:
    path = _write(tmp_path / "broken.skeleton", _actor(4, 0.0)[:, None])
    return path, path.read_text().split("\n")


def _both_parsers_fail(path: Path, pattern: str) -> None:
    for parse in (ntu.parse_skeleton, ntu.reference_parse):
        with pytest.raises(DataError, match=pattern) as raised:
            parse(path)
        assert str(path) in str(raised.value)


def test_truncated_file(tmp_path: Path) -> None:
    path, lines = _lines_of(tmp_path)
    path.write_text("\n".join(lines[:40]) + "\n")  # cut after line 40, inside the second frame's joints
    _both_parsers_fail(path, r"line 41: the file ends early")
    path.write_text("\n".join(lines[:40]) + "\n" + " ".join(lines[40].split()[:2]))  # cut inside line 41
    _both_parsers_fail(path, r"line 41: .*joint line has 2 fields, expected 12")


def test_wrong_joint_count(tmp_path: Path) -> None:
    path, lines = _lines_of(tmp_path)
    assert lines[31] == "25"  # frame 2: line 30 frame's body count, 31 body info, 32 joint count
    path.write_text("\n".join([*lines[:31], "24", *lines[32:56], *lines[57:]]))
    _both_parsers_fail(path, r"line 32: joint count is 24, expected 25")


def test_non_numeric_token(tmp_path: Path) -> None:
    path, lines = _lines_of(tmp_path)
    for position, token in ((1, "1.2.3"), (5, "0.5q"), (11, "2-")):  # y; colorX; trackingState
        fields = lines[9].split()
        fields[position] = token
        path.write_text("\n".join([*lines[:9], " ".join(fields), *lines[10:]]))
        _both_parsers_fail(path, rf"line 10: field .*'{re.escape(token)}'")
        with pytest.raises(DataError, match=rf"field {position + 1} of the joint line is '{re.escape(token)}'"):
            ntu.parse_skeleton(path)
    path.write_text("\n".join([*lines[:2], lines[2].replace("72057594037931101", "body7"), *lines[3:]]))
    _both_parsers_fail(path, r"line 3: field .*'body7'")


@pytest.mark.parametrize("stem", sorted(SAMPLE_FILES))
def test_the_plain_path_reads_the_real_files_as_the_general_path_does(stem: str) -> None:
    data = _sample(stem).read_bytes()
    lines = data.split(b"\n")
    _, info_lines, _ = ntu._layout(lines, ntu._content_end(lines))
    rows = ntu.joint_rows(lines, info_lines)
    plain = ntu.plain_xyz(data, rows, len(info_lines))
    assert plain is not None  # real files are in the plain form, so they take the fast path
    assert plain.tobytes() == np.loadtxt(rows, comments=None, ndmin=2)[:, :3].tobytes()


def test_parse_skeleton_takes_the_plain_path_on_real_files(monkeypatch: pytest.MonkeyPatch) -> None:
    tables: list[int] = []
    general = ntu._table

    def recorded(rows: list[bytes], columns: int) -> np.ndarray:
        tables.append(columns)
        return general(rows, columns)

    monkeypatch.setattr(ntu, "_table", recorded)
    ntu.parse_skeleton(_sample("S001C003P008R002A058"))
    assert tables == [ntu.BODY_FIELDS]  # the body-info lines only: no all-fields pass over the joint lines


def test_blank_joint_lines_are_an_error_even_when_the_spaces_add_up(tmp_path: Path) -> None:
    path = _write(tmp_path / "blank.skeleton", _actor(2, 0.0)[:, None])
    lines = path.read_text().split("\n")
    lines[1] += " " * (ntu.NUM_JOINTS * (ntu.JOINT_FIELDS - 1))  # the spaces the blank lines lose, elsewhere
    lines[4:29] = [""] * ntu.NUM_JOINTS  # frame 1's joint lines
    path.write_text("\n".join(lines))
    for parse in (ntu.parse_skeleton, ntu.reference_parse):
        with pytest.raises(DataError, match=r"blank\.skeleton: line \d+"):
            parse(path)


@pytest.mark.parametrize("edit", [b"\t", b"  ", b" \n"], ids=["tab", "double space", "trailing space"])
def test_files_not_in_the_plain_form_take_the_general_path(tmp_path: Path, edit: bytes) -> None:
    path = _write(tmp_path / "plain.skeleton", np.stack([_actor(6, -0.4), _actor(6, 0.4, seed=3)], axis=1))
    data = path.read_bytes()
    lines = data.split(b"\n")
    row = lines[5]  # a joint line of body 1, frame 1
    changed = {b"\t": row.replace(b" ", b"\t", 1), b"  ": row.replace(b" ", b"  ", 1), b" \n": row + b" "}[edit]
    edited = b"\n".join([*lines[:5], changed, *lines[6:]])
    edited_lines = edited.split(b"\n")
    _, info_lines, _ = ntu._layout(edited_lines, ntu._content_end(edited_lines))
    rows = ntu.joint_rows(edited_lines, info_lines)
    assert ntu.plain_xyz(edited, rows, len(info_lines)) is None
    (tmp_path / "edited.skeleton").write_bytes(edited)
    _assert_same(ntu.parse_skeleton(tmp_path / "edited.skeleton"), ntu.parse_skeleton(path))


def test_wrong_field_count(tmp_path: Path) -> None:
    path, lines = _lines_of(tmp_path)
    path.write_text("\n".join([*lines[:49], " ".join(lines[49].split()[:11]), *lines[50:]]))
    _both_parsers_fail(path, r"line 50: .*joint line has 11 fields, expected 12")
    path.write_text("\n".join([*lines[:2], lines[2] + " 7", *lines[3:]]))
    _both_parsers_fail(path, r"line 3: .*body-info line has 11 fields, expected 10")


def test_trailing_content_and_bad_counts(tmp_path: Path) -> None:
    path, lines = _lines_of(tmp_path)
    path.write_text("\n".join(lines) + "\n1\n")
    _both_parsers_fail(path, r"unexpected content after the last frame")
    path.write_text("\n".join(["four", *lines[1:]]))
    _both_parsers_fail(path, r"line 1: .*frame count")
    path.write_text("")
    _both_parsers_fail(path, r"line 1: .*frame count")
    with pytest.raises(DataError, match="cannot read"):
        ntu.parse_skeleton(tmp_path / "absent.skeleton")
