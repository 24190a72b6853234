"""Run records -> one row per run -> one row per (method, dataset, split, protocol) with statistics."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from zsbench.config import RunConfig
from zsbench.results.store import find_records, read_record
from zsbench.split_settings import setting_of

GROUP_KEYS = ("method", "dataset", "split", "protocol", "variant")
IDENTITY_FIELDS = ("method", "dataset", "split", "seed", "protocol")
REPORTED_METRICS = ("zsl_top1", "zsl_top5", "zsl_mean_class", "gzsl_seen", "gzsl_unseen", "gzsl_h", "ausuc")


def _flatten(mapping: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in mapping.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def variant_settings(config: dict[str, Any]) -> list[str]:
    """What sets a run apart from the defaults, besides method, dataset, split, seed and protocol, as
    ``key=value`` strings (e.g. ``method_params.rho=0.5``), sorted by key."""
    from zsbench.catalog import DATASETS, METHODS
    from zsbench.pipeline.resolve import default_encoder, method_budget

    defaults = RunConfig().to_dict()
    if config.get("method") in METHODS:
        method_type = METHODS.get(config["method"])
        defaults["method_params"] = asdict(method_type.params_type())
        if config.get("dataset") in DATASETS:
            spec = DATASETS.get(config["dataset"])
            defaults["encoder"]["name"] = default_encoder(spec, setting_of(str(config.get("split", ""))))
            # On a synthetic set a run at defaults ran the method's budget: that is its "default" variant.
            defaults["method_params"].update(method_budget(method_type, spec, {}))
    # Records hold JSON: tuples read back as lists.
    default_flat, flat = _flatten(json.loads(json.dumps(defaults))), _flatten(config)
    if flat.get("partition") == "xsub":
        flat.pop("partition")
    return [
        f"{key}={flat[key]}"
        for key in sorted(flat)
        if key not in IDENTITY_FIELDS and flat[key] != default_flat.get(key, object())
    ]


def variant_label(settings: Sequence[str]) -> str:
    """Settings joined, or ``"default"``. Runs are averaged over seeds only within one variant, so ablations
    never mix."""
    return ", ".join(settings) or "default"


def variant_of(config: dict[str, Any]) -> str:
    """The variant a config names: :func:`variant_label` of its :func:`variant_settings`."""
    return variant_label(variant_settings(config))


def factor_common(summary: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Move the settings every row shares out of the variant column; returns the table and those settings.

    Rows left with nothing of their own read ``common``. A table of one row is returned as it is.
    """
    if len(summary) < 2:
        return summary, []
    settings = [list(row) for row in summary["settings"]]
    common = [item for item in settings[0] if all(item in other for other in settings[1:])]
    if not common:
        return summary, []
    shortened = summary.copy()
    shortened["variant"] = [", ".join(i for i in row if i not in common) or "common" for row in settings]
    return shortened, common


def _number(value: Any) -> float:
    return math.nan if value is None else float(value)


def runs_table(results_dir: Path) -> pd.DataFrame:
    """One row per run record found in ``results_dir``."""
    rows = []
    for path in find_records(results_dir):
        record = read_record(path)
        # Runs under other compute settings give other numbers (see zsbench.identity): never averaged together.
        settings = (*variant_settings(record.config), *_compute_setting(record.identity))
        rows.append(
            {
                "run_id": record.run_id,
                "path": str(path),
                "method": record.config["method"],
                "dataset": record.config["dataset"],
                "split": record.config["split"],
                "protocol": record.protocol.get("name", record.config.get("protocol")),
                "variant": variant_label(settings),
                "settings": settings,
                "encoder": str(record.config.get("encoder", {}).get("name")),
                "transductive": bool(record.protocol.get("transductive", False)),
                "quirks": ",".join(record.protocol.get("quirks", [])),
                "seed": record.config["seed"],
                "family": record.dataset.get("family", record.split.get("family")),
                "synthetic": bool(record.dataset.get("synthetic", False)),
                "unseen_count": len(record.split.get("unseen", [])),
                **{metric: _number(record.metrics.get(metric)) for metric in REPORTED_METRICS},
            }
        )
    return pd.DataFrame(rows)


def _compute_setting(identity: dict[str, Any]) -> tuple[str, ...]:
    compute = identity.get("compute")
    return (f"compute={compute['device']}x{compute['threads']}",) if isinstance(compute, dict) else ()


def mixed_encoder_note(runs: pd.DataFrame) -> str | None:
    """A warning when the rows of one table read different encoders (then they compare encoders, too)."""
    if "encoder" not in runs or runs.empty:
        return None
    by_encoder = runs.groupby("encoder")["method"].unique()
    if len(by_encoder) < 2:
        return None
    parts = "; ".join(f"{encoder}: {', '.join(sorted(methods))}" for encoder, methods in by_encoder.items())
    return f"Note: these rows read different encoders ({parts}), so they do not compare methods on one backbone."


def summarise(runs: pd.DataFrame, confidence: float = 0.95) -> pd.DataFrame:
    """Mean, sample standard deviation (ddof=1), n and a t-based confidence half-width per group.

    With n = 1 the spread is unknown: std and the half-width are NaN, not 0.
    """
    if runs.empty:
        return pd.DataFrame()
    groups = []
    for key, group in runs.groupby(list(GROUP_KEYS), sort=True):
        row = dict(zip(GROUP_KEYS, key, strict=True))
        row["n"] = len(group)
        row["seeds"] = ",".join(str(s) for s in sorted(group["seed"]))
        row["transductive"] = bool(group["transductive"].any())
        row["quirks"] = group["quirks"].iloc[0]
        row["settings"] = group["settings"].iloc[0]
        for extra in ("family", "synthetic", "unseen_count", "encoder"):
            if extra in group:
                row[extra] = group[extra].iloc[0]
        for metric in REPORTED_METRICS:
            values = group[metric].to_numpy(dtype=float)
            values = values[np.isfinite(values)]
            mean = float(values.mean()) if len(values) else math.nan
            std = float(values.std(ddof=1)) if len(values) > 1 else math.nan
            half = (
                float(stats.t.ppf(0.5 + confidence / 2, len(values) - 1) * std / math.sqrt(len(values)))
                if len(values) > 1
                else math.nan
            )
            row[f"{metric}_mean"], row[f"{metric}_std"], row[f"{metric}_ci"] = mean, std, half
        groups.append(row)
    return pd.DataFrame(groups)
