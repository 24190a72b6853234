from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from zsbench.data.synthetic import generator
from zsbench.data.synthetic.generator import ClassScript, SynthConfig, load_scripts, synth_samples
from zsbench.data.synthetic.primitives import PRIMITIVES
from zsbench.errors import DataError
from zsbench.families import NTU60_XSUB_TRAIN

SMALL = SynthConfig(train_subjects=1, test_subjects=1, replications=1, cameras=(1, 2), frames=24, seed=3)


def _bone(sample: np.ndarray, child: int, parent: int, body: int = 0) -> np.ndarray:
    return np.linalg.norm(sample[:, :, child, body] - sample[:, :, parent, body], axis=0)


def test_generation_is_deterministic_given_the_seed() -> None:
    first, rows = synth_samples(SMALL)
    second, _ = synth_samples(SMALL)
    other, _ = synth_samples(SynthConfig(**{**SMALL.__dict__, "seed": 4}))
    assert np.array_equal(first, second)
    assert not np.allclose(first, other)
    assert first.shape == (60 * 2 * 2, 3, 24, 25, 2) and first.dtype == np.float32
    assert len(rows) == len(first)


def test_metadata_bodies_and_subjects_follow_ntu_conventions() -> None:
    skeletons, rows = synth_samples(SMALL)
    index = pd.DataFrame(rows)
    assert index["sample"].str.fullmatch(r"S\d{3}C\d{3}P\d{3}R\d{3}A\d{3}").all()
    assert (index["label"] == index["sample"].str[17:20].astype(int) - 1).all()
    second_body = np.abs(skeletons[..., 1]).sum(axis=(1, 2, 3)) > 0
    mutual = index["label"].between(49, 59).to_numpy()
    assert second_body[mutual].all() and not second_body[~mutual].any()
    subjects = set(index["subject"])
    assert len(subjects & set(NTU60_XSUB_TRAIN)) == 1 and len(subjects - set(NTU60_XSUB_TRAIN)) == 1


def test_bones_keep_their_length_over_time_and_views_differ_only_by_rotation() -> None:
    skeletons, rows = synth_samples(SynthConfig(**{**SMALL.__dict__, "jitter_m": 0.0, "dropout_probability": 0.0}))
    index = pd.DataFrame(rows)
    drink = index.index[(index["label"] == 0) & (index["camera"] == 1)][0]
    same_from_camera_2 = index.index[(index["label"] == 0) & (index["camera"] == 2)][0]
    forearm = _bone(skeletons[drink], 10, 9)  # right wrist - right elbow
    assert forearm.std() < 1e-4 and 0.15 < forearm.mean() < 0.35
    assert np.allclose(forearm, _bone(skeletons[same_from_camera_2], 10, 9), atol=1e-5)
    assert not np.allclose(skeletons[drink], skeletons[same_from_camera_2])


def test_class_motions_do_what_their_scripts_say() -> None:
    skeletons, rows = synth_samples(SynthConfig(**{**SMALL.__dict__, "left_handed_probability": 0.0}))
    labels = np.array([r["label"] for r in rows])
    head_y = lambda s: s[1, :, 3, 0]  # noqa: E731
    hand_y = lambda s, j: s[1, :, j, 0]  # noqa: E731
    drink = skeletons[labels == 0][0]  # right hand to the mouth mid-clip
    assert hand_y(drink, 11)[12] > hand_y(drink, 11)[0] + 0.4
    sit = skeletons[labels == 7][0]  # sitting down ends lower
    assert head_y(sit)[-1] < head_y(sit)[0] - 0.3
    jump = skeletons[labels == 26][0]  # jump up: the whole body leaves the floor
    assert jump[1, :, 0, 0].max() > jump[1, 0, 0, 0] + 0.15


def test_every_ntu120_script_uses_known_primitives() -> None:
    scripts = load_scripts()
    assert sorted(scripts) == list(range(120))
    for script in scripts.values():
        for calls in script.actors:
            assert all(call.primitive in PRIMITIVES for call in calls)
        assert len(script.actors) == (2 if 49 <= script.label <= 59 or script.label >= 105 else 1)


def test_default_set_gives_the_folds_their_promised_sizes() -> None:
    """102 test samples per class from 17 test subjects, 30 per class from 5 training subjects (per-subject: 6)."""
    config = SynthConfig(family="ntu60", frames=8)
    _, rows = synth_samples(config)
    labels = np.array([r["label"] for r in rows])
    training = np.isin([r["subject"] for r in rows], NTU60_XSUB_TRAIN)
    assert np.bincount(labels[~training]).tolist() == [102] * 60
    assert np.bincount(labels[training]).tolist() == [30] * 60


