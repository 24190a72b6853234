"""Per-sample predictions saved beside a run record (``RUN_ID.npz``): ZSL correctness and GZSL scores."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from zsbench.errors import DataError

ARRAYS = ("labels", "class_ids", "scores", "zsl_scores", "zsl_labels", "sample_indices")


@dataclass(frozen=True)
class RunPredictions:
    """``zsl_correct[i]``: whether the i-th unseen-class test sample (``zsl_samples[i]``) was classified right."""

    run_id: str
    zsl_samples: np.ndarray
    zsl_correct: np.ndarray
    zsl_predicted: np.ndarray
    zsl_labels: np.ndarray
    unseen: np.ndarray
    seen: np.ndarray
    labels: np.ndarray
    class_ids: np.ndarray
    scores: np.ndarray


def arrays_path(record_path: Path) -> Path:
    return record_path.with_suffix(".npz")


def has_predictions(record_path: Path) -> bool:
    return arrays_path(record_path).is_file()


def load_predictions(record_path: Path) -> RunPredictions:
    """Read a record's ``.npz``; a missing file or array is a :class:`DataError` naming the file."""
    path = arrays_path(record_path)
    try:
        with np.load(path) as data:
            missing = [name for name in ARRAYS if name not in data]
            if missing:
                raise DataError(f"{path}: lacks array(s) {', '.join(missing)}; expected {', '.join(ARRAYS)}")
            arrays = {name: np.asarray(data[name]) for name in ARRAYS}
    except OSError as error:
        raise DataError(f"{path}: per-sample predictions not readable ({error})") from error
    record = json.loads(record_path.read_text())
    unseen = np.array(sorted(record["split"]["unseen"]))
    seen = np.array(sorted(record["split"]["seen"]))
    labels = arrays["labels"]
    novel = np.isin(labels, unseen)
    if int(novel.sum()) != len(arrays["zsl_labels"]) or arrays["zsl_scores"].shape[1] != len(unseen):
        raise DataError(f"{path}: ZSL arrays do not match the record's {len(unseen)} unseen classes")
    predicted = unseen[np.argmax(arrays["zsl_scores"], axis=1)]
    return RunPredictions(
        run_id=str(record["run_id"]),
        zsl_samples=arrays["sample_indices"][novel],
        zsl_correct=predicted == arrays["zsl_labels"],
        zsl_predicted=predicted,
        zsl_labels=arrays["zsl_labels"],
        unseen=unseen,
        seen=seen,
        labels=labels,
        class_ids=arrays["class_ids"],
        scores=arrays["scores"],
    )


def aligned_correctness(a: RunPredictions, b: RunPredictions) -> tuple[np.ndarray, np.ndarray]:
    """ZSL correctness of two runs on the same samples, in the same order; refuses different test sets."""
    if set(a.zsl_samples.tolist()) != set(b.zsl_samples.tolist()):
        raise DataError(f"runs {a.run_id} and {b.run_id} were tested on different samples: they cannot be paired")
    order_a, order_b = np.argsort(a.zsl_samples, kind="stable"), np.argsort(b.zsl_samples, kind="stable")
    return a.zsl_correct[order_a], b.zsl_correct[order_b]
