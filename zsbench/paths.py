"""Where zsbench keeps its data: ``$ZSBENCH_HOME`` (default ``~/.cache/zsbench``)."""

from __future__ import annotations

import os
from pathlib import Path

from zsbench.errors import DataError


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


def fits_dir() -> Path:
    """Fitted method states, shared by runs that differ only in test-time settings (the fit cache)."""
    return home() / "fits"


def require_writable(folder: Path, what: str) -> None:
    """Raise a DataError unless ``folder`` exists or can be created, and can be written to.

    Commands call this before any work starts, so a read-only folder is found before hours of computing.
    """
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise DataError(f"{folder}: cannot create the {what} folder ({error.strerror or error})") from error
    if not os.access(folder, os.W_OK | os.X_OK):
        raise DataError(f"{folder}: the {what} folder is not writable")