def test_asking_for_more_subjects_than_the_list_holds_names_the_field() -> None:
    with pytest.raises(DataError, match="test_subjects is 21, expected 1 to 20"):
        synth_samples(SynthConfig(family="ntu60", test_subjects=21, frames=8))


PKU_SMALL = SynthConfig(family="pku51", train_subjects=2, test_subjects=2, replications=2, frames=24, seed=3)


def test_pku_stand_in_names_and_partitions_its_samples_as_the_pku_store_does() -> None:
    skeletons, rows = synth_samples(PKU_SMALL)
    index = pd.DataFrame(rows)
    assert skeletons.shape == (51 * 4 * 2 * 3, 3, 24, 25, 2) and len(index) == len(skeletons)
    parts = index["sample"].str.extract(r"^(\d{4})-([LMR])#(\d{2,})$")
    assert parts.notna().all().all() and index["sample"].is_unique
    assert (parts[0].astype(int) == index["subject"]).all()
    assert (parts[1] == index["camera"].map({1: "L", 2: "M", 3: "R"})).all()  # the real store's camera ids
    # the official cross-view split trains on L and R and tests on M; cross-subject tests on sequences 0291-0334
    assert ((index["partition_xview"] == "test") == (parts[1] == "M")).all()
    sides = index.groupby("subject")["partition_xsub"].agg(set)
    assert sides.map(len).eq(1).all() and sorted(sides.map(min).value_counts()) == [2, 2]
    tested = index["subject"].between(291, 334)
    assert ((index["partition_xsub"] == "test") == tested).all()
    assert not index["subject"].isin([1, 247, 248, 249, 250]).any()  # no such videos in PKU-MMD I
    # formats.md: the interaction videos hold exactly the (1-based) classes 12, 14, 16, 18, 21, 24, 26 and 27
    second_body = np.abs(skeletons[..., 1]).sum(axis=(1, 2, 3)) > 0
    assert sorted(set(index["label"][second_body] + 1)) == [12, 14, 16, 18, 21, 24, 26, 27]


def test_pku_classes_perform_their_ntu_counterparts_and_class_37_its_own_script() -> None:
    ntu, pku = load_scripts("ntu120"), load_scripts("pku51")
    assert sorted(pku) == list(range(51))
    assert pku[7].actors == ntu[0].actors  # drink water
    assert pku[28].actors == ntu[24].actors  # put something inside pocket = NTU "reach into pocket"
    quiet = SynthConfig(**{**PKU_SMALL.__dict__, "jitter_m": 0.0, "dropout_probability": 0.0,
                           "left_handed_probability": 0.0, "cameras": (2,)})  # fmt: skip
    skeletons, rows = synth_samples(quiet)
    labels = np.array([r["label"] for r in rows])

    def hand_height(label: int) -> np.ndarray:  # right hand above the right hip
        sample = skeletons[labels == label][0]
        return sample[1, :, 11, 0] - sample[1, :, 16, 0]

    taking_out, putting_in = hand_height(37), hand_height(28)
    half = len(taking_out) // 2
    assert taking_out[half:].max() > taking_out[:half].max() + 0.25  # the hand comes up out of the pocket
    assert putting_in[half:].max() < putting_in[:half].max() + 0.1


def test_a_pku_script_for_a_class_that_has_an_ntu_counterpart_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    real = generator._read_scripts

    def with_extra_script(file_name: str) -> dict[int, ClassScript]:
        scripts = real(file_name)
        return {**scripts, 7: scripts[37]} if file_name == "motions_pku51.yaml" else scripts

    monkeypatch.setattr(generator, "_read_scripts", with_extra_script)
    with pytest.raises(DataError, match=r"classes \[7\] have an NTU counterpart"):
        generator.load_scripts.__wrapped__("pku51")


def test_writing_skeleton_files_is_refused_for_the_pku_stand_in(tmp_path: Path) -> None:
    from zsbench.catalog import DATASETS
    from zsbench.data.targets import PrepareRequest, prepare_dataset
    from zsbench.errors import UsageError

    with pytest.raises(UsageError, match=r"--write-skeletons writes NTU \.skeleton files; pku-mmd-synth"):
        prepare_dataset(DATASETS.get("pku-mmd-synth"), PrepareRequest(write_skeletons=tmp_path / "out"), None)
    assert not (tmp_path / "out").exists()
