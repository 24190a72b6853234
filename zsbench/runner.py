"""One run, end to end: resolve the config, build both folds' features, fit and score, write the record.

The stages live in :mod:`zsbench.pipeline`; this module composes them and assembles the RunRecord.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from zsbench import paths, runtime
from zsbench.config import RunConfig, params_from_dict
from zsbench.errors import UsageError
from zsbench.methods.base import MethodParams
from zsbench.pipeline.fitting import FoldOutput, run_fold
from zsbench.pipeline.folds import FoldData, feature_folds, skeleton_fold_data, skeleton_store_and_folds
from zsbench.pipeline.resolve import ResolvedRun, resolve_run
from zsbench.pipeline.scores import gzsl_metrics, test_batch_size, zsl_metrics
from zsbench.pipeline.selection import choose_on_validation
from zsbench.quirks import PIPELINE_QUIRKS
from zsbench.results.record import RunRecord, environment, now
from zsbench.results.store import ExistingRecord, read_record, record_path, write_record
from zsbench.text import descriptions
from zsbench.text.bank import TextBank, build_bank
from zsbench.text.encoders import load_text_encoder

Progress = Callable[[str, int, int], None]
__all__ = ["ResolvedRun", "execute", "resolve_run"]


@dataclass
class RunInputs:
    """Both folds' data and what the record says about where they came from."""

    validation: FoldData
    test: FoldData
    validation_note: str
    content_hash: str
    num_samples: int
    validation_subjects: list[int]


@dataclass
class RunOutputs:
    """Both folds fitted and scored, with the test-time settings chosen on the validation fold (if any)."""

    validation: FoldOutput
    test: FoldOutput
    test_time_selection: dict[str, Any] | None
    params: MethodParams


def execute(
    config: RunConfig,
    results_dir: Path | None = None,
    existing: ExistingRecord = ExistingRecord.SKIP,
    progress: Progress | None = None,
    device: str | None = None,
) -> tuple[RunRecord, Path, bool]:
    """Run (or find) the record for ``config``. Returns (record, its path, whether it already existed)."""
    run = resolve_run(config, device)
    results_dir = results_dir or paths.runs_dir()
    path = record_path(results_dir, run.run_id)
    if path.is_file() and existing is ExistingRecord.SKIP:
        return read_record(path), path, True

    started = time.perf_counter()
    compute = runtime.configure(device)
    timings: dict[str, float] = {}
    mark = time.perf_counter()
    bank = text_bank(run)
    timings["text_seconds"] = time.perf_counter() - mark
    mark = time.perf_counter()
    inputs = run_inputs(run, progress)
    timings["features_seconds"] = time.perf_counter() - mark
    mark = time.perf_counter()
    outputs = fit_and_score(run, inputs, bank)
    timings["method_seconds"] = time.perf_counter() - mark
    timings.update(stage_timings(inputs, outputs))
    record = assemble_record(run, inputs, outputs, bank, timings, started, compute)
    return record, write_record(results_dir, record, score_arrays(run, inputs, outputs)), False


def text_bank(run: ResolvedRun) -> TextBank:
    """Every class's text in the slots the method reads, from the run's text encoder (cached on disk)."""
    text_encoder = load_text_encoder(run.config.text.encoder)
    return build_bank(
        descriptions.load(run.spec.family), run.method_type.text_slots, text_encoder, paths.text_cache_dir()
    )


def run_inputs(run: ResolvedRun, progress: Progress | None) -> RunInputs:
    """The validation and test folds' features: from a feature store, or from skeletons through the encoder."""
    if run.spec.kind == "features":
        if "skeletons" in run.method_type.requires:
            raise UsageError(
                f"{run.config.method} trains end to end on raw skeletons; {run.spec.name} holds features only"
            )
        validation_data, test_data, validation_note = feature_folds(run)
        return RunInputs(validation_data, test_data, validation_note, "features", len(test_data.fold.eval_labels), [])
    store, folds = skeleton_store_and_folds(run)
    validation_data = skeleton_fold_data(folds.validation, store, run, progress)
    test_data = skeleton_fold_data(folds.test, store, run, progress, folds.validation_subjects)
    unseen_from = run.config.evaluation.validation_unseen_from.replace("_", " ")
    validation_note = (
        "pseudo-unseen classes (evaluated on the " + unseen_from + ") and held-out training subjects; "
        "encoder retrained on the pseudo-seen classes"
    )
    return RunInputs(
        validation_data, test_data, validation_note, store.content_hash, len(store.index),
        list(folds.validation_subjects),
    )  # fmt: skip


