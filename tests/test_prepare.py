"""`zsbench prepare` on each input kind: write a small input, prepare, load through the store reader, compare."""

from __future__ import annotations

import hashlib
import json
import pickle
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from tests.conftest import SAMPLES, needs_shared
from zsbench.cli.main import app
from zsbench.data import store
from zsbench.data.preprocess import PrepareOptions, to_fixed_length
from zsbench.data.readers import ntu
from zsbench.data.synthetic.generator import SynthConfig
from zsbench.data.synthetic.skeleton_files import write_synthetic_skeletons

runner = CliRunner()


def _load(home: Path, name: str) -> store.SkeletonStore:
    return store.load_store(home / "datasets", name, "hint")


@pytest.fixture(scope="module")
def raw_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("raw")
    write_synthetic_skeletons(
        SynthConfig(train_subjects=1, test_subjects=1, replications=1, cameras=(1,), frames=40), folder, limit=30
    )
    for sample in needs_shared(SAMPLES / "ntu").glob("*.skeleton"):
        (folder / sample.name).symlink_to(sample)
    return folder


def test_raw_ntu_round_trip(raw_folder: Path, empty_home: Path) -> None:
    missing = SAMPLES / "ntu" / "NTU_RGBD_samples_with_missing_skeletons.txt"
    result = runner.invoke(
        app, ["prepare", "ntu60", "--root", str(raw_folder), "--missing", str(missing), "--frames", "48"]
    )
    assert result.exit_code == 0, result.output
    prepared = _load(empty_home, "ntu60")
    assert len(prepared.index) == 36 and prepared.skeletons.shape == (36, 3, 48, 25, 2)
    row = prepared.index.index[prepared.index["sample"] == "S001C003P008R002A058"][0]
    assert prepared.index.loc[row, ["label", "subject", "camera", "setup", "bodies", "frames"]].tolist() == [
        57,
        8,
        3,
        1,
        2,
        70,
    ]
    expected = to_fixed_length(
        ntu.select_bodies(ntu.parse_skeleton(raw_folder / "S001C003P008R002A058.skeleton")), PrepareOptions(frames=48)
    )
    assert np.array_equal(np.asarray(prepared.skeletons[row]), expected)
    manifest = prepared.manifest
    assert manifest["excluded_as_missing"] == 302 and len(manifest["inputs"]) == 36 and manifest["skipped"] == []
    for entry in manifest["inputs"]:
        assert entry["sha256"] == hashlib.sha256((raw_folder / entry["file"]).read_bytes()).hexdigest()


def test_bad_raw_file_names_file_and_line_or_is_skipped(raw_folder: Path, empty_home: Path, tmp_path: Path) -> None:
    folder = tmp_path / "raw"
    folder.mkdir()
    good = sorted(raw_folder.glob("S001C001P001R001A001.skeleton"))[0]
    (folder / good.name).symlink_to(good)
    lines = good.read_text().splitlines()
    (folder / "S001C001P001R001A002.skeleton").write_text("\n".join(lines[:40]) + "\n")
    failed = runner.invoke(app, ["prepare", "ntu60", "--root", str(folder), "--workers", "1"])
    assert failed.exit_code == 3
    assert "S001C001P001R001A002.skeleton" in failed.stderr and "line" in failed.stderr
    assert not (empty_home / "datasets" / "ntu60").exists()
    assert not [p for p in (empty_home / "datasets").iterdir() if p.name.startswith(".")]
    skipped = runner.invoke(app, ["prepare", "ntu60", "--root", str(folder), "--skip-bad"])
    assert skipped.exit_code == 0, skipped.output
    manifest = json.loads((empty_home / "datasets" / "ntu60" / "manifest.json").read_text())
    assert manifest["num_samples"] == 1 and manifest["skipped"][0]["input"].endswith("A002.skeleton")


def test_pku_round_trip_with_partitions(empty_home: Path, tmp_path: Path) -> None:
    source = needs_shared(SAMPLES / "pku-mmd")
    root = tmp_path / "pku"
    for sub in ("PKU_Skeleton_Renew", "Train_Label_PKU_final", "Split"):
        (root / sub).mkdir(parents=True)
        for file in (source / sub).iterdir():
            (root / sub / file.name).symlink_to(file)
    result = runner.invoke(app, ["prepare", "pku-mmd", "--root", str(root), "--frames", "32"])
    assert result.exit_code == 0, result.output
    prepared = _load(empty_home, "pku-mmd")
    index = prepared.index
    assert len(index) == 8 + 16
    first = index[index["sample"] == "0310-R#00"].iloc[0]
    labels = (source / "Train_Label_PKU_final" / "0310-R.txt").read_text().split()[0].split(",")
    assert first["label"] == int(labels[0]) - 1 and first["frames"] == int(labels[2]) - int(labels[1])
    assert set(index["partition_xsub"]) <= {"train", "test"} and set(index["partition_xview"]) <= {"train", "test"}
    assert (index[index["sample"].str.startswith("0160-L")]["bodies"] == 1).all()


