"""Resolving a run config: every name checked, every default filled, so its hash names the run."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from zsbench import paths
from zsbench.catalog import DATASETS, JOINT_MAP_ENCODERS, METHODS, SKELETON_ENCODERS
from zsbench.config import RunConfig, params_from_dict
from zsbench.data.datasets import DatasetSpec
from zsbench.errors import UsageError
from zsbench.identity import code_identity, compute_identity
from zsbench.methods.base import Method
from zsbench.quirks import active_quirks
from zsbench.splits import ClassSplit, resolve


@dataclass
class ResolvedRun:
    config: RunConfig
    spec: DatasetSpec
    split: ClassSplit
    method_type: type[Method]
    identity: dict[str, Any] = field(default_factory=dict)  # data, code and compute the numbers depend on
    quirks: tuple[str, ...] = ()  # the active paper quirks (protocol, then --quirk / --no-quirk)
    budget: dict[str, Any] = field(default_factory=dict)  # synthetic-set values that replaced released defaults

    @property
    def protocol_name(self) -> str:
        """strict (no quirk on), paper (all the method's quirks on) or custom (some)."""
        if not self.quirks:
            return "strict"
        return "paper" if set(self.quirks) == set(self.method_type.paper_quirks) else "custom"

    @property
    def run_id(self) -> str:
        """Names the run's record: the resolved config plus the data, code and compute identities.

        Re-preparing a dataset with other content, a numerics change in the code, or another thread count
        gives a new id, so a record made under other conditions is never reported as this run's.
        """
        payload = json.dumps({"config": self.config.to_dict(), **self.identity}, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(payload.encode()).hexdigest()[:16]


def data_identity(spec: DatasetSpec) -> str:
    """The prepared dataset's content hash (``unprepared`` when there is none yet; such a run fails later)."""
    manifest = paths.datasets_dir() / spec.name / "manifest.json"
    try:
        raw = manifest.read_bytes()
    except OSError:
        return "unprepared"
    try:
        content = json.loads(raw)
    except json.JSONDecodeError:
        return "unreadable"
    stated = content.get("content_hash") if isinstance(content, dict) else None
    return str(stated) if stated else hashlib.sha256(raw).hexdigest()[:16]


def method_budget(method_type: type[Method], spec: DatasetSpec, explicit: Mapping[str, Any]) -> dict[str, Any]:
    """The method's synthetic budget on an embedded synthetic set; nothing on real data.

    The budget applies whole or not at all: its values belong together (epochs with the warm-up shortened to
    them), so naming any of them explicitly drops the rest, and the run gets the defaults.
    """
    budget = dict(method_type.synthetic_budget) if spec.synthetic else {}
    return {} if budget.keys() & explicit.keys() else budget


def needs_token_map(method_type: type[Method], spec: DatasetSpec) -> bool:
    """Whether the run's encoder must give a per-joint map (feature stores have none to give)."""
    return method_type.map_segments is not None and spec.kind != "features"


def default_encoder(spec: DatasetSpec, split_setting: str) -> str:
    """The encoder a run gets when none is named: the dataset's backbone for the split setting, whatever the
    method, so that every method of a table reads the same checkpoint (see DatasetSpec.default_backbone)."""
    backbone = spec.default_backbone(split_setting)
    return "tcn" if backbone == "features" else backbone  # a feature store trains no encoder; the name is inert


def plugin_identity(method: str, dataset: str, encoder: str) -> dict[str, dict[str, str]]:
    """The installed plugins a run's method, dataset and encoder come from (empty when all are built in)."""
    sources = {
        "method": METHODS.plugin(method), "dataset": DATASETS.plugin(dataset), "encoder": SKELETON_ENCODERS.plugin(encoder),
    }  # fmt: skip
    return {role: source.to_dict() for role, source in sources.items() if source is not None}


def resolve_run(config: RunConfig, device: str | None = None) -> ResolvedRun:
    """Check every name and fill in defaults, so the config (and its hash) is canonical.

    ``device`` is the run's ``--device`` (None: ``$ZSBENCH_DEVICE`` or auto); it enters the run's identity.
    """
    spec = DATASETS.get(config.dataset)
    split = resolve(config.split, spec.family)
    method_type: type[Method] = METHODS.get(config.method)
    partition = config.partition or spec.default_partition
    if partition not in spec.partitions:
        raise UsageError(f"dataset {spec.name} has no partition {partition!r}; valid: {', '.join(spec.partitions)}")
    budget = method_budget(method_type, spec, config.method_params)
    params = params_from_dict(method_type.params_type, {**budget, **config.method_params}, "method_params")
    encoder_name = config.encoder.name or default_encoder(spec, split.setting)
    SKELETON_ENCODERS.get(encoder_name)  # an unknown name fails here, listing the valid ones
    if needs_token_map(method_type, spec) and encoder_name not in JOINT_MAP_ENCODERS:
        raise UsageError(
            f"method {config.method} reads the encoder's per-joint token map; encoder {encoder_name!r} has none. "
            f"Use --set encoder.name=<{'|'.join(JOINT_MAP_ENCODERS)}>"
        )
    quirks = active_quirks(method_type.paper_quirks, config.protocol, config.quirks, config.no_quirks)
    # Building the method runs its own parameter checks now, before any encoder trains (it holds no weights yet).
    method_type(params, frozenset(quirks), config.seed, spec.family, split.setting)
    resolved = dataclasses.replace(
        config, split=split.name, partition=partition, method_params=dataclasses.asdict(params),
        encoder=dataclasses.replace(config.encoder, name=encoder_name),
        quirks=tuple(sorted(set(config.quirks))), no_quirks=tuple(sorted(set(config.no_quirks))),
    )  # fmt: skip
    identity = {"data": data_identity(spec), "code": code_identity(), "compute": compute_identity(device)}
    plugins = plugin_identity(config.method, config.dataset, encoder_name)
    if plugins:  # a plugin's package and version name its code (built-in runs keep their ids)
        identity["plugins"] = plugins
    return ResolvedRun(resolved, spec, split, method_type, identity, quirks, budget)
