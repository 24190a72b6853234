from __future__ import annotations

from importlib import resources

import numpy as np
import pytest
import yaml

from tests.conftest import SAMPLES, needs_shared
from zsbench.errors import DataError, UsageError
from zsbench.text import descriptions


@pytest.mark.parametrize("family", ["ntu60", "ntu120", "pku51"])
def test_every_class_has_a_verb_and_a_noun_phrase(family: str) -> None:
    for entry in descriptions.load(family):
        assert entry.slot("verb").strip() and entry.slot("noun").strip(), entry.name


def test_hand_checked_entries_follow_the_release_split() -> None:
    ntu = descriptions.load("ntu120")
    assert (ntu[0].slot("verb"), ntu[0].slot("noun")) == ("drink", "water")
    assert (ntu[7].slot("verb"), ntu[7].slot("noun")) == ("sit down", descriptions.EMPTY_NOUN)  # no object
    assert (ntu[43].slot("verb"), ntu[43].slot("noun")) == ("have", "headache")
    assert (ntu[13].slot("verb"), ntu[13].slot("noun")) == ("put on", "jacket")
    assert (ntu[119].slot("verb"), ntu[119].slot("noun")) == ("play", "rock paper scissors")
    assert descriptions.load("ntu60")[59].slot("verb") == "walk away from"
    pku = descriptions.load("pku51")
    assert (pku[0].slot("verb"), pku[0].slot("noun")) == ("bow", "#")
    assert (pku[37].slot("verb"), pku[37].slot("noun")) == ("take object out", "pocket")


def test_release_vocabulary_sizes_and_shared_verbs() -> None:
    ntu = descriptions.load("ntu120")
    # released: synse-zsl verbs_vocab.npy has 88 entries, nouns_vocab.npy 70 (formats.md §9)
    assert len({d.verb for d in ntu}) == 88
    assert len({d.noun for d in ntu}) == 70
    assert sum(d.noun == "#" for d in ntu) == 17


def test_pku_classes_mapped_to_ntu_copy_its_split() -> None:
    ntu = descriptions.load("ntu120")
    pku = descriptions.load("pku51")
    raw = yaml.safe_load(resources.files("zsbench.text.data").joinpath("pos_pku51.yaml").read_text())
    mapped = [item for item in raw if "ntu" in item]
    assert len(mapped) == 48
    for item in mapped:
        assert (pku[item["id"]].verb, pku[item["id"]].noun) == (ntu[item["ntu"]].verb, ntu[item["ntu"]].noun)


def test_pos_errors_name_file_class_and_field() -> None:
    entries = list(descriptions.load("ntu60")[:2])
    good = [{"id": 0, "name": "Drink water", "verb": "drink", "noun": "water"},
            {"id": 1, "name": "Eat meal/snack", "verb": "eat", "noun": "meal"}]  # fmt: skip
    assert [e.noun for e in descriptions.attach_pos(entries, good, "pos.yaml")] == ["water", "meal"]
    with pytest.raises(DataError, match=r"pos\.yaml, class 1, field 'noun'"):
        descriptions.attach_pos(entries, [good[0], {**good[1], "noun": " "}], "pos.yaml")
    with pytest.raises(DataError, match=r"pos\.yaml, class 1, field 'name'"):
        descriptions.attach_pos(entries, [good[0], {**good[1], "name": "Drop"}], "pos.yaml")
    with pytest.raises(DataError, match=r"pos\.yaml: no verb/noun split for classes \[1\]"):
        descriptions.attach_pos(entries, good[:1], "pos.yaml")
    bare = descriptions.ClassDescription(0, "x", "g", ("a", "b"), {}, {})
    with pytest.raises(UsageError, match="no 'verb' phrase"):
        bare.slot("verb")


def test_the_ntu_split_equals_the_released_vocabularies() -> None:
    folder = needs_shared(SAMPLES / "zsl" / "synse" / "language_data")
    verbs = np.load(folder / "verbs_vocab.npy")[np.load(folder / "verbs_ohe.npy").argmax(-1)]
    nouns = np.load(folder / "nouns_vocab.npy")[np.load(folder / "nouns_ohe.npy").argmax(-1)]
    ntu = descriptions.load("ntu120")
    assert [d.verb for d in ntu] == [str(v) for v in verbs]
    assert [d.noun for d in ntu] == [str(n) for n in nouns]
