"""A corpus of bad inputs (issue 16): each case asserts the exit code, that the message names the file and the
field, that no traceback was printed and that nothing is left behind (no staging, ``.old`` or temp files).

Bad files are built here from the real samples in ``../shared/data-samples`` (never copied into the repo) and
from synthetic data. Cases that could kill the process (SIGBUS, SIGKILL at the store swap) run in a subprocess.
"""

from __future__ import annotations

import errno
import json
import os
import pickle
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner, Result

from tests.conftest import SAMPLES, leftovers, needs_shared
from zsbench.cli.main import app
from zsbench.data import store
from zsbench.data.preprocess import PrepareOptions, to_fixed_length
from zsbench.data.readers import ntu, pku
from zsbench.splits import resolve

runner = CliRunner()
GOOD_NTU = ("S001C001P001R001A001", "S001C001P001R001A011", "S002C001P003R001A003")
CLI = [sys.executable, "-c", "from zsbench.cli.main import app; app()"]


# --- helpers -------------------------------------------------------------------------------------------------------


def _fails(result: Result, code: int, *needles: str) -> str:
    """The stderr of a command that must exit ``code`` cleanly (no traceback) with every needle in its message."""
    assert result.exit_code == code, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    for needle in needles:
        assert needle in result.stderr, (needle, result.stderr)
    return str(result.stderr)


def _prepare(*args: str) -> Result:
    return runner.invoke(app, ["prepare", *args])


def _ntu_lines(stem: str = "S001C001P001R001A001") -> list[str]:
    return needs_shared(SAMPLES / "ntu" / f"{stem}.skeleton").read_text().splitlines()


def _ntu_folder(tmp_path: Path, stems: tuple[str, ...] = GOOD_NTU) -> Path:
    folder = tmp_path / "raw"
    folder.mkdir(exist_ok=True)
    for stem in stems:
        (folder / f"{stem}.skeleton").symlink_to(needs_shared(SAMPLES / "ntu" / f"{stem}.skeleton"))
    return folder


def _expected_ntu(stem: str, frames: int) -> np.ndarray:
    sequence = ntu.select_bodies(ntu.parse_skeleton(SAMPLES / "ntu" / f"{stem}.skeleton"))
    return to_fixed_length(sequence, PrepareOptions(frames=frames))


