"""pyskl / mmaction2 annotation pickles: import into a store, export a store, round trips, malformed files."""

from __future__ import annotations

import dataclasses
import json
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner, Result

from tests.conftest import SAMPLES, TINY_SYNTH, leftovers, needs_shared
from zsbench.catalog import DATASETS
from zsbench.cli.main import app
from zsbench.data.datasets import partition_masks
from zsbench.data.preprocess import PrepareOptions, to_fixed_length
from zsbench.data.store import load_store

runner = CliRunner()


def _ok(args: list[str]) -> Result:
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return result


def _fails(args: list[str], code: int, *needles: str) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == code, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    for needle in needles:
        assert needle in result.stderr, (needle, result.stderr)


def _snapshot(home: Path, name: str) -> tuple[np.ndarray, pd.DataFrame]:
    store = load_store(home / "datasets", name, "")
    return np.array(store.skeletons), store.index.copy()


def _masks(index: pd.DataFrame, name: str, partition: str) -> tuple[np.ndarray, np.ndarray]:
    return partition_masks(index, DATASETS.get(name), partition)


def _pyskl_select(content: dict[str, Any], split_name: str) -> list[dict[str, Any]]:
    """What pyskl's PoseDataset.load_pkl_annotations keeps for one split name (its filtering, restated)."""
    wanted = set(content["split"][split_name])
    return [item for item in content["annotations"] if item["frame_dir"] in wanted]


def test_real_samples_round_trip_through_a_pyskl_pickle(empty_home: Path, tmp_path: Path) -> None:
    folder = needs_shared(SAMPLES / "ntu")
    _ok(["prepare", "ntu60", "--root", str(folder), "--workers", "1"])
    before, index = _snapshot(empty_home, "ntu60")
    out = tmp_path / "ntu60_zsbench.pkl"
    _ok(["export", "ntu60", "--pyskl", str(out)])
    content = pickle.loads(out.read_bytes())
    assert sorted(content["split"]) == ["xsub_train", "xsub_val", "xview_train", "xview_val"]
    assert type(content["annotations"]) is list and b"zsbench" not in out.read_bytes()  # plain objects only
    by_name = {item["frame_dir"]: item for item in content["annotations"]}
    assert set(by_name) == set(index["sample"])
    # pyskl writes single-person samples with one body; the mutual actions (A050-A060) keep two.
    assert by_name["S001C001P001R001A001"]["keypoint"].shape == (1, 64, 25, 3)
    assert by_name["S001C003P008R002A058"]["keypoint"].shape == (2, 64, 25, 3)
    assert by_name["S017C003P020R002A055"]["label"] == 54 and by_name["S017C003P020R002A055"]["total_frames"] == 64
    # pyskl's own split filter selects exactly the store's partition members.
    train, _ = _masks(index, "ntu60", "xsub")
    assert sorted(i["frame_dir"] for i in _pyskl_select(content, "xsub_train")) == sorted(index["sample"][train])
    _ok(["prepare", "ntu60", "--pyskl", str(out)])
    after, again = _snapshot(empty_home, "ntu60")
    np.testing.assert_array_equal(after, before)
    assert list(again["sample"]) == list(index["sample"]) and list(again["label"]) == list(index["label"])
    for partition in ("xsub", "xview"):
        assert f"partition_{partition}" in again.columns  # kept from the pickle, not recomputed
        for mine, theirs in zip(_masks(index, "ntu60", partition), _masks(again, "ntu60", partition), strict=True):
            np.testing.assert_array_equal(mine, theirs)
    manifest = json.loads((empty_home / "datasets" / "ntu60" / "manifest.json").read_text())
    assert manifest["pickle_partitions"] == ["xsub", "xview"] and manifest["unlisted_samples"] == {
        "xsub": 0,
        "xview": 0,
    }


def test_a_padded_store_exports_each_sample_at_its_own_length(empty_home: Path, tmp_path: Path) -> None:
    folder = needs_shared(SAMPLES / "ntu")
    _ok(["prepare", "ntu60", "--root", str(folder), "--workers", "1", "--temporal", "pad", "--frames", "120"])
    before, _ = _snapshot(empty_home, "ntu60")
    out = tmp_path / "padded.pkl"
    _ok(["export", "ntu60", "--pyskl", str(out)])
    lengths = {i["frame_dir"]: i["total_frames"] for i in pickle.loads(out.read_bytes())["annotations"]}
    assert lengths["S001C001P001R001A001"] == 103 and lengths["S017C003P020R002A054"] == 42  # formats.md §2 table
    _ok(["prepare", "ntu60", "--pyskl", str(out), "--temporal", "pad", "--frames", "120"])
    np.testing.assert_array_equal(_snapshot(empty_home, "ntu60")[0], before)