def fit_and_score(run: ResolvedRun, inputs: RunInputs, bank: TextBank) -> RunOutputs:
    """Fit and score the validation fold (choosing test-time settings there, if the method offers any), then
    the test fold under the run's quirks and those settings."""
    params = params_from_dict(run.method_type.params_type, run.config.method_params, "method_params")
    candidates = run.method_type.test_time_candidates(params, frozenset(run.quirks))
    if candidates:
        validation, overrides, test_time_selection = choose_on_validation(inputs.validation, bank, run, candidates)
    else:
        validation, overrides, test_time_selection = run_fold(inputs.validation, bank, run), None, None
    test = run_fold(inputs.test, bank, run, run.quirks, overrides, validation)
    return RunOutputs(validation, test, test_time_selection, params)


def stage_timings(inputs: RunInputs, outputs: RunOutputs) -> dict[str, float]:
    """Seconds per stage, summed over both folds (and the test fold's scoring alone)."""
    timings: dict[str, float] = {}
    for stage in ("encoder_training_seconds", "extraction_seconds"):
        timings[stage] = inputs.validation.timings.get(stage, 0.0) + inputs.test.timings.get(stage, 0.0)
    for stage in ("fit_seconds", "scoring_seconds"):
        timings[stage] = outputs.validation.timings.get(stage, 0.0) + outputs.test.timings.get(stage, 0.0)
    timings["test_scoring_seconds"] = outputs.test.timings.get("scoring_seconds", 0.0)  # the test fold alone
    return timings


def budget_note(run: ResolvedRun) -> dict[str, Any]:
    """Which budget the method ran: its synthetic one (the values it applied), or its defaults and why."""
    if run.budget:
        return {"name": "synthetic", "values": run.budget}
    if run.spec.synthetic and run.method_type.synthetic_budget:
        return {"name": "defaults", "reason": "a budget parameter was set explicitly; the budget applies whole or not"}
    return {"name": "defaults"}


def assemble_record(
    run: ResolvedRun,
    inputs: RunInputs,
    outputs: RunOutputs,
    bank: TextBank,
    timings: dict[str, float],
    started: float,
    compute: dict[str, object],
) -> RunRecord:
    """The metrics of both folds and everything the record states about the run."""
    quirks, validation, test = run.quirks, outputs.validation, outputs.test
    zsl_values, zsl_per_class, confusion = zsl_metrics(test, run.split.unseen, quirks, test_batch_size(outputs.params))
    val_zsl, _, _ = zsl_metrics(validation, run.split.validation_unseen)
    gzsl_values, calibration, gzsl_per_class = gzsl_metrics(test, validation, run, quirks)
    timings["total_seconds"] = time.perf_counter() - started
    selection = outputs.test_time_selection
    return RunRecord(
        run_id=run.run_id,
        config=run.config.to_dict(),
        dataset={
            "name": run.spec.name,
            "family": run.spec.family,
            "content_hash": inputs.content_hash,
            "num_samples": inputs.num_samples,
            "partition": run.config.partition,
            "synthetic": run.spec.synthetic,
        },
        split=run.split.to_record(),
        protocol={
            "name": run.protocol_name,
            # The quirks that acted (a refinement quirk does not act without refinement); all that were on below.
            "quirks": [q for q in quirks if q in PIPELINE_QUIRKS or q in test.acted_quirks],
            "quirks_on": list(quirks),
            "transductive": run.method_type.transductive,
            "validation_subjects": inputs.validation_subjects,
            "validation_fold": inputs.validation_note,
            "text_encoder": bank.encoder,
            "text_slots": list(bank.slots),
            "unseen_text_control": run.config.evaluation.unseen_text_control,
            "method_budget": budget_note(run),
        },
        metrics={**zsl_values, **gzsl_values, "validation_zsl_top1": val_zsl["zsl_top1"]},
        per_class={"zsl": zsl_per_class, "gzsl": gzsl_per_class},
        confusion={"zsl": confusion},
        calibration={**calibration, "test_time_selection": selection} if selection else calibration,
        encoders={"test_fold": test.encoder, "validation_fold": validation.encoder},
        identity=run.identity,
        method_log={"test_fold": test.method_log, "validation_fold": validation.method_log},
        timings=timings,
        environment={**environment(str(compute["device"])), "threads": compute["threads"]},
        created=now(),
    )


def score_arrays(run: ResolvedRun, inputs: RunInputs, outputs: RunOutputs) -> dict[str, np.ndarray]:
    """The test fold's per-sample scores and labels, saved beside the record (``<run_id>.npz``)."""
    test = outputs.test
    return {
        "labels": test.labels,
        "class_ids": test.class_ids,
        "scores": test.scores.astype(np.float32),
        "zsl_scores": test.zsl_scores.astype(np.float32),
        "zsl_labels": test.labels[np.isin(test.labels, run.split.unseen)],
        "sample_indices": inputs.test.fold.eval_indices,
    }
