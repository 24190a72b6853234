"""Split settings by name: light enough for the CLI's start-up and the report (no numpy or torch)."""

from __future__ import annotations

# Split settings whose class splits are drawn at random (the field trains ST-GCN-size backbones on them).
RANDOM_SPLIT_SETTINGS = ("smie", "sadvae", "random")


def setting_of(split_name: str) -> str:
    """``"synse:55/5"`` -> ``"synse"``: the setting part of a canonical split name."""
    return split_name.partition(":")[0]