def test_the_synthetic_set_round_trips(empty_home: Path, tmp_path: Path) -> None:
    from zsbench.data.prepare import prepare_synthetic

    config = dataclasses.replace(TINY_SYNTH, train_subjects=1, test_subjects=1, replications=1, cameras=(1, 2))
    prepare_synthetic("ntu60-synth", config)
    before, index = _snapshot(empty_home, "ntu60-synth")
    out = tmp_path / "synth.pkl"
    _ok(["export", "ntu60-synth", "--pyskl", str(out)])
    _ok(["prepare", "ntu60", "--pyskl", str(out), "--frames", str(config.frames)])
    after, again = _snapshot(empty_home, "ntu60")
    np.testing.assert_array_equal(after, before)
    np.testing.assert_array_equal(again["label"], index["label"])
    np.testing.assert_array_equal(again["subject"], index["subject"])


def _annotation(name: str, keypoint: np.ndarray, label: int | None = None) -> dict[str, Any]:
    label = int(name[17:20]) - 1 if label is None else label
    return {"frame_dir": name, "label": label, "keypoint": keypoint, "total_frames": keypoint.shape[1]}


def _pyskl_style(rng: np.random.Generator) -> dict[str, Any]:
    """A file laid out as pyskl's ntu_preproc.py writes it: float16 keypoints, one body unless mutual."""
    one = rng.normal(size=(1, 30, 25, 3)).astype(np.float16)
    two = rng.normal(size=(2, 20, 25, 3)).astype(np.float16)
    later = rng.normal(size=(1, 10, 25, 3)).astype(np.float16)
    names = ["S001C001P001R001A001", "S002C002P003R001A051", "S018C001P050R001A001"]
    return {
        # The pickle's own lists: P003 is a test subject by the NTU rule but listed for training here.
        "split": {"xsub_train": names[:2], "xsub_val": [], "xview_train": [names[1]], "xview_val": [names[0]]},
        "annotations": [_annotation(names[0], one), _annotation(names[1], two), _annotation(names[2], later)],
    }


def test_a_pyskl_style_file_becomes_a_store_with_its_own_partitions(empty_home: Path, tmp_path: Path) -> None:
    content = _pyskl_style(np.random.default_rng(0))
    content["split"]["xsub_val"] = ["S099C001P001R001A001"]  # a name without annotation: ignored
    content["split"]["xsub_val"].append("S001C001P001R001A001")  # ... and a clash: train and test
    path = tmp_path / "ntu60_3danno.pkl"
    path.write_bytes(pickle.dumps(content))
    _fails(["prepare", "ntu60", "--pyskl", str(path)], 3, str(path), "'split'", "both training and testing")
    content["split"]["xsub_val"] = ["S099C001P001R001A001"]
    content["split"]["xsub_train"] = ["S002C002P003R001A051"]
    content["split"]["xsub_val"].append("S001C001P001R001A001")
    path.write_bytes(pickle.dumps(content))
    assert "left out 1 samples of NTU-120" in _ok(["prepare", "ntu60", "--pyskl", str(path), "--frames", "16"]).stderr
    skeletons, index = _snapshot(empty_home, "ntu60")
    assert list(index["sample"]) == ["S001C001P001R001A001", "S002C002P003R001A051"]  # S018: NTU-120, left out
    options = PrepareOptions(frames=16)
    for row, item in enumerate(content["annotations"][:2]):
        expected = to_fixed_length(item["keypoint"].astype(np.float32).transpose(1, 0, 2, 3), options)
        np.testing.assert_array_equal(skeletons[row], expected)
    assert list(index["bodies"]) == [1, 2] and list(index["frames"]) == [30, 20]
    assert list(index["partition_xsub"]) == ["test", "train"]  # the pickle's lists, not the subject rule
    manifest = json.loads((empty_home / "datasets" / "ntu60" / "manifest.json").read_text())
    assert manifest["left_out_ntu120_setups"] == 1


