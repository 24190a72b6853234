"""Class splits: loading the split data files, resolving names, validation hold-outs.

Split definitions are data (top-level ``splits/*.yaml``); this module only reads them. A split
name on the command line is ``SETTING:NAME`` (``synse:48/12``, ``smie:1``, ``purls:40/20``,
``sadvae:2``, ``star:39/12``), a bare ``NAME`` looked up in the settings that define it for the
dataset (``48/12``), or ``random:SEEN/UNSEEN@SEED`` for a seeded random split.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from zsbench import split_settings
from zsbench.errors import DataError, UsageError
from zsbench.families import NUM_CLASSES
from zsbench.seeding import numpy_rng
from zsbench.split_settings import setting_of

_RANDOM_PATTERN = re.compile(r"^random:(\d+)/(\d+)@(\d+)$")


@dataclass(frozen=True)
class ClassSplit:
    """A seen/unseen partition of a dataset family's classes, plus its validation hold-out.

    ``validation_unseen`` are pseudo-unseen classes drawn from ``seen``: model selection and GZSL
    calibration happen on a fold that trains on ``seen - validation_unseen`` and evaluates on
    ``seen``, so unseen test classes are never touched before scoring.
    """

    name: str
    family: str
    num_classes: int
    unseen: tuple[int, ...]
    validation_unseen: tuple[int, ...]
    validation_source: str
    provenance: str
    confidence: str

    @property
    def seen(self) -> tuple[int, ...]:
        unseen = set(self.unseen)
        return tuple(c for c in range(self.num_classes) if c not in unseen)

    @property
    def validation_seen(self) -> tuple[int, ...]:
        held_out = set(self.validation_unseen)
        return tuple(c for c in self.seen if c not in held_out)

    @property
    def setting(self) -> str:
        """The split setting (``synse``, ``smie``, ``purls``, ...), from the canonical name."""
        return setting_of(self.name)

    def content_hash(self) -> str:
        payload = {"family": self.family, "unseen": list(self.unseen), "validation": list(self.validation_unseen)}
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]

    def to_record(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "family": self.family,
            "hash": self.content_hash(),
            "seen": list(self.seen),
            "unseen": list(self.unseen),
            "validation_unseen": list(self.validation_unseen),
            "validation_source": self.validation_source,
            "provenance": self.provenance,
            "confidence": self.confidence,
        }


def canonical_hash(splits: list[dict[str, Any]]) -> str:
    return hashlib.sha256(json.dumps(splits, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def load_setting(setting: str) -> dict[str, Any]:
    """Read and check one split setting's file (index base, hash of its content, class ranges)."""
    known = split_settings.settings().get(setting)
    if known is None:
        valid = ", ".join(split_settings.settings())
        raise UsageError(f"unknown split setting {setting!r}; valid settings: {valid}, {split_settings.GENERATED}")
    return _load_file(known.path)


@cache
def _load_file(path: Path) -> dict[str, Any]:
    try:
        content = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as error:
        raise DataError(f"{path}: cannot read split file ({error})") from error
    if content.get("index_base") != 0:
        raise DataError(f"{path}: field 'index_base' must be 0, found {content.get('index_base')!r}")
    if canonical_hash(content["splits"]) != content.get("content_hash"):
        raise DataError(f"{path}: field 'content_hash' does not match the split lists (edited by hand?)")
    for entry in content["splits"]:
        limit = NUM_CLASSES[entry["dataset"]]
        bad = [c for c in entry["unseen"] if not 0 <= c < limit]
        if bad:
            raise DataError(f"{path}: split {entry['name']!r} has class ids outside 0..{limit - 1}: {bad}")
    return dict(content)


def available(family: str) -> list[str]:
    """Every split name usable for a dataset family, in canonical ``SETTING:NAME`` form."""
    names = []
    for setting in split_settings.settings():
        for entry in load_setting(setting)["splits"]:
            if entry["dataset"] == family:
                names.append(f"{setting}:{entry['name']}")
    return names


