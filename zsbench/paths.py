"""Where zsbench keeps its data: ``$ZSBENCH_HOME`` (default ``~/.cache/zsbench``)."""

from __future__ import annotations

import os
from pathlib import Path


def home() -> Path:
    configured = os.environ.get("ZSBENCH_HOME")
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "zsbench"


def datasets_dir() -> Path:
    return home() / "datasets"


def encoders_dir() -> Path:
    return home() / "encoders"


def text_cache_dir() -> Path:
    return home() / "text-cache"


def runs_dir() -> Path:
    return home() / "runs"