def _bad_cases(rng: np.random.Generator) -> list[tuple[str, Any, tuple[str, ...]]]:
    def edited(index: int, **changes: Any) -> dict[str, Any]:
        content = _pyskl_style(rng)
        content["annotations"][index].update(changes)
        return content

    duplicate = _pyskl_style(rng)
    duplicate["annotations"][1] = dict(duplicate["annotations"][0])
    return [
        ("list", [1, 2], ("a list", "expected a dict with keys 'split' and 'annotations'")),
        ("no-annotations", {"split": {}}, ("key 'annotations' is missing",)),
        ("split-not-dict", {"split": [], "annotations": []}, ("key 'split'", "expected a dict")),
        ("empty", {"split": {}, "annotations": []}, ("key 'annotations' is an empty list",)),
        ("not-a-dict", {"split": {}, "annotations": [3]}, ("annotations[0]", "expected a dict")),
        ("no-keypoint", edited(0, keypoint=None), ("annotations[0]", "key 'keypoint'", "float array")),
        ("2d", edited(0, keypoint=np.zeros((1, 5, 17, 2), np.float32)), ("annotations[0]", "(M, T, 25, 3)")),
        ("frames", edited(1, total_frames=7), ("annotations[1]", "key 'total_frames'", "20")),
        ("float-label", edited(0, label=0.0), ("annotations[0]", "key 'label'", "integer class index")),
        ("wrong-label", edited(0, label=5), ("annotations[0]", "key 'label' is 5", "A001")),
        ("range", edited(0, frame_dir="x", label=60), ("annotations[0]", "key 'label' is 60", "0..59")),
        ("nan", edited(0, keypoint=np.full((1, 4, 25, 3), np.nan, np.float32), total_frames=4),
         ("annotations[0]", "key 'keypoint'", "finite")),
        ("duplicate", duplicate, ("annotations[1]", "repeats annotations[0]")),
    ]  # fmt: skip


def test_malformed_files_are_rejected_naming_file_key_and_expectation(empty_home: Path, tmp_path: Path) -> None:
    for label, content, needles in _bad_cases(np.random.default_rng(1)):
        path = tmp_path / f"{label}.pkl"
        path.write_bytes(pickle.dumps(content))
        _fails(["prepare", "ntu60", "--pyskl", str(path)], 3, str(path), *needles)
    garbage = tmp_path / "garbage.pkl"
    garbage.write_bytes(b"\x00not a pickle")
    _fails(["prepare", "ntu60", "--pyskl", str(garbage)], 3, str(garbage), "not a readable pickle")
    stranger = tmp_path / "stranger.pkl"
    stranger.write_bytes(b"cno_such_module_zz\nThing\n.")  # protocol 0: load a global from a missing module
    _fails(["prepare", "ntu60", "--pyskl", str(stranger)], 3, str(stranger), "not a readable pickle")
    _fails(["prepare", "ntu60", "--pyskl", str(tmp_path / "absent.pkl")], 3, "absent.pkl", "not found")
    datasets = empty_home / "datasets"
    assert not (datasets / "ntu60").exists()
    assert leftovers(empty_home) == []


@pytest.mark.parametrize(
    ("args", "code", "needle"),
    [
        (["export", "ntu60-features", "--pyskl", "x.pkl"], 2, "only skeleton stores"),
        (["export", "ntu60", "--pyskl", "x.pkl"], 3, "not prepared"),
        (["export", "ntu60"], 2, "--pyskl"),
        (["prepare", "ntu60-synth", "--pyskl", "x.pkl"], 2, "ntu60 or ntu120"),
    ],
)
def test_export_and_import_refuse_what_they_cannot_do(
    empty_home: Path, args: list[str], code: int, needle: str
) -> None:
    _fails(args, code, needle)


def test_export_streams_the_annotations_instead_of_holding_them_all(tmp_path: Path) -> None:
    import tracemalloc

    from zsbench.data.readers.pyskl import write_pyskl

    count = 200
    skeletons = np.random.default_rng(4).normal(size=(count, 3, 64, 25, 2)).astype(np.float32)
    names = [f"S001C001P001R001A{1 + i % 60:03d}#{i}" for i in range(count)]
    tracemalloc.start()
    try:
        write_pyskl(tmp_path / "big.pkl", skeletons, names, np.arange(count) % 60, np.full(count, 64), {})
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < skeletons.nbytes / 10  # a list of every exported keypoint would need about skeletons.nbytes
    loaded = pickle.loads((tmp_path / "big.pkl").read_bytes())["annotations"]
    np.testing.assert_array_equal(loaded[7]["keypoint"], skeletons[7].transpose(3, 1, 2, 0))