def test_ctrgcn_npz_and_stgcn_arrays_round_trip(empty_home: Path, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x = np.zeros((5, 30, 150), dtype=np.float32)
    x[:, :20] = rng.normal(size=(5, 20, 150))
    y = np.eye(60)[[0, 1, 2, 3, 4]]
    np.savez(tmp_path / "NTU60_CS.npz", x_train=x[:3], y_train=y[:3], x_test=x[3:], y_test=y[3:])
    assert (
        runner.invoke(app, ["prepare", "ntu60", "--npz", str(tmp_path / "NTU60_CS.npz"), "--frames", "20"]).exit_code
        == 0
    )
    prepared = _load(empty_home, "ntu60")
    assert prepared.index["partition_xsub"].tolist() == ["train"] * 3 + ["test"] * 2
    assert prepared.labels.tolist() == [0, 1, 2, 3, 4] and prepared.index["frames"].tolist() == [20] * 5
    expected = x[1, :20].reshape(20, 2, 25, 3).transpose(3, 0, 2, 1)
    assert np.allclose(np.asarray(prepared.skeletons[1]), expected, atol=1e-6)

    data = rng.normal(size=(2, 3, 16, 25, 2)).astype(np.float32)
    np.save(tmp_path / "val_data_joint.npy", data)
    names = ["S003C002P007R001A010.skeleton", "S004C001P010R002A020.skeleton"]
    (tmp_path / "val_label.pkl").write_bytes(pickle.dumps((names, [9, 19])))
    args = ["prepare", "ntu60", "--stgcn-data", str(tmp_path / "val_data_joint.npy"),
            "--stgcn-label", str(tmp_path / "val_label.pkl"), "--frames", "16"]  # fmt: skip
    assert runner.invoke(app, args).exit_code == 0
    prepared = _load(empty_home, "ntu60")
    assert prepared.index["subject"].tolist() == [7, 10] and prepared.index["camera"].tolist() == [2, 1]
    assert np.allclose(np.asarray(prepared.skeletons), data, atol=1e-6)


def test_missing_root_exits_3_with_how_to_obtain(empty_home: Path) -> None:
    result = runner.invoke(app, ["prepare", "pku-mmd"])
    assert result.exit_code == 3 and "no --root given" in result.stderr and "ntu60-synth" in result.stderr


def test_smie_split_arrays_round_trip_and_run_only_on_their_split(empty_home: Path, tmp_path: Path) -> None:
    from zsbench.splits import resolve

    rng = np.random.default_rng(3)
    split = resolve("smie:1", "ntu60")
    folder = tmp_path / "zeroshot" / "split_1"
    folder.mkdir(parents=True)
    seen_labels = np.repeat(np.array(split.seen), 2)
    unseen_labels = np.repeat(np.array(split.unseen), 3)
    seen = rng.normal(size=(len(seen_labels), 3, 50, 25, 2)).astype(np.float32)
    seen[:, :, 40:] = 0  # ten padded frames
    np.save(folder / "seen_train_data.npy", seen)
    np.save(folder / "seen_train_label.npy", seen_labels)
    np.save(folder / "unseen_data.npy", rng.normal(size=(len(unseen_labels), 3, 50, 25, 2)).astype(np.float32))
    np.save(folder / "unseen_label.npy", unseen_labels)
    result = runner.invoke(app, ["prepare", "ntu60-smie", "--root", str(tmp_path / "zeroshot"), "--frames", "40"])
    assert result.exit_code == 0, result.output
    prepared = store.load_store(empty_home / "datasets" / "ntu60-smie", "smie_1", "hint")
    assert prepared.manifest["split"] == "smie:1" and len(prepared.index) == len(seen_labels) + len(unseen_labels)
    assert np.allclose(np.asarray(prepared.skeletons[0]), seen[0, :, :40], atol=1e-6)  # the padding is dropped
    args = ["run", "--dataset", "ntu60-smie", "--json", "--set", "encoder.epochs=1", "--set", "method_params.epochs=2"]
    run = runner.invoke(app, [*args, "--split", "smie:1"])
    assert run.exit_code == 0, run.output
    record = json.loads(run.stdout)
    assert 0 <= record["metrics"]["zsl_top1"] <= 1 and record["metrics"]["gzsl_h"] is None  # undefined: null
    assert record["calibration"]["note"].startswith("no seen-class test samples")
    other = runner.invoke(app, [*args, "--split", "smie:2"])
    assert other.exit_code == 3 and "only the splits it was made from" in other.stderr


def test_centre_uses_actor_1s_first_present_frame() -> None:
    """Issue 15.3: when actor 1 is absent in the first frames, centre on its first present frame (CTR-GCN)."""
    rng = np.random.default_rng(0)
    sequence = rng.normal(size=(6, 2, 25, 3)).astype(np.float32) + 5.0
    sequence[:2, 0] = 0.0  # actor 1 enters in frame 2; actor 2 is there from the start
    centred = to_fixed_length(sequence, PrepareOptions(frames=6, temporal="pad", centre=True))  # (3, T, 25, 2)
    origin = sequence[2, 0, 1]  # SpineMid of actor 1 in its first present frame
    assert np.allclose(centred[:, 2, 1, 0], 0.0, atol=1e-6)
    assert np.allclose(centred[:, 0, :, 1], (sequence[0, 1] - origin).T, atol=1e-5)
    assert np.all(centred[:, :2, :, 0] == 0)  # absent frames stay absent (zeros), not minus the origin


def test_raw_prepare_memory_is_flat_in_the_file_count(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Workers write their samples into the store file; only small reports reach the collecting process."""
    import tracemalloc

    from zsbench.bench.prepare import real_corpus
    from zsbench.data.prepare import prepare_ntu

    sample_bytes = 3 * PrepareOptions().frames * 25 * 2 * 4  # 38 KB per stored float32 sample
    peaks = {}
    for count in (120, 240):  # both stores above the 4 MB read block of the content hash
        real_corpus(needs_shared(SAMPLES / "ntu"), count, tmp_path / f"raw-{count}")
        monkeypatch.setenv("ZSBENCH_HOME", str(tmp_path / f"home-{count}"))
        tracemalloc.start()
        path = prepare_ntu("ntu120", tmp_path / f"raw-{count}", PrepareOptions(), workers=1)
        peaks[count] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert len(store.load_store(path.parent, "ntu120", "hint").index) == count
    # holding the 120 extra samples would add 120 x 38 KB = 4.6 MB; their reports and index rows about 1 KB each
    assert peaks[240] - peaks[120] < 120 * sample_bytes / 8, peaks


def test_raw_prepare_writes_float16_rows_where_they_belong(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from zsbench.bench.prepare import real_corpus
    from zsbench.data.prepare import prepare_ntu

    links = real_corpus(needs_shared(SAMPLES / "ntu"), 8, tmp_path / "raw")
    monkeypatch.setenv("ZSBENCH_HOME", str(tmp_path / "home"))
    options = PrepareOptions(frames=20, dtype="float16")
    path = prepare_ntu("ntu120", tmp_path / "raw", options, workers=2)
    prepared = store.load_store(path.parent, "ntu120", "hint")
    assert prepared.skeletons.dtype == np.float16
    for link in links:
        row = prepared.index.index[prepared.index["sample"] == link.stem][0]
        expected = to_fixed_length(ntu.select_bodies(ntu.parse_skeleton(link)), options)
        assert expected.dtype == np.float16 and np.array_equal(np.asarray(prepared.skeletons[row]), expected)


def test_the_projection_separates_start_up_from_the_per_file_cost() -> None:
    from zsbench.bench.prepare import NTU120_BYTES, NTU120_FILES, PrepareTiming, _projection

    half = PrepareTiming("half", 1000, 200.0, 3.0, 90.0)
    full = PrepareTiming("full", 2000, 500.0, 5.0, 91.0)  # 2 ms per file after a 1 s start-up
    text = _projection(half, full)
    assert "1.0 s start-up, then 2.00 ms per file" in text
    assert f"{(1.0 + 0.002 * NTU120_FILES) / 60:.1f} min by file count" in text
    # by bytes: 2 s per 300 MB, so 5 - 500 / 150 = 1.67 s of start-up
    assert f"{(5.0 - 500.0 / 150.0 + NTU120_BYTES / 1e6 / 150.0) / 60:.1f} min by bytes" in text
    assert "90 MiB at 1000 files, 91 MiB at 2000" in text
    noisy = _projection(half, PrepareTiming("full", 2000, 500.0, 2.9, 91.0))
    assert noisy.startswith("no projection") and "min" not in noisy


def test_the_prepare_benchmark_times_the_cli_itself(tmp_path: Path, raw_folder: Path) -> None:
    from zsbench.bench.prepare import cli_prepare
    from zsbench.errors import RunFailed

    seconds, peak = cli_prepare(raw_folder, tmp_path / "home", workers=1)
    index = (tmp_path / "home" / "datasets" / "ntu120" / "index.csv").read_text().splitlines()
    assert len(index) - 1 == len(list(raw_folder.glob("*.skeleton"))) and seconds > 0 and peak > 10
    (tmp_path / "empty").mkdir()
    with pytest.raises(RunFailed, match=r"prepare failed in the benchmark: .*is missing or empty"):
        cli_prepare(tmp_path / "empty", tmp_path / "home2", workers=1)
