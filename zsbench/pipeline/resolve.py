"""Resolving a run config: every name checked, every default filled, so its hash names the run."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from zsbench.catalog import DATASETS, METHODS
from zsbench.config import RunConfig, params_from_dict
from zsbench.data.datasets import DatasetSpec
from zsbench.errors import UsageError
from zsbench.methods.base import Method
from zsbench.splits import ClassSplit, resolve


@dataclass
class ResolvedRun:
    config: RunConfig
    spec: DatasetSpec
    split: ClassSplit
    method_type: type[Method]

    @property
    def run_id(self) -> str:
        return self.config.hash()


def resolve_run(config: RunConfig) -> ResolvedRun:
    """Check every name and fill in defaults, so the config (and its hash) is canonical."""
    spec = DATASETS.get(config.dataset)
    split = resolve(config.split, spec.family)
    method_type: type[Method] = METHODS.get(config.method)
    partition = config.partition or spec.default_partition
    if partition not in spec.partitions:
        raise UsageError(f"dataset {spec.name} has no partition {partition!r}; valid: {', '.join(spec.partitions)}")
    params = params_from_dict(method_type.params_type, config.method_params, "method_params")
    resolved = dataclasses.replace(
        config, split=split.name, partition=partition, method_params=dataclasses.asdict(params)
    )
    return ResolvedRun(resolved, spec, split, method_type)
