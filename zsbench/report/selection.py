"""Choosing one variant of a method from a runs table: ``NAME`` or ``NAME[key=value, ...]``.

``NAME`` alone picks the method's variant with the fewest non-default settings (its main row; ablations add
settings). ``NAME[k=v, ...]`` picks the variant whose settings include every given one, again the one with
the fewest settings; a tie is a usage error listing the candidates.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pandas as pd

from zsbench.errors import UsageError

_SPEC = re.compile(r"^(?P<name>[^\[\]]+?)(?:\[(?P<settings>.*)\])?$")


@dataclass(frozen=True)
class Arm:
    """One side of a comparison: a method, the variant chosen, and a label to print."""

    method: str
    variant: str
    label: str


def parse_spec(spec: str) -> tuple[str, tuple[str, ...]]:
    match = _SPEC.match(spec.strip())
    if not match:
        raise UsageError(f"cannot read method {spec!r}; write NAME or NAME[key=value, ...]")
    settings = tuple(s.strip() for s in (match.group("settings") or "").split(",") if s.strip())
    return match.group("name").strip(), settings


def choose_arm(runs: pd.DataFrame, spec: str, protocol: str) -> Arm:
    name, wanted = parse_spec(spec)
    mine = runs[(runs["method"] == name) & (runs["protocol"] == protocol)]
    if mine.empty:
        known = ", ".join(sorted(set(runs["method"]))) or "none"
        raise UsageError(f"no {protocol} runs of method {name!r}; methods with runs: {known}")
    variants = mine.drop_duplicates("variant")[["variant", "settings"]]
    matching = [(str(v), tuple(s)) for v, s in variants.itertuples(index=False) if set(wanted) <= set(s)]
    if not matching:
        listed = "; ".join(sorted(str(v) for v in variants["variant"]))
        raise UsageError(f"no variant of {name!r} has {', '.join(wanted)}; its variants: {listed}")
    fewest = min(len(s) for _, s in matching)
    best = [v for v, s in matching if len(s) == fewest]
    if len(best) > 1:
        raise UsageError(
            f"{spec!r} matches several variants equally: {'; '.join(sorted(best))}; name one with {name}[key=value]"
        )
    label = name if not wanted else f"{name}[{', '.join(wanted)}]"
    return Arm(name, best[0], label)


def main_variants(runs: pd.DataFrame, protocol: str = "strict") -> list[Arm]:
    """Each method's main row under ``protocol`` (the variant with the fewest settings; ties: first by name)."""
    arms = []
    for method, group in runs[runs["protocol"] == protocol].groupby("method", sort=True):
        variants = group.drop_duplicates("variant")
        ranked = sorted(zip(variants["variant"], variants["settings"], strict=True), key=lambda p: (len(p[1]), p[0]))
        arms.append(Arm(str(method), str(ranked[0][0]), str(method)))
    return arms
