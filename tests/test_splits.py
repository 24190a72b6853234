from __future__ import annotations

import numpy as np
import pytest
import yaml

from tests.conftest import REFERENCE, SAMPLES, needs_shared
from zsbench import split_settings, splits
from zsbench.errors import DataError, UsageError


@pytest.fixture(scope="module")
def reference() -> dict:
    return yaml.safe_load(needs_shared(REFERENCE / "splits.yaml").read_text())


def _unseen(name: str, family: str) -> list[int]:
    return list(splits.resolve(name, family).unseen)


def test_synse_and_purls_splits_match_the_reference(reference: dict) -> None:
    for key, entry in reference["synse_fixed"].items():
        family, rest = key.split("_", 1)
        assert _unseen(f"synse:{rest.replace('_', '/')}", family) == sorted(entry["unseen"]), key
    for key, entry in reference["purls_harder"].items():
        family, rest = key.split("_", 1)
        assert _unseen(f"purls:{rest.replace('_', '/')}", family) == sorted(entry["unseen"]), key


def test_random_splits_match_the_reference(reference: dict) -> None:
    for key, family in (("ntu60_55_5", "ntu60"), ("ntu120_110_10", "ntu120"), ("pku51_46_5", "pku51")):
        for name, unseen in reference["smie_random"][key].items():
            if not name.startswith("split_"):
                continue
            assert _unseen(f"smie:{name.split('_')[1]}", family) == sorted(unseen)
        for name, unseen in reference["sadave_random"][key].items():
            assert _unseen(f"sadvae:{name.removeprefix('split')}", family) == sorted(unseen)
            assert splits.resolve(f"sadvae:{name.removeprefix('split')}", family).confidence == "medium"
    star = reference["star_pku"]
    assert _unseen("star:46/5", "pku51") == sorted(star["pku51_46_5"])
    assert _unseen("star:39/12", "pku51") == sorted(star["pku51_39_12"])
    for name, unseen in star["pku51_46_5_starsmie_random"].items():
        assert _unseen(f"star:random{name.removeprefix('split')}", "pku51") == sorted(unseen)


def test_synse_validation_holdouts_match_the_released_files() -> None:
    folder = needs_shared(SAMPLES / "zsl" / "synse" / "label_splits")
    split = splits.resolve("55/5", "ntu60")
    assert list(split.validation_unseen) == sorted(np.load(folder / "rv5_0.npy").tolist())
    assert list(split.validation_seen) == sorted(np.load(folder / "rs50_0.npy").tolist())
    assert list(split.seen) == sorted(np.load(folder / "rs55.npy").tolist())
    big = splits.resolve("96/24", "ntu120")
    assert list(big.validation_unseen) == sorted(np.load(folder / "rv24_0.npy").tolist())
    assert list(big.validation_seen) == sorted(np.load(folder / "rs72_0.npy").tolist())


@pytest.mark.parametrize("family", ["ntu60", "ntu120", "pku51"])
def test_every_split_has_a_disjoint_validation_holdout_inside_the_seen_classes(family: str) -> None:
    for name in splits.available(family):
        split = splits.resolve(name, family)
        assert set(split.validation_unseen) <= set(split.seen)
        assert not set(split.validation_unseen) & set(split.unseen)
        assert len(split.validation_seen) >= len(split.validation_unseen)
        assert sorted(split.seen + split.unseen) == list(range(split.num_classes))


def test_bare_names_resolve_to_the_synse_setting_and_holdouts_are_stable() -> None:
    assert splits.resolve("48/12", "ntu60").name == "synse:48/12"
    assert splits.resolve("40/20", "ntu60").name == "purls:40/20"
    first = splits.resolve("48/12", "ntu60")
    assert first.validation_unseen == splits.resolve("synse:48/12", "ntu60").validation_unseen
    assert "generated" in first.validation_source


def test_random_splits_are_seeded_and_recorded() -> None:
    a, b = splits.resolve("random:55/5@7", "ntu60"), splits.resolve("random:55/5@7", "ntu60")
    c = splits.resolve("random:55/5@8", "ntu60")
    assert a == b and a.unseen != c.unseen
    assert a.content_hash() != c.content_hash()
    with pytest.raises(UsageError, match="does not cover"):
        splits.resolve("random:50/5@1", "ntu60")


def test_unknown_split_lists_the_valid_ones() -> None:
    with pytest.raises(UsageError) as error:
        splits.resolve("47/13", "ntu60")
    assert "synse:48/12" in str(error.value) and "smie:1" in str(error.value)


def test_split_files_detect_hand_edits(tmp_path, monkeypatch) -> None:
    source = split_settings.splits_dir() / "synse_fixed.yaml"
    edited = tmp_path / "synse_fixed.yaml"
    edited.write_text(source.read_text().replace("unseen: [10, 11, 19, 26, 56]", "unseen: [10, 11, 19, 26, 57]"))
    for other in split_settings.splits_dir().glob("*.yaml"):
        if other.name != edited.name:
            (tmp_path / other.name).write_text(other.read_text())
    monkeypatch.setattr(split_settings, "splits_dir", lambda: tmp_path)  # caches are keyed by folder and file
    with pytest.raises(Exception, match="content_hash"):
        splits.load_setting("synse")


def test_a_new_split_setting_is_one_yaml_file(tmp_path, monkeypatch) -> None:
    from zsbench.catalog import DATASETS

    for existing in split_settings.splits_dir().glob("*.yaml"):
        (tmp_path / existing.name).write_text(existing.read_text())
    entries = [{"name": "50/10", "dataset": "ntu60", "unseen": list(range(0, 60, 6)), "confidence": "high",
                "validation_unseen": [1, 7, 13, 19, 25], "validation_source": "test"}]  # fmt: skip
    content = {"setting": "my_lab", "name": "mine", "random": True, "bare_name_rank": 0, "index_base": 0, "title": "a lab's own splits",
               "provenance": ["test"], "splits": entries, "content_hash": splits.canonical_hash(entries)}  # fmt: skip
    (tmp_path / "my_lab.yaml").write_text(yaml.safe_dump(content))
    monkeypatch.setattr(split_settings, "splits_dir", lambda: tmp_path)
    try:
        split = splits.resolve("mine:50/10", "ntu60")
        assert split.setting == "mine" and split.unseen == tuple(range(0, 60, 6)) and len(split.seen) == 50
        assert splits.resolve("50/10", "ntu60").name == "mine:50/10"  # rank 0: searched first for bare names
        assert "mine:50/10" in splits.available("ntu60")
        assert list(split_settings.settings())[:4] == ["mine", "synse", "purls", "star"]  # by rank, then by name
        assert split_settings.is_random("mine") and not split_settings.is_random("synse")
        assert DATASETS.get("ntu60").default_backbone("mine") == "stgcn"  # random draws: the field's ST-GCN
        (tmp_path / "twice.yaml").write_text(yaml.safe_dump({**content, "setting": "twice", "random": False}))
        split_settings._settings_in.cache_clear()
        with pytest.raises(DataError, match="also defined by"):
            split_settings.settings()
    finally:
        split_settings._settings_in.cache_clear()


def test_split_settings_keep_their_order_and_unknown_ones_are_usage_errors() -> None:
    assert list(split_settings.settings()) == ["synse", "purls", "star", "sadvae", "smie"]
    assert split_settings.bare_name_order() == ["synse", "purls", "star"]
    assert [split_settings.is_random(s) for s in ("synse", "smie", "sadvae", "random")] == [False, True, True, True]
    with pytest.raises(UsageError, match="unknown split setting 'mine'"):
        splits.load_setting("mine")
