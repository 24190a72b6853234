"""Published numbers (``results/published.csv``) matched to zsbench rows: same method, dataset family, split, metric.

Method names match ignoring case and punctuation (``pgfa`` ↔ ``PGFA``, ``cada_vae`` ↔ ``CADA-VAE``). Splits match through the setting's file name
(``synse:55/5`` ↔ ``synse_fixed:55/5``); a random split (``smie:1``, ``sadvae:2``) is matched with the literature's
mean over 3 random splits of the same size (``random3:55/5``, metric ``zsl_top1_mean3``). Values are in %.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

from zsbench.errors import DataError

REQUIRED_COLUMNS = ("method", "dataset", "split", "metric", "value", "source")
METRIC_NAMES = {"zsl_top1": "zsl_top1", "gzsl_h": "gzsl_H"}


def default_path() -> Path:
    """``results/published.csv`` of the checkout this package runs from."""
    return Path(__file__).resolve().parents[2] / "results" / "published.csv"


@dataclass(frozen=True)
class Anchor:
    value: float
    source: str
    note: str


def method_key(method: str) -> str:
    """A method's name for matching: case and punctuation dropped (``CADA-VAE`` ↔ ``cada_vae``, ``SA-DVAE`` ↔ ``sadvae``)."""
    return re.sub(r"[^a-z0-9]", "", method.lower())


def _key(method: str, dataset: str, split: str, metric: str) -> tuple[str, str, str, str]:
    return method_key(method), dataset, split, metric


class Published:
    """The published numbers, looked up by (method, family, zsbench split name, zsbench metric)."""

    def __init__(self, rows: list[dict[str, str]]) -> None:
        self._anchors: dict[tuple[str, str, str, str], Anchor] = {}
        for row in rows:
            key = _key(row["method"], row["dataset"], row["split"], row["metric"])
            anchor = Anchor(float(row["value"]), row["source"], row.get("note") or "")
            # Several sources may quote one number; a paper's own result wins over a quotation.
            if key not in self._anchors or "own result" in anchor.note:
                self._anchors[key] = anchor

    @classmethod
    def read(cls, path: Path | None = None) -> Published:
        path = path or default_path()
        try:
            with open(path, newline="") as handle:
                reader = csv.DictReader(handle)
                missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
                if missing:
                    raise DataError(f"{path}: missing column(s) {', '.join(missing)}; expected {REQUIRED_COLUMNS}")
                rows = list(reader)
        except OSError as error:
            raise DataError(f"{path}: cannot read the published numbers ({error.strerror})") from error
        for line, row in enumerate(rows, start=2):
            try:
                float(row["value"])
            except (TypeError, ValueError):
                raise DataError(f"{path}, line {line}: value {row['value']!r} is not a number") from None
        return cls(rows)

    def has(self, method: str, family: str, published_split: str, published_metric: str) -> bool:
        """Whether a number is on record under published.csv's own names (e.g. ``synse_fixed:55/5``, ``zsl_top1``)."""
        return _key(method, family, published_split, published_metric) in self._anchors

    def lookup(self, method: str, family: str, split: str, unseen_count: int, metric: str) -> Anchor | None:
        """The published number for a zsbench row, or None."""
        from zsbench import split_settings
        from zsbench.splits import NUM_CLASSES

        if metric not in METRIC_NAMES:
            return None
        setting, _, name = split.partition(":")
        if split_settings.is_random(setting):
            total = NUM_CLASSES.get(family)
            if total is None or metric != "zsl_top1":
                return None
            return self._anchors.get(
                _key(method, family, f"random3:{total - unseen_count}/{unseen_count}", "zsl_top1_mean3")
            )
        known = split_settings.settings().get(setting)
        if known is None:
            return None
        return self._anchors.get(_key(method, family, f"{known.path.stem}:{name}", METRIC_NAMES[metric]))
