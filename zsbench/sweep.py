"""Grids of runs: method × split × seed × protocol × variant, resumable, locally or on Ray.

Every point is resolved before anything runs, so a bad name fails the whole sweep at once. A point whose
record exists is not run again (records are named by the resolved config), so re-running a sweep resumes
it. A point that fails is reported and the sweep goes on.
"""

from __future__ import annotations

import itertools
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zsbench.config import RunConfig, build_config
from zsbench.errors import UsageError, ZsbenchError
from zsbench.pipeline.resolve import resolve_run
from zsbench.results.store import ExistingRecord, record_path

BACKENDS = ("local", "ray")


@dataclass(frozen=True)
class SweepPoint:
    config: RunConfig  # as given (unresolved), so that execute() resolves it exactly as `zsbench run` does
    run_id: str
    variant: tuple[str, ...]

    @property
    def label(self) -> str:
        c = self.config
        extra = f" [{'; '.join(self.variant)}]" if self.variant else ""
        return f"{c.method} · {c.split} · seed {c.seed} · {c.protocol}{extra}"


@dataclass(frozen=True)
class SweepOutcome:
    point: SweepPoint
    status: str  # "ran", "existing" or "failed"
    path: str | None
    metrics: dict[str, float | None]
    error: str | None = None


def plan(
    methods: Sequence[str],
    splits: Sequence[str],
    seeds: Sequence[int],
    protocols: Sequence[str],
    variants: Sequence[Sequence[str]],
    dataset: str,
    assignments: Sequence[str] = (),
    config_file: Path | None = None,
    device: str | None = None,
) -> list[SweepPoint]:
    """Every combination, resolved (and so checked) before anything runs; duplicates are dropped."""
    if not methods or not splits:
        raise UsageError("a sweep needs at least one --method and one --split")
    points: dict[str, SweepPoint] = {}
    for method, split, seed, protocol, variant in itertools.product(
        methods, splits, seeds or (0,), protocols or ("strict",), variants or ((),)
    ):
        flags = {"method": method, "split": split, "seed": seed, "protocol": protocol, "dataset": dataset}
        config = build_config(config_file, [*assignments, *variant], flags)
        run_id = resolve_run(config, device).run_id
        points.setdefault(run_id, SweepPoint(config, run_id, tuple(variant)))
    return list(points.values())


def parse_variant(text: str) -> tuple[str, ...]:
    """``"method_params.refine=false; method_params.slots=g"`` -> the two assignments."""
    parts = tuple(part.strip() for part in text.split(";") if part.strip())
    for part in parts:
        if "=" not in part:
            raise UsageError(f"--variant {text!r}: expected key=value assignments separated by ';', got {part!r}")
    return parts


def run_sweep(
    points: Sequence[SweepPoint],
    results_dir: Path,
    backend: str = "local",
    device: str | None = None,
    on_outcome: Callable[[SweepOutcome], None] | None = None,
) -> list[SweepOutcome]:
    """Run the points that have no record yet; returns one outcome per point, in plan order."""
    if backend not in BACKENDS:
        raise UsageError(f"unknown backend {backend!r}; valid: {', '.join(BACKENDS)}")
    if backend == "ray":
        return _run_on_ray(points, results_dir, device, on_outcome)
    outcomes = []
    for point in points:
        outcome = _run_point(point, results_dir, device)
        outcomes.append(outcome)
        if on_outcome is not None:
            on_outcome(outcome)
    return outcomes


def _run_point(point: SweepPoint, results_dir: Path, device: str | None) -> SweepOutcome:
    from zsbench.runner import execute

    try:
        record, path, existed = execute(point.config, results_dir, ExistingRecord.SKIP, None, device)
    except Exception as error:  # one failed point must not stop the sweep; its error is reported
        detail = str(error) if isinstance(error, ZsbenchError) else traceback.format_exc(limit=-3)
        return SweepOutcome(point, "failed", None, {}, f"{type(error).__name__}: {detail}")
    metrics = {key: record.metrics.get(key) for key in ("zsl_top1", "gzsl_h")}
    return SweepOutcome(point, "existing" if existed else "ran", str(path), metrics)


def _run_on_ray(
    points: Sequence[SweepPoint],
    results_dir: Path,
    device: str | None,
    on_outcome: Callable[[SweepOutcome], None] | None,
) -> list[SweepOutcome]:
    try:
        import ray
    except ImportError as error:
        raise UsageError("the ray backend needs ray: pip install 'zsbench[ray]'") from error
    started_here = not ray.is_initialized()
    if started_here:
        ray.init()  # RAY_ADDRESS selects a cluster; none starts a local one
    try:
        return _ray_outcomes(ray, points, results_dir, device, on_outcome)
    finally:
        if started_here:
            ray.shutdown()


def _ray_outcomes(
    ray: Any,
    points: Sequence[SweepPoint],
    results_dir: Path,
    device: str | None,
    on_outcome: Callable[[SweepOutcome], None] | None,
) -> list[SweepOutcome]:
    remote = ray.remote(num_cpus=1)(_run_point)
    # Points whose record exists are settled here; only the others become tasks.
    outcomes: dict[str, SweepOutcome] = {}
    pending: dict[Any, str] = {}
    for point in points:
        if record_path(results_dir, point.run_id).is_file():
            outcomes[point.run_id] = _run_point(point, results_dir, device)
            if on_outcome is not None:
                on_outcome(outcomes[point.run_id])
        else:
            pending[remote.remote(point, results_dir, device)] = point.run_id
    while pending:
        done, _ = ray.wait(list(pending), num_returns=1)
        outcome = ray.get(done[0])
        outcomes[pending.pop(done[0])] = outcome
        if on_outcome is not None:
            on_outcome(outcome)
    return [outcomes[point.run_id] for point in points]
