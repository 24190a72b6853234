"""Choosing a method's test-time settings on the validation fold (never on the test fold)."""

from __future__ import annotations

from typing import Any

from zsbench.pipeline.fitting import FoldOutput, run_fold
from zsbench.pipeline.folds import FoldData
from zsbench.pipeline.resolve import ResolvedRun
from zsbench.pipeline.scores import zsl_metrics
from zsbench.text.bank import TextBank


def choose_on_validation(
    data: FoldData, bank: TextBank, run: ResolvedRun, candidates: list[dict[str, Any]]
) -> tuple[FoldOutput, dict[str, Any], dict[str, Any]]:
    """Run the validation fold once per candidate and keep the best ZSL top-1 (the first among ties).

    The fit is shared (the candidates differ in test-time parameters only, see ``fit_with_cache``).
    Returns the chosen candidate's validation output, its overrides and a record of the choice.
    """
    best: tuple[float, FoldOutput, dict[str, Any]] | None = None
    tried = []
    for overrides in candidates:
        output = run_fold(data, bank, run, overrides=overrides)
        accuracy = zsl_metrics(output, run.split.validation_unseen)[0]["zsl_top1"]
        tried.append({"overrides": overrides, "validation_zsl_top1": accuracy})
        if best is None or accuracy > best[0]:
            best = (accuracy, output, overrides)
    assert best is not None
    return best[1], best[2], {"criterion": "validation ZSL top-1", "candidates": tried, "chosen": best[2]}
