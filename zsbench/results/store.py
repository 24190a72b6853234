"""Run records on disk: ``<results>/<run_id>.json`` plus ``<run_id>.npz`` with per-sample scores.

Both are written to a temporary name and renamed, the JSON last, so a record that exists is whole.
"""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np

from zsbench.atomic import write_atomic
from zsbench.errors import DataError
from zsbench.results.record import RunRecord


class ExistingRecord(str, Enum):
    """What ``zsbench run`` does when a record for the same resolved config exists."""

    SKIP = "skip"
    """Keep it and report it (the default: identical configs give identical numbers)."""
    OVERWRITE = "overwrite"
    """Run again and replace it."""


def record_path(results_dir: Path, run_id: str) -> Path:
    return results_dir / f"{run_id}.json"


def write_record(results_dir: Path, record: RunRecord, arrays: dict[str, np.ndarray]) -> Path:
    results_dir.mkdir(parents=True, exist_ok=True)
    try:
        write_atomic(results_dir / f"{record.run_id}.npz", lambda handle: np.savez_compressed(handle, **arrays))  # type: ignore[arg-type]
        text = json.dumps(record.to_dict(), indent=1, sort_keys=True, default=_jsonable, allow_nan=False)
        write_atomic(record_path(results_dir, record.run_id), text)
    except OSError as error:
        if not record_path(results_dir, record.run_id).is_file():
            (results_dir / f"{record.run_id}.npz").unlink(missing_ok=True)  # no arrays without their record
        raise DataError(
            f"{results_dir}: cannot write the record of run {record.run_id} ({error.strerror or error}); nothing was kept"
        ) from error
    return record_path(results_dir, record.run_id)


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def read_record(path: Path) -> RunRecord:
    try:
        content = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise DataError(f"{path}: not a readable run record ({error})") from error
    for required in ("run_id", "config", "metrics"):
        if required not in content:
            raise DataError(f"{path}: run record lacks field {required!r}")
    return RunRecord.from_dict(content)


def find_records(results_dir: Path) -> list[Path]:
    return sorted(p for p in results_dir.glob("*.json") if not p.name.startswith("."))
