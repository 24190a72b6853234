from __future__ import annotations

import pytest
import yaml

from tests.conftest import REFERENCE, needs_shared
from zsbench.errors import DataError, UsageError
from zsbench.text import descriptions


def test_all_171_classes_pass_the_schema_and_use_the_official_names() -> None:
    reference = yaml.safe_load(needs_shared(REFERENCE / "classes.yaml").read_text())
    ntu = descriptions.load("ntu120")
    pku = descriptions.load("pku51")
    assert [d.name for d in ntu] == reference["ntu120"]["names"]
    assert [d.name for d in pku] == reference["pku_mmd"]["names"]
    assert [d.name for d in descriptions.load("ntu60")] == reference["ntu120"]["names"][:60]
    for entry in (*ntu, *pku):
        for slot in ("name", "global", "head", "hands", "arms", "torso", "legs", "start", "middle", "end",
                     "paraphrase:1", "phases_upto:3", "label_global"):  # fmt: skip
            assert len(entry.slot(slot).split()) >= 1


def test_descriptions_are_distinct_per_class() -> None:
    ntu = descriptions.load("ntu120")
    assert len({d.global_sentence for d in ntu}) == len(ntu)


def test_schema_errors_name_the_class_and_field() -> None:
    entry = {"id": 4, "name": "drop", "global": "x", "paraphrases": ["a", "b"], "parts": {"head": "h"}, "phases": {}}
    with pytest.raises(DataError, match=r"class 4, field 'parts.hands'"):
        descriptions.parse_entry(entry, "ntu120.yaml")
    with pytest.raises(DataError, match="paraphrases"):
        descriptions.parse_entry({**entry, "paraphrases": ["only one"]}, "ntu120.yaml")


def test_find_by_id_official_id_and_name() -> None:
    assert descriptions.find("ntu120", "A058").name == "Handshaking"
    assert descriptions.find("ntu120", "0").name == "Drink water"
    assert descriptions.find("pku51", "bow").label == 0
    with pytest.raises(UsageError, match="several"):
        descriptions.find("ntu120", "take off")
