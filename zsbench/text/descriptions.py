"""Class descriptions written for zsbench, at the levels the seed methods consume.

Every class has its label name, one global sentence, paraphrases of it, body-part sentences (head,
hands, arms, torso, legs) and temporal phases (start, middle, end). ``ntu120.yaml`` holds the 120
NTU RGB+D classes (NTU-60 is its first 60); ``pku51.yaml`` maps PKU-MMD I classes to the NTU
class with the same action, or describes them itself. ``pos_ntu120.yaml`` and ``pos_pku51.yaml``
give each class's part-of-speech split (a verb phrase and a noun phrase: slots ``verb`` and
``noun``) as JPoSE and SynSE consume it; their header comments say how it was derived.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cache
from importlib import resources
from typing import Any

import yaml

from zsbench.errors import DataError, UsageError
from zsbench.families import FAMILIES

PARTS = ("head", "hands", "arms", "torso", "legs")
PHASES = ("start", "middle", "end")
MIN_PARAPHRASES = 2
EMPTY_NOUN = "#"  # released: synse-zsl nouns_vocab.npy, the noun phrase of a class without an object


@dataclass(frozen=True)
class ClassDescription:
    label: int
    name: str
    global_sentence: str
    paraphrases: tuple[str, ...]
    parts: dict[str, str]
    phases: dict[str, str]
    verb: str = ""
    noun: str = ""

    def slot(self, slot: str) -> str:
        """The text of one named slot: ``name``, ``global``, a part, a phase, ``paraphrase:K``,
        ``label_global`` (name and global sentence), ``phases_upto:K`` (the first K phases), or the
        part-of-speech phrases ``verb`` and ``noun`` (``#`` for a class without an object)."""
        if slot == "name":
            return self.name
        if slot in ("verb", "noun"):
            text = self.verb if slot == "verb" else self.noun
            if not text:
                raise UsageError(f"class {self.label} {self.name!r} has no {slot!r} phrase")
            return text
        if slot == "global":
            return self.global_sentence
        if slot == "label_global":
            return f"{self.name}: {self.global_sentence}"
        if slot in self.parts:
            return self.parts[slot]
        if slot in self.phases:
            return self.phases[slot]
        kind, _, number = slot.partition(":")
        if kind == "paraphrase" and number.isdigit() and int(number) < len(self.paraphrases):
            return self.paraphrases[int(number)]
        if kind == "phases_upto" and number in ("1", "2", "3"):
            return " ".join(self.phases[p] for p in PHASES[: int(number)])
        raise UsageError(f"unknown description slot {slot!r} (class {self.label} {self.name!r})")


def _check_string(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise DataError(f"{where}: expected a non-empty string, found {value!r}")
    return value.strip()


def parse_entry(entry: dict[str, Any], source: str) -> ClassDescription:
    """Check one description entry against the schema; errors name the file, class and field."""
    where = f"{source}, class {entry.get('id')!r}"
    if not isinstance(entry.get("id"), int):
        raise DataError(f"{where}: field 'id' must be an integer")
    parts = entry.get("parts") or {}
    phases = entry.get("phases") or {}
    paraphrases = entry.get("paraphrases") or []
    if not isinstance(paraphrases, list) or len(paraphrases) < MIN_PARAPHRASES:
        raise DataError(f"{where}: field 'paraphrases' must list at least {MIN_PARAPHRASES} sentences")
    return ClassDescription(
        label=entry["id"],
        name=_check_string(entry.get("name"), f"{where}, field 'name'"),
        global_sentence=_check_string(entry.get("global"), f"{where}, field 'global'"),
        paraphrases=tuple(_check_string(p, f"{where}, field 'paraphrases'") for p in paraphrases),
        parts={p: _check_string(parts.get(p), f"{where}, field 'parts.{p}'") for p in PARTS},
        phases={p: _check_string(phases.get(p), f"{where}, field 'phases.{p}'") for p in PHASES},
    )


def attach_pos(entries: list[ClassDescription], raw: list[dict[str, Any]], source: str) -> list[ClassDescription]:
    """Add the verb and noun phrases of ``raw`` (a part-of-speech file) to ``entries``, matched by id and name;
    errors name the file, class and field."""
    names = {e.label: e.name for e in entries}
    by_id: dict[int, tuple[str, str]] = {}
    for item in raw:
        where = f"{source}, class {item.get('id')!r}"
        if not isinstance(item.get("id"), int):
            raise DataError(f"{where}: field 'id' must be an integer")
        if item["id"] in by_id:
            raise DataError(f"{where}: listed twice")
        by_id[item["id"]] = (
            _check_string(item.get("verb"), f"{where}, field 'verb'"),
            _check_string(item.get("noun"), f"{where}, field 'noun'"),
        )
        if item["id"] in names and item.get("name") != names[item["id"]]:
            found, expected = item.get("name"), names[item["id"]]
            raise DataError(f"{where}, field 'name': {found!r} does not match the description name {expected!r}")
    missing = [e.label for e in entries if e.label not in by_id]
    if missing:
        raise DataError(f"{source}: no verb/noun split for classes {missing[:8]}")
    return [replace(e, verb=by_id[e.label][0], noun=by_id[e.label][1]) for e in entries]


def _read(file_name: str) -> list[dict[str, Any]]:
    text = resources.files("zsbench.text.data").joinpath(file_name).read_text()
    try:
        content = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise DataError(f"{file_name}: invalid YAML ({error})") from error
    if not isinstance(content, list):
        raise DataError(f"{file_name}: expected a list of class entries")
    return content


@cache
def load(family: str) -> tuple[ClassDescription, ...]:
    """The descriptions of a dataset family's classes, in label order."""
    if family not in FAMILIES:
        raise UsageError(f"unknown dataset family {family!r}; valid: {', '.join(FAMILIES)}")
    if family in ("ntu60", "ntu120"):
        entries = [parse_entry(e, "ntu120.yaml") for e in _read("ntu120.yaml")]
    else:
        ntu = load("ntu120")
        entries = []
        for raw in _read("pku51.yaml"):
            if "ntu" in raw:
                base = ntu[int(raw["ntu"])]
                name = _check_string(raw.get("name"), f"pku51.yaml, class {raw.get('id')!r}, field 'name'")
                entries.append(
                    ClassDescription(
                        int(raw["id"]), name, base.global_sentence, base.paraphrases, base.parts, base.phases
                    )
                )
            else:
                entries.append(parse_entry(raw, "pku51.yaml"))
    size, pos_file = FAMILIES[family].classes, FAMILIES[family].pos_file
    entries = attach_pos(entries, _read(pos_file), pos_file)[:size]
    labels = [e.label for e in entries]
    if labels != list(range(size)):
        raise DataError(f"descriptions for {family}: ids must be 0..{size - 1} in order, found {labels[:5]}...")
    return tuple(entries)


def pku_ntu_counterparts() -> dict[int, int]:
    """PKU-MMD I class -> the NTU class of the same action (``pku51.yaml``'s ``ntu`` field; classes without one
    are left out)."""
    return {int(raw["id"]): int(raw["ntu"]) for raw in _read("pku51.yaml") if "ntu" in raw}


def class_names(family: str) -> list[str]:
    return [d.name for d in load(family)]


def find(family: str, query: str) -> ClassDescription:
    """Look a class up by 0-based id, official ``A013`` id or (part of) its name."""
    entries = load(family)
    text = query.strip()
    if text.isdigit():
        label = int(text)
    elif text[:1] in "aA" and text[1:].isdigit():
        label = int(text[1:]) - 1
    else:
        matches = [e for e in entries if text.lower() == e.name.lower()] or [
            e for e in entries if text.lower() in e.name.lower()
        ]
        if len(matches) == 1:
            return matches[0]
        if not matches:
            raise UsageError(f"no {family} class matches {query!r}; try `zsbench ls classes --dataset {family}`")
        listed = ", ".join(f"{m.label} {m.name!r}" for m in matches[:8])
        raise UsageError(f"{query!r} matches several {family} classes: {listed}")
    if not 0 <= label < len(entries):
        raise UsageError(f"class id {query!r} is outside 0..{len(entries) - 1} for {family}")
    return entries[label]
