"""The RunRecord: everything needed to understand and reproduce one run, as one JSON document."""

from __future__ import annotations

import math
import platform
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 2  # 2: ``identity`` (data, code and compute the numbers depend on; part of the run id)
TRACKED_PACKAGES = ("torch", "numpy", "pandas", "scikit-learn", "transformers", "zsbench")


@dataclass
class RunRecord:
    run_id: str
    config: dict[str, Any]
    dataset: dict[str, Any]
    split: dict[str, Any]
    protocol: dict[str, Any]
    metrics: dict[str, float]
    per_class: dict[str, dict[str, float]]
    confusion: dict[str, Any]
    calibration: dict[str, Any]
    encoders: dict[str, Any]
    method_log: dict[str, Any]
    timings: dict[str, float]
    environment: dict[str, Any] = field(default_factory=dict)
    created: str = ""
    identity: dict[str, Any] = field(default_factory=dict)
    schema_version: int = SCHEMA_VERSION

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types; undefined numbers (NaN) become null so the document is strict JSON."""
        return dict(_strict_json(asdict(self)))

    @classmethod
    def from_dict(cls, content: dict[str, Any]) -> RunRecord:
        known = {k: v for k, v in content.items() if k in cls.__dataclass_fields__}
        return cls(**known)


def _strict_json(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _strict_json(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_strict_json(item) for item in value]
    return value


def _git_commit() -> str | None:
    root = Path(__file__).resolve().parents[2]
    try:
        result = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() or None


def environment(device: str) -> dict[str, Any]:
    versions: dict[str, str | None] = {}
    for package in TRACKED_PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "device": device,
        "versions": versions,
        "git_commit": _git_commit(),
    }


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