def resolve(name: str, family: str) -> ClassSplit:
    """Turn a split name from the command line into a :class:`ClassSplit` for ``family``."""
    if family not in NUM_CLASSES:
        raise UsageError(f"no class splits for dataset family {family!r}")
    random_match = _RANDOM_PATTERN.match(name)
    if random_match:
        seen_count, unseen_count, seed = (int(g) for g in random_match.groups())
        return random_split(family, unseen_count, seed, expected_seen=seen_count)
    setting, _, short = name.rpartition(":")
    settings = [setting] if setting else split_settings.bare_name_order()
    if setting and setting not in split_settings.settings():
        valid = ", ".join(split_settings.settings())
        raise UsageError(f"unknown split setting {setting!r}; valid settings: {valid}, {split_settings.GENERATED}")
    for candidate in settings:
        for entry in load_setting(candidate)["splits"]:
            if entry["dataset"] == family and entry["name"] == short:
                return _from_entry(candidate, entry)
    valid = ", ".join(available(family)) + ", random:S/U@SEED"
    raise UsageError(f"unknown split {name!r} for dataset family {family}. Valid splits: {valid}")


def _from_entry(setting: str, entry: dict[str, Any]) -> ClassSplit:
    content = load_setting(setting)
    family = entry["dataset"]
    num_classes = NUM_CLASSES[family]
    unseen = tuple(sorted(entry["unseen"]))
    provenance = "; ".join(content.get("provenance", []))
    if entry.get("validation_unseen"):
        validation = tuple(sorted(entry["validation_unseen"]))
        source = entry["validation_source"]
    else:
        validation, source = generated_validation(family, num_classes, unseen, f"{setting}:{entry['name']}")
    return ClassSplit(
        name=f"{setting}:{entry['name']}",
        family=family,
        num_classes=num_classes,
        unseen=unseen,
        validation_unseen=validation,
        validation_source=source,
        provenance=provenance,
        confidence=str(entry.get("confidence", content.get("confidence", "unknown"))),
    )


def generated_validation(
    family: str, num_classes: int, unseen: tuple[int, ...], split_name: str
) -> tuple[tuple[int, ...], str]:
    """A seeded class-level hold-out of pseudo-unseen classes drawn from the seen ones.

    Its size is ``len(unseen)`` (as in SynSE's ``rv{k}_0``), capped at half the seen classes so the
    validation fold keeps pseudo-seen classes to train on (PURLS 30/30, 60/60).

    The seed comes from the split's own content, so the hold-out is a fixed property of the split,
    identical in every run and every seed.
    """
    seen = [c for c in range(num_classes) if c not in set(unseen)]
    digest = hashlib.sha256(json.dumps([family, list(unseen)]).encode()).hexdigest()
    rng = np.random.default_rng(int(digest[:15], 16))
    chosen = sorted(int(c) for c in rng.choice(seen, size=min(len(unseen), len(seen) // 2), replace=False))
    return tuple(
        chosen
    ), f"generated by zsbench (numpy default_rng seeded from sha256 of the unseen list of {split_name})"


def random_split(family: str, unseen_count: int, seed: int, expected_seen: int | None = None) -> ClassSplit:
    num_classes = NUM_CLASSES[family]
    if expected_seen is not None and expected_seen + unseen_count != num_classes:
        raise UsageError(
            f"random split {expected_seen}/{unseen_count} does not cover the {num_classes} classes of {family}"
        )
    if not 0 < unseen_count <= num_classes // 2:
        raise UsageError(f"random split needs 0 < unseen <= {num_classes // 2} for {family}, got {unseen_count}")
    rng = numpy_rng(seed, "random-split", family, str(unseen_count))
    unseen = tuple(sorted(int(c) for c in rng.choice(num_classes, size=unseen_count, replace=False)))
    name = f"random:{num_classes - unseen_count}/{unseen_count}@{seed}"
    validation, source = generated_validation(family, num_classes, unseen, name)
    return ClassSplit(
        name, family, num_classes, unseen, validation, source, f"zsbench seeded random split (seed {seed})", "generated"
    )
