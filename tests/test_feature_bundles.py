"""Feature bundles (SA-DVAE resources/, Flora skeleton_features/) imported as feature stores; malformed bundles."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from typer.testing import CliRunner, Result

from tests.conftest import leftovers
from zsbench.cli.main import app
from zsbench.data.features import load_split_features
from zsbench.splits import resolve

runner = CliRunner()
FAST = ["--set", "method_params.epochs=5", "--set", "method_params.batch_size=32"]
WIDTH = 32


def _ok(args: list[str]) -> Result:
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return result


def _fails(args: list[str], code: int, *needles: str) -> str:
    result = runner.invoke(app, args)
    assert result.exit_code == code, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    for needle in needles:
        assert needle in result.stderr, (needle, result.stderr)
    return str(result.stderr)


def _features(labels: np.ndarray, rng: np.random.Generator, centres: np.ndarray) -> np.ndarray:
    return (centres[labels] + 0.3 * rng.normal(size=(len(labels), centres.shape[1]))).astype(np.float32)


def _sadvae_folder(
    folder: Path, seen: list[int], rng: np.random.Generator, centres: np.ndarray, validation: bool = False
) -> None:
    """One sk_feats folder: SynSE file names, plus val.npy / val_label.npy / val_out.npy in a _val_ folder."""
    folder.mkdir(parents=True)
    train_labels = np.repeat(seen, 4)
    np.save(folder / "train.npy", _features(train_labels, rng, centres))
    np.save(folder / "train_label.npy", train_labels)
    test_labels = np.repeat(np.arange(60), 2)
    test = "val" if validation else "gtest"
    np.save(folder / f"{test}.npy", _features(test_labels, rng, centres))
    np.save(folder / ("val_label.npy" if validation else "g_label.npy"), test_labels)
    np.save(folder / f"{test}_out.npy", rng.normal(size=(len(test_labels), 60)).astype(np.float32))


def _sadvae_resources(root: Path) -> None:
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(60, WIDTH))
    synse = resolve("synse:55/5", "ntu60")
    _sadvae_folder(root / "sk_feats" / "shift_ntu60_5_r", list(synse.seen), rng, centres)
    _sadvae_folder(root / "sk_feats" / "shift_ntu60_val_5_r", list(synse.validation_seen), rng, centres, True)
    labels = root / "label_splits" / "ntu60"
    labels.mkdir(parents=True)
    np.save(labels / "ru5.npy", np.array(synse.unseen))
    np.save(labels / "rs55.npy", np.array(synse.seen))
    np.save(labels / "rv5_0.npy", np.array(synse.validation_unseen))  # SynSE's rv5_0, as zsbench's split has it
    # A random split: SA-DVAE calls it ntu60_split2; its class list is zsbench's sadvae:2 (matched by content).
    random = resolve("sadvae:2", "ntu60")
    _sadvae_folder(root / "sk_feats" / "stgcn_ntu60_split2_5_r", list(random.seen), rng, centres)
    (root / "label_splits" / "ntu60_split2").mkdir()
    np.save(root / "label_splits" / "ntu60_split2" / "ru5.npy", np.array(random.unseen))
    # A split no zsbench split has: listed, not imported.
    _sadvae_folder(root / "sk_feats" / "stgcn_ntu60_split9_5_r", list(range(5, 60)), rng, centres)
    text = root / "text_feats" / "ntu60" / "stsb-bert-large"
    text.mkdir(parents=True)
    np.save(text / "lb_60.npy", rng.normal(size=(60, 16)).astype(np.float32))


def test_sadvae_resources_become_a_feature_store_that_methods_run_on(empty_home: Path, tmp_path: Path) -> None:
    root = tmp_path / "resources"
    _sadvae_resources(root)
    prepared = _ok(["prepare", "ntu60-sadvae", "--root", str(root)])
    assert "stgcn_ntu60_split9_5_r: its unseen classes [0, 1, 2, 3, 4] match no zsbench split" in prepared.stderr
    store = empty_home / "datasets" / "ntu60-sadvae"
    manifest = json.loads((store / "manifest.json").read_text())
    assert manifest["kind"] == "features" and sorted(manifest["splits"]) == ["sadvae:2", "synse:55/5"]
    source = manifest["split_sources"]["synse:55/5"]
    assert source["encoder"] == "shift" and source["unseen_source"] == "label_splits/ntu60/ru5.npy"
    assert source["validation_unseen"] == [16, 21, 25, 31, 48] and source["validation_matches_zsbench"] is True
    assert manifest["split_sources"]["sadvae:2"]["bundle_split"] == "ntu60_split2"
    assert [u["source"] for u in manifest["unmatched_splits"]] == ["sk_feats/stgcn_ntu60_split9_5_r"]
    assert manifest["unmatched_splits"][0]["unseen"] == [0, 1, 2, 3, 4]
    assert manifest["text_features"][0]["shape"] == [60, 16]
    # The validation version's evaluation set is SA-DVAE's val.npy (its gate's set), not a gtest file.
    validation = load_split_features(store, resolve("synse:55/5", "ntu60"), validation=True)
    assert validation is not None
    folder = root / "sk_feats" / "shift_ntu60_val_5_r"
    np.testing.assert_array_equal(validation.test_features, np.load(folder / "val.npy"))
    np.testing.assert_array_equal(validation.test_logits, np.load(folder / "val_out.npy"))
    # The bundle's class text features, listed in the manifest, feed a run through the npy text encoder.
    text = ["--set", f"text.encoder=npy:{manifest['text_features'][0]['file']}"]
    run = _ok(["run", "--method", "devise", "--dataset", "ntu60-sadvae", "--split", "55/5", "--json", *FAST, *text])
    record = json.loads(run.stdout)
    assert record["protocol"]["validation_fold"].startswith("validation features from the store")
    assert len(record["per_class"]["zsl"]) == 5


def _flora_task(path: Path, unseen: list[int], rng: np.random.Generator, float_labels: bool = False) -> None:
    centres = rng.normal(size=(60, WIDTH))
    seen = [c for c in range(60) if c not in set(unseen)]
    train, zsl, gzsl = np.repeat(seen, 3), np.repeat(unseen, 3), np.repeat(np.arange(60), 2)
    path.parent.mkdir(parents=True, exist_ok=True)
    labels = {
        k: (v.astype(np.float64) if float_labels else v) for k, v in (("train", train), ("zsl", zsl), ("gzsl", gzsl))
    }
    np.savez(
        path, train_data=_features(train, rng, centres), train_label=labels["train"],
        zsl_data=_features(zsl, rng, centres), zsl_label=labels["zsl"],
        gzsl_data=_features(gzsl, rng, centres), gzsl_label=labels["gzsl"],
    )  # fmt: skip


def _flora_bundle(root: Path) -> None:
    rng = np.random.default_rng(1)
    unseen = {name: list(resolve(name, "ntu60").unseen) for name in ("synse:55/5", "sadvae:1", "purls:40/20", "smie:1")}
    _flora_task(root / "synse_features" / "ntu60_seen55_unseen5.npz", unseen["synse:55/5"], rng)
    _flora_task(root / "sadave_features" / "ntu60_seen55_unseen5_split1.npz", unseen["sadvae:1"], rng, True)
    _flora_task(root / "flora_features" / "ntu60_xsub_seen40_unseen20.npz", unseen["purls:40/20"], rng)
    _flora_task(root / "star_features" / "ntu60_xsub_seen55_unseen5.npz", unseen["synse:55/5"], rng)
    _flora_task(root / "star_features" / "ntu60_xview_seen55_unseen5.npz", unseen["synse:55/5"], rng)
    _flora_task(root / "starsmie_features" / "ntu60_xsub_seen55_unseen5_spli1.npz", unseen["smie:1"], rng)  # README


def test_flora_bundle_parts_become_the_flora_and_star_stores(empty_home: Path, tmp_path: Path) -> None:
    root = tmp_path / "skeleton_features"
    _flora_bundle(root)
    _ok(["prepare", "ntu60-flora", "--root", str(root)])
    assert (
        "ntu60_xview_seen55_unseen5.npz (partition xview" in _ok(["prepare", "ntu60-star", "--root", str(root)]).stderr
    )
    datasets = empty_home / "datasets"
    flora = json.loads((datasets / "ntu60-flora" / "manifest.json").read_text())
    assert sorted(flora["splits"]) == ["purls:40/20", "sadvae:1", "synse:55/5"]
    star = json.loads((datasets / "ntu60-star" / "manifest.json").read_text())
    assert sorted(star["splits"]) == ["smie:1", "synse:55/5"]
    assert star["not_imported"] == ["star_features/ntu60_xview_seen55_unseen5.npz (partition xview; stores hold xsub)"]
    # The STAR store's 55/5 features are star_features' (1s-Shift-GCN), not synse_features' (4s-Shift-GCN).
    split = resolve("synse:55/5", "ntu60")
    loaded = load_split_features(datasets / "ntu60-star", split)
    assert loaded is not None and load_split_features(datasets / "ntu60-star", split, validation=True) is None
    bundle = np.load(root / "star_features" / "ntu60_xsub_seen55_unseen5.npz")
    np.testing.assert_array_equal(loaded.train_features, bundle["train_data"])
    np.testing.assert_array_equal(loaded.test_labels, bundle["gzsl_label"])
    float_labels = load_split_features(datasets / "ntu60-flora", resolve("sadvae:1", "ntu60"))
    assert float_labels is not None and float_labels.train_labels.dtype == np.int64
    np.save(tmp_path / "text.npy", np.random.default_rng(3).normal(size=(60, 16)).astype(np.float32))
    text = ["--set", f"text.encoder=npy:{tmp_path / 'text.npy'}"]
    run = _ok(["run", "--method", "devise", "--dataset", "ntu60-star", "--split", "55/5", "--json", *FAST, *text])
    record = json.loads(run.stdout)
    assert record["protocol"]["validation_fold"].startswith("approximate")  # Flora defines no hold-out
    assert len(record["per_class"]["zsl"]) == 5


def _bad_flora(path: Path, change: str) -> None:
    rng = np.random.default_rng(2)
    _flora_task(path, list(resolve("synse:55/5", "ntu60").unseen), rng)
    arrays: dict[str, Any] = dict(np.load(path))
    if change == "missing":
        del arrays["gzsl_label"]
    elif change == "unseen-in-train":
        arrays["train_label"] = arrays["train_label"].copy()
        arrays["train_label"][0] = 10
    elif change == "fraction":
        arrays["zsl_label"] = arrays["zsl_label"].astype(np.float64) + 0.5
    elif change == "rows":
        arrays["gzsl_data"] = arrays["gzsl_data"][:-1]
    elif change == "three-d":
        arrays["train_data"] = arrays["train_data"][:, :, None]
    np.savez(path, **arrays)


def test_malformed_bundles_are_rejected_naming_file_key_and_expectation(empty_home: Path, tmp_path: Path) -> None:
    for change, needles in (
        ("missing", ("key 'gzsl_label' is missing",)),
        ("unseen-in-train", ("key 'train_label'", "[10]", "unseen")),
        ("fraction", ("key 'zsl_label'", "10.5", "integer class index")),
        ("rows", ("key 'gzsl_data'", "one row per label")),
        ("three-d", ("key 'train_data'", "expected (N, D)")),
    ):
        root = tmp_path / change
        path = root / "synse_features" / "ntu60_seen55_unseen5.npz"
        _bad_flora(path, change)
        _fails(["prepare", "ntu60-flora", "--root", str(root)], 3, str(path), *needles)
    _fails(["prepare", "ntu60-flora", "--root", str(tmp_path / "missing")], 3, "synse_features/")
    resources = tmp_path / "resources"
    _sadvae_resources(resources)
    train = resources / "sk_feats" / "shift_ntu60_5_r" / "train.npy"
    good = np.load(train)
    np.save(train, good[:, :, None])
    _fails(["prepare", "ntu60-sadvae", "--root", str(resources)], 3, str(train), "expected (N, D)")
    np.save(train, good)
    val_train = resources / "sk_feats" / "shift_ntu60_val_5_r" / "train.npy"
    val_good = np.load(val_train)
    np.save(val_train, val_good[:, :8])
    _fails(["prepare", "ntu60-sadvae", "--root", str(resources)], 3, str(val_train), "8 wide", "agree in width")
    np.save(val_train, val_good)
    ru = resources / "label_splits" / "ntu60" / "ru5.npy"
    np.save(ru, np.array([0, 1, 2, 3]))
    _fails(["prepare", "ntu60-sadvae", "--root", str(resources)], 3, "says 5 unseen classes", "gives 4")
    np.save(ru, np.array(resolve("synse:55/5", "ntu60").unseen))
    text = resources / "text_feats" / "ntu60" / "stsb-bert-large" / "lb_60.npy"
    np.save(text, np.zeros((59, 16), np.float32))
    _fails(["prepare", "ntu60-sadvae", "--root", str(resources)], 3, str(text), "expected (60, D)")
    _fails(["prepare", "ntu60-sadvae", "--root", str(tmp_path)], 3, "sk_feats", "resources/")
    twin = resources / "sk_feats" / "posec3d_ntu60_5_r"  # a second encoder's features for the same split
    twin.mkdir()
    for path in (resources / "sk_feats" / "shift_ntu60_5_r").iterdir():
        (twin / path.name).write_bytes(path.read_bytes())
    _fails(["prepare", "ntu60-sadvae", "--root", str(resources)], 3, "posec3d_ntu60_5_r", "holds split synse:55/5")
    datasets = empty_home / "datasets"
    assert not (datasets / "ntu60-flora").exists() and not (datasets / "ntu60-sadvae").exists()
    assert leftovers(empty_home) == []
