"""Split settings by name, found from the split files themselves (no numpy or torch: the CLI's start-up and
the report import this).

A split setting is one YAML file in ``splits/`` (``zsbench/_splits`` in a wheel) whose head names it:
``name`` (the prefix of its split names, e.g. ``synse`` in ``synse:55/5``), ``random`` (whether its class
splits were drawn at random; the field trains ST-GCN-size backbones on those) and, optionally,
``bare_name_rank`` (settings with one are searched for a bare split name such as ``55/5``, lowest rank
first). Adding a setting is adding a file.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

from zsbench.errors import DataError

GENERATED = "random"  # random:S/U@SEED splits, drawn by zsbench at run time; no file


@dataclass(frozen=True)
class SplitSetting:
    name: str
    path: Path
    random: bool
    bare_name_rank: int | None


def splits_dir() -> Path:
    """The split data files: packaged as ``zsbench/_splits`` in a wheel, ``splits/`` in a checkout."""
    packaged = Path(__file__).parent / "_splits"
    return packaged if packaged.is_dir() else Path(__file__).parent.parent / "splits"


@cache
def _settings_in(folder: Path) -> dict[str, SplitSetting]:
    found: dict[str, SplitSetting] = {}
    for path in sorted(folder.glob("*.yaml")):
        try:
            head = yaml.safe_load(path.read_text())
        except (OSError, yaml.YAMLError) as error:
            raise DataError(f"{path}: cannot read split file ({error})") from error
        name = head.get("name") if isinstance(head, dict) else None
        if not isinstance(name, str) or not name or ":" in name or name == GENERATED:
            raise DataError(f"{path}: field 'name' must name the split setting (e.g. synse), found {name!r}")
        if not isinstance(head.get("random"), bool):
            raise DataError(f"{path}: field 'random' must be true or false, found {head.get('random')!r}")
        if head.get("setting") != path.stem:  # published.csv names splits by file stem (synse_fixed:55/5)
            raise DataError(
                f"{path}: field 'setting' must be the file's name, {path.stem!r}; found {head.get('setting')!r}"
            )
        rank = head.get("bare_name_rank")
        if rank is not None and (isinstance(rank, bool) or not isinstance(rank, int)):
            raise DataError(f"{path}: field 'bare_name_rank' must be an integer, found {rank!r}")
        if name in found:
            raise DataError(f"{path}: split setting {name!r} is also defined by {found[name].path}")
        found[name] = SplitSetting(name, path, head["random"], rank)
    # Ranked settings first (the order bare names search them), then the rest by name.
    ordered = sorted(found.values(), key=lambda s: (s.bare_name_rank is None, s.bare_name_rank or 0, s.name))
    return {s.name: s for s in ordered}


def settings() -> dict[str, SplitSetting]:
    """Every split setting defined by a file, by name."""
    return _settings_in(splits_dir())


def is_random(setting: str) -> bool:
    """Whether a setting's splits are random draws (``random:S/U@SEED`` included)."""
    known = settings().get(setting)
    return setting == GENERATED or (known is not None and known.random)


def bare_name_order() -> list[str]:
    """The settings searched for a bare split name, in order."""
    return [s.name for s in settings().values() if s.bare_name_rank is not None]


def setting_of(split_name: str) -> str:
    """``"synse:55/5"`` -> ``"synse"``: the setting part of a canonical split name."""
    return split_name.partition(":")[0]