def _pku_root(tmp_path: Path, labels: str | None = None, frames: int = 400, listed: bool = True) -> Path:
    """A PKU-MMD root holding a shortened copy of video 0310-R (its first ``frames`` lines)."""
    source = needs_shared(SAMPLES / "pku-mmd")
    root = tmp_path / "pku"
    for sub in ("PKU_Skeleton_Renew", "Train_Label_PKU_final", "Split"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    lines = (source / "PKU_Skeleton_Renew" / "0310-R.txt").read_text().splitlines()[:frames]
    (root / "PKU_Skeleton_Renew" / "0310-R.txt").write_text("\n".join(lines) + "\n")
    (root / "Train_Label_PKU_final" / "0310-R.txt").write_text(labels or "27,148,192,2\n18,261,282,2\n")
    for name in ("cross-subject.txt", "cross-view.txt"):
        text = (source / "Split" / name).read_text()
        (root / "Split" / name).write_text(text if listed else text.replace("0310-R", "0311-R"))
    return root


def _run_cli(args: list[str], home: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "ZSBENCH_HOME": str(home), "NO_COLOR": "1", **env}
    return subprocess.run([*CLI, *args], capture_output=True, text=True, env=environment, timeout=120)


# --- --skip-bad (raw NTU: SIGBUS; PKU-MMD: all zeros) -------------------------------------------------------------


def test_skip_bad_on_raw_ntu_keeps_the_good_samples_intact(tmp_path: Path) -> None:
    folder = _ntu_folder(tmp_path)
    (folder / "S001C001P001R001A002.skeleton").write_text("\n".join(_ntu_lines()[:40]) + "\n")  # truncated
    home = tmp_path / "home"
    done = _run_cli(["prepare", "ntu60", "--root", str(folder), "--skip-bad", "--workers", "2", "--frames", "24"], home)
    assert done.returncode == 0, (done.returncode, done.stderr)  # was 135 (SIGBUS)
    prepared = store.load_store(home / "datasets", "ntu60", "hint")
    assert prepared.index["sample"].tolist() == sorted(GOOD_NTU)
    for row, stem in enumerate(prepared.index["sample"]):
        assert np.array_equal(np.asarray(prepared.skeletons[row]), _expected_ntu(stem, 24))
    assert prepared.manifest["skipped"][0]["input"].endswith("A002.skeleton")
    assert "line" in prepared.manifest["skipped"][0]["reason"]
    assert leftovers(home) == []


def test_skip_bad_on_pku_stores_the_real_segments_not_zeros(empty_home: Path, tmp_path: Path) -> None:
    root = _pku_root(tmp_path, "27,148,192,2\n18,261,282,2\n26,374,999,2\n")  # the third does not fit in 400
    failed = _prepare("pku-mmd", "--root", str(root), "--workers", "1")
    _fails(failed, 3, "Train_Label_PKU_final/0310-R.txt: line 3", "segment")  # the label file's line, not the video
    assert leftovers(empty_home) == []
    result = _prepare("pku-mmd", "--root", str(root), "--skip-bad", "--frames", "16", "--workers", "1")
    assert result.exit_code == 0, result.output
    prepared = store.load_store(empty_home / "datasets", "pku-mmd", "hint")
    assert prepared.index["sample"].tolist() == ["0310-R#00", "0310-R#01"]
    skeleton = pku.read_skeleton(root / "PKU_Skeleton_Renew" / "0310-R.txt")
    for row, (start, end) in enumerate(((148, 192), (261, 282))):
        expected = to_fixed_length(skeleton[start:end], PrepareOptions(frames=16))
        assert np.abs(np.asarray(prepared.skeletons[row])).sum() > 0
        assert np.array_equal(np.asarray(prepared.skeletons[row]), expected)
    assert prepared.manifest["skipped"][0]["input"] == "0310-R#02"
    assert leftovers(empty_home) == []


# --- the store swap and staging folders ---------------------------------------------------------------------------


@pytest.mark.parametrize("point", ["swap", "after-swap"])
def test_a_prepare_killed_at_the_swap_keeps_a_valid_store(tmp_path: Path, point: str) -> None:
    home = tmp_path / "home"
    folder = _ntu_folder(tmp_path, GOOD_NTU[:2])
    first = _run_cli(["prepare", "ntu60", "--root", str(folder), "--frames", "16", "--workers", "1"], home)
    assert first.returncode == 0, first.stderr
    old = store.load_store(home / "datasets", "ntu60", "hint").content_hash
    (folder / f"{GOOD_NTU[2]}.skeleton").symlink_to(SAMPLES / "ntu" / f"{GOOD_NTU[2]}.skeleton")
    (folder / "S001C001P001R001A002.skeleton").write_text("\n".join(_ntu_lines()[:40]) + "\n")  # a skipped file
    args = ["prepare", "ntu60", "--root", str(folder), "--frames", "16", "--skip-bad", "--workers", "2"]
    killed = _run_cli(args, home, ZSBENCH_FAULT=point)
    assert killed.returncode == -9, (killed.returncode, killed.stderr)
    # whatever the kill left, the next reader finds a complete store: the old one, or the new one once swapped in
    recovered = store.load_store(home / "datasets", "ntu60", "hint")
    assert len(recovered.index) == (2 if point == "swap" else 3)
    assert (recovered.content_hash == old) == (point == "swap")
    assert not [p for p in (home / "datasets").iterdir() if ".old-" in p.name]
    again = _run_cli(args, home)  # a successful prepare removes the killed one's staging folder
    assert again.returncode == 0, again.stderr
    assert len(store.load_store(home / "datasets", "ntu60", "hint").index) == 3
    assert leftovers(home) == []


def test_staging_folders_of_dead_processes_are_removed_and_live_ones_kept(empty_home: Path, tmp_path: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    datasets = empty_home / "datasets"
    stale = datasets / f".ntu60.partial-{dead.pid}-0123abcd"
    live = datasets / f".ntu60.partial-{os.getppid()}-0123abcd"  # the pytest runner's parent is running
    for path in (stale, live):
        (path / "skeletons.npy").parent.mkdir(parents=True)
        (path / "skeletons.npy").write_bytes(b"x" * 1000)
    result = _prepare("ntu60", "--root", str(_ntu_folder(tmp_path, GOOD_NTU[:1])), "--frames", "8", "--workers", "1")
    assert result.exit_code == 0, result.output
    assert not stale.exists() and live.exists()
    names = [p.name for p in datasets.iterdir()]
    assert sorted(names) == sorted(["ntu60", live.name])


def test_a_failed_feature_prepare_leaves_nothing_and_is_never_reused(empty_home: Path, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    split = resolve("55/5", "ntu60")
    first = tmp_path / "first"
    _features(first / "shift_5_r", list(split.seen), rng)
    _features(first / "shift_val_5_r", list(split.validation_seen), rng)
    _features(first / "shift_12_r", list(resolve("48/12", "ntu60").seen), rng, test_width=128)  # bad: fails late
    failed = _prepare("ntu60-features", "--root", str(first))
    _fails(failed, 3, "shift_12_r/gtest.npy", "wide")
    assert leftovers(empty_home) == [] and not (empty_home / "datasets" / "ntu60-features").exists()
    second = tmp_path / "second"
    _features(second / "shift_5_r", list(split.seen), rng)  # no validation folder this time
    assert _prepare("ntu60-features", "--root", str(second)).exit_code == 0
    prepared = empty_home / "datasets" / "ntu60-features" / "synse_55-5"
    assert prepared.is_dir() and not (prepared / "validation").exists()  # the failed one's validation/ is not reused
    assert leftovers(empty_home) == []


def _features(
    folder: Path, seen: list[int], rng: np.random.Generator, test_width: int = 32, labels: np.ndarray | None = None
) -> None:
    folder.mkdir(parents=True)
    train_labels = np.repeat(seen, 2)
    test_labels = np.arange(60) if labels is None else labels
    np.save(folder / "train.npy", rng.normal(size=(len(train_labels), 32)).astype(np.float32))
    np.save(folder / "train_label.npy", train_labels)
    np.save(folder / "gtest.npy", rng.normal(size=(len(test_labels), test_width)).astype(np.float32))
    np.save(folder / "g_label.npy", test_labels)


# --- values the readers check -------------------------------------------------------------------------------------


def _ntu_with(tmp_path: Path, name: str, edit: Callable[[list[str]], None]) -> Path:
    folder = tmp_path / "raw"
    folder.mkdir(exist_ok=True)
    lines = _ntu_lines()
    edit(lines)
    (folder / f"{name}.skeleton").write_text("\n".join(lines) + "\n")
    return folder


def _set_field(line_index: int, field: int, value: str) -> Callable[[list[str]], None]:
    def edit(lines: list[str]) -> None:
        fields = lines[line_index].split()
        fields[field] = value
        lines[line_index] = " ".join(fields)

    return edit


@pytest.mark.parametrize(("value", "field"), [("nan", 0), ("inf", 1), ("-inf", 2), ("1e39", 0)])
def test_non_finite_ntu_coordinates_name_the_line_and_field(
    empty_home: Path, tmp_path: Path, value: str, field: int
) -> None:
    folder = _ntu_with(tmp_path, "S001C001P001R001A001", _set_field(10, field, value))
    result = _prepare("ntu60", "--root", str(folder), "--workers", "1")
    _fails(result, 3, "S001C001P001R001A001.skeleton", "line 11", f"field {field + 1} ({'xyz'[field]})", "finite")
    assert leftovers(empty_home) == [] and not (empty_home / "datasets" / "ntu60").exists()


def test_non_finite_zero_is_an_explicit_recorded_policy(empty_home: Path, tmp_path: Path) -> None:
    folder = _ntu_with(tmp_path, "S001C001P001R001A001", _set_field(10, 0, "nan"))
    result = _prepare("ntu60", "--root", str(folder), "--workers", "1", "--non-finite", "zero", "--frames", "8")
    assert result.exit_code == 0, result.output
    prepared = store.load_store(empty_home / "datasets", "ntu60", "hint")
    assert prepared.manifest["preprocessing"]["non_finite"] == "zero"
    assert np.isfinite(np.asarray(prepared.skeletons)).all()
    _fails(_prepare("ntu60", "--root", str(folder), "--non-finite", "drop"), 2, "--non-finite")
    assert leftovers(empty_home) == []


@pytest.mark.parametrize(
    ("name", "field"),
    [
        ("S001C001P001R001A000", "action A000"),
        ("S001C001P001R001A061", "action A061"),  # an NTU-120 class in ntu60
        ("S001C004P001R001A001", "camera C004"),
        ("S001C001P000R001A001", "performer P000"),
        ("S000C001P001R001A001", "setup S000"),
        ("S001C001P041R001A001", "performer P041"),
    ],
)
def test_sample_names_outside_the_dataset_are_refused(empty_home: Path, tmp_path: Path, name: str, field: str) -> None:
    folder = _ntu_with(tmp_path, name, lambda lines: None)
    _fails(_prepare("ntu60", "--root", str(folder), "--workers", "1"), 3, f"{name}.skeleton", field)
    assert leftovers(empty_home) == []


def test_a_sample_found_twice_is_refused(empty_home: Path, tmp_path: Path) -> None:
    folder = _ntu_folder(tmp_path, GOOD_NTU[:1])
    (folder / "copy").mkdir()
    (folder / "copy" / f"{GOOD_NTU[0]}.skeleton").write_text("\n".join(_ntu_lines()[:-25]) + "\n")
    _fails(_prepare("ntu60", "--root", str(folder), "--workers", "1"), 3, f"{GOOD_NTU[0]}.skeleton", "also")
    assert leftovers(empty_home) == []


def test_non_finite_pku_values_name_the_line(empty_home: Path, tmp_path: Path) -> None:
    root = _pku_root(tmp_path)
    path = root / "PKU_Skeleton_Renew" / "0310-R.txt"
    lines = path.read_text().splitlines()
    fields = lines[149].split()
    fields[4] = "nan"
    lines[149] = " ".join(fields)
    path.write_text("\n".join(lines) + "\n")
    _fails(_prepare("pku-mmd", "--root", str(root), "--workers", "1"), 3, "0310-R.txt: line 150: value 5", "finite")
    assert leftovers(empty_home) == []


def _stgcn(tmp_path: Path, names: list[str], labels: object, data: np.ndarray | None = None) -> list[str]:
    rng = np.random.default_rng(0)
    array = rng.normal(size=(len(names), 3, 12, 25, 2)).astype(np.float32) if data is None else data
    np.save(tmp_path / "train_data_joint.npy", array)
    (tmp_path / "train_label.pkl").write_bytes(pickle.dumps((names, labels)))
    return ["ntu60", "--stgcn-data", str(tmp_path / "train_data_joint.npy"),
            "--stgcn-label", str(tmp_path / "train_label.pkl"), "--frames", "12"]  # fmt: skip


NAMES = ["S001C001P001R001A001.skeleton", "S001C002P002R001A002.skeleton"]


@pytest.mark.parametrize(
    ("names", "labels", "needles"),
    [
        (NAMES, [0, 5], ("sample 1", "label is 5", "A002")),  # contradicts the name
        (NAMES, [0, 75], ("sample 1", "label is 75", "0..59")),
        (NAMES, [-1, 1], ("sample 0", "label is -1")),
        (NAMES, [0.0, 1.7], ("sample 0", "label is 0.0", "integer")),  # was truncated silently
        ([NAMES[0], NAMES[0]], [0, 0], ("sample 1", "repeats sample 0")),
        (["S001C001P001R001A061.skeleton", NAMES[1]], [60, 1], ("sample 0",)),
    ],
)
def test_stgcn_labels_and_names_are_checked(
    empty_home: Path, tmp_path: Path, names: list[str], labels: object, needles: tuple[str, ...]
) -> None:
    _fails(_prepare(*_stgcn(tmp_path, names, labels)), 3, "train_label.pkl", *needles)
    assert leftovers(empty_home) == []


def test_non_finite_array_values_name_the_sample(empty_home: Path, tmp_path: Path) -> None:
    data = np.random.default_rng(0).normal(size=(2, 3, 12, 25, 2)).astype(np.float32)
    data[1, 2, 3, 4, 0] = np.inf
    args = _stgcn(tmp_path, NAMES, [0, 1], data)
    _fails(_prepare(*args), 3, "train_data_joint.npy: sample 1", "frame 3, joint 5, body 1, coordinate z", "finite")
    x = np.zeros((3, 10, 150), dtype=np.float32)
    x[:, :5] = 1.0
    x[2, 1, 7] = np.nan
    np.savez(tmp_path / "NTU60_CS.npz", x_train=x[:2], y_train=np.eye(60)[[0, 1]], x_test=x[2:], y_test=np.eye(60)[[2]])
    _fails(_prepare("ntu60", "--npz", str(tmp_path / "NTU60_CS.npz")), 3, "NTU60_CS.npz: key 'x_test', sample 0")
    np.savez(
        tmp_path / "NTU60_CS.npz", x_train=x[:2], y_train=np.array([0, 75]), x_test=x[2:], y_test=np.array([2])
    )  # integer labels beyond ntu60's classes
    _fails(_prepare("ntu60", "--npz", str(tmp_path / "NTU60_CS.npz")), 3, "key 'y_train'", "sample 1", "label is 75")
    assert leftovers(empty_home) == []


@pytest.mark.parametrize(
    ("change", "needles"),
    [
        ("width", ("shift_5_r/gtest.npy", "128 wide", "train.npy has 32")),  # SynSE 256 vs 128: a traceback later
        ("nan", ("shift_5_r/train.npy: row 0, column 3", "finite")),
        ("label", ("shift_5_r/g_label.npy: row 0", "label is 60")),
    ],
)
def test_feature_store_values_and_widths_are_checked(
    empty_home: Path, tmp_path: Path, change: str, needles: tuple[str, ...]
) -> None:
    rng = np.random.default_rng(0)
    folder = tmp_path / "shift_5_r"
    labels = np.r_[60, np.arange(1, 60)] if change == "label" else None
    _features(folder, list(resolve("55/5", "ntu60").seen), rng, 128 if change == "width" else 32, labels)
    if change == "nan":
        train = np.load(folder / "train.npy")
        train[0, 3] = np.nan
        np.save(folder / "train.npy", train)
    _fails(_prepare("ntu60-features", "--root", str(tmp_path)), 3, *needles)
    assert leftovers(empty_home) == []


# --- smaller items ------------------------------------------------------------------------------------------------


def test_frame_base_is_0_or_1(empty_home: Path, tmp_path: Path) -> None:
    _fails(_prepare("pku-mmd", "--root", str(_pku_root(tmp_path)), "--frame-base", "2"), 2, "--frame-base", "0 or 1")
    assert leftovers(empty_home) == []


def test_a_video_in_no_split_list_is_warned_about(empty_home: Path, tmp_path: Path) -> None:
    root = _pku_root(tmp_path, listed=False)
    result = _prepare("pku-mmd", "--root", str(root), "--workers", "1", "--frames", "8")
    assert result.exit_code == 0, result.output
    assert "0310-R" in result.stderr and "no split list" in result.stderr
    prepared = store.load_store(empty_home / "datasets", "pku-mmd", "hint")
    assert prepared.manifest["unlisted_videos"] == ["0310-R"]
    assert leftovers(empty_home) == []


def test_a_zero_row_of_text_embeddings_is_refused(zsbench_home: Path, tmp_path: Path) -> None:
    table = np.random.default_rng(0).normal(size=(60, 8)).astype(np.float32)
    table[7] = 0
    np.save(tmp_path / "text.npy", table)
    result = runner.invoke(
        app, ["run", "--dataset", "ntu60-synth", "--set", f"text.encoder=npy:{tmp_path / 'text.npy'}"]
    )
    _fails(result, 3, "text.npy", "row 7", "all zeros")


# --- config ranges ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("assignment", "field"),
    [
        ("encoder.epochs=-3", "encoder.epochs"),
        ("method_params.batch_size=-8", "method_params.batch_size"),
        ("method_params.epochs=0", "method_params.epochs"),
        ("encoder.batch_size=0", "encoder.batch_size"),
        ("encoder.lr=nan", "encoder.lr"),
        ("method_params.lr=-0.1", "method_params.lr"),
        ("encoder.dim=0", "encoder.dim"),
        ("evaluation.validation_subject_fraction=1.5", "evaluation.validation_subject_fraction"),
        ("seed=-1", "seed"),
    ],
)
def test_config_numbers_out_of_range_exit_2_naming_the_field(zsbench_home: Path, assignment: str, field: str) -> None:
    result = runner.invoke(app, ["run", "--dataset", "ntu60-synth", "--set", assignment])
    _fails(result, 2, field, "expected")


@pytest.mark.parametrize("method", ["dvta", "dynapurls", "neuron", "pgfa"])
def test_every_method_checks_its_parameter_ranges(zsbench_home: Path, method: str) -> None:
    result = runner.invoke(
        app, ["run", "--dataset", "ntu60-synth", "--method", method, "--set", "method_params.epochs=0"]
    )
    _fails(result, 2, "method_params.epochs is 0", ">= 1")


# --- resource faults ----------------------------------------------------------------------------------------------


def _read_only(folder: Path, real_access: Callable[[Path, int], bool]) -> Callable[[Path, int], bool]:
    """``os.access`` as it answers for a read-only ``folder`` (chmod does not stop root, who runs the CI)."""

    def access(path: Path, mode: int) -> bool:
        return not (Path(path) == folder and mode & os.W_OK) and real_access(path, mode)

    return access


def test_a_read_only_results_folder_is_found_before_computing(
    zsbench_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    readonly = tmp_path / "runs"
    readonly.mkdir()
    monkeypatch.setattr(os, "access", _read_only(readonly, os.access))
    monkeypatch.setattr("zsbench.runner.resolve_run", lambda *a: pytest.fail("computing started"))
    result = runner.invoke(app, ["run", "--dataset", "ntu60-synth", "--results-dir", str(readonly)])
    _fails(result, 3, str(readonly), "not writable")


def test_a_read_only_datasets_folder_is_found_before_parsing(
    empty_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    datasets = empty_home / "datasets"
    datasets.mkdir()
    monkeypatch.setattr(os, "access", _read_only(datasets, os.access))
    result = _prepare("ntu60", "--root", str(_ntu_folder(tmp_path, GOOD_NTU[:1])), "--workers", "1")
    _fails(result, 3, str(datasets), "not writable")
    assert leftovers(empty_home) == []


def test_too_little_free_space_is_found_before_writing(
    empty_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from collections import namedtuple

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr("shutil.disk_usage", lambda path: usage(10**9, 10**9 - 1000, 1000))
    result = _prepare("ntu60", "--root", str(_ntu_folder(tmp_path, GOOD_NTU[:1])), "--workers", "1")
    _fails(result, 3, "datasets", "not enough free disk space")
    assert leftovers(empty_home) == []


def test_a_full_disk_while_writing_is_an_error_that_leaves_nothing(
    empty_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(*args: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "posix_fallocate", full)
    result = _prepare("ntu60", "--root", str(_ntu_folder(tmp_path, GOOD_NTU[:1])), "--workers", "1")
    _fails(result, 3, "ntu60", "disk is full")
    assert leftovers(empty_home) == []
    monkeypatch.undo()
    monkeypatch.setenv("ZSBENCH_HOME", str(empty_home))
    monkeypatch.setattr(store, "_content_hash", full)  # late: after the array and index are written
    _fails(
        _prepare("ntu60-synth", "--train-subjects", "1", "--test-subjects", "1", "--frames", "8"),
        3,
        "ntu60-synth",
        "disk is full",
    )
    assert leftovers(empty_home) == []


def test_manifest_of_every_prepared_store_is_readable_json(empty_home: Path, tmp_path: Path) -> None:
    """The cases above leave no store half-written: a prepared one always has a complete manifest."""
    result = _prepare("ntu60", "--root", str(_ntu_folder(tmp_path, GOOD_NTU[:1])), "--workers", "1", "--frames", "8")
    assert result.exit_code == 0, result.output
    manifest = json.loads((empty_home / "datasets" / "ntu60" / "manifest.json").read_text())
    assert manifest["num_samples"] == 1 and manifest["preprocessing"]["non_finite"] == "error"
