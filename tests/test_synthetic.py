from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from zsbench.data.synthetic.generator import SynthConfig, load_scripts, synth_samples
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
