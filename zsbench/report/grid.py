"""A format-neutral table: grouped column headers, label cells and number cells, footnotes.

The paper layout and the leaks view build a :class:`Grid`; :mod:`zsbench.report.render` writes it as markdown,
LaTeX, rich or HTML. Numbers are kept as numbers (in %) so each format can mark best values its own way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

TRANSDUCTIVE_MARK = "†"
PAPER_MARK = "‡"


@dataclass(frozen=True)
class Number:
    """A cell value in %: mean, sample std (NaN: unknown or not applicable) and its n.

    ``show_n``: print n beside the value (the table states the usual n once). ``rank``: 1 best, 2 second best,
    0 unranked. ``signed``: a difference, printed with its sign.
    """

    mean: float
    std: float = math.nan
    n: int = 0
    show_n: bool = False
    rank: int = 0
    signed: bool = False

    @property
    def missing(self) -> bool:
        return not math.isfinite(self.mean)

    def value_text(self) -> str:
        return f"{self.mean:+.1f}" if self.signed else f"{self.mean:.1f}"

    def std_text(self) -> str | None:
        return None if not math.isfinite(self.std) else f"{self.std:.1f}"


@dataclass(frozen=True)
class Label:
    """A row label: text plus marks (``†`` transductive, ``‡`` paper protocol) and a footnote key such as ``a``."""

    text: str
    marks: str = ""
    note: str = ""


@dataclass
class Grid:
    """``groups``: (title, number of columns) over the value columns; ``columns``: one title per value column."""

    title: str
    stub: str
    groups: list[tuple[str, int]]
    columns: list[str]
    rows: list[tuple[Label, list[Number]]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def width(self) -> int:
        return 1 + len(self.columns)
