"""The typed run configuration: defaults < YAML file (``--config``) < ``--set`` < explicit CLI flags.

A resolved config (split name canonical, partition and method parameters filled in) has a canonical
JSON form and a stable hash that names the run's record.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from zsbench.errors import UsageError

PROTOCOLS = ("strict", "paper")
CALIBRATIONS = ("stacking", "gating")
TEXT_CONTROLS = ("none", "permute")
SELECTIONS = ("fixed", "holdout")


@dataclass
class EncoderConfig:
    """The skeleton encoder pretrained for each split on its seen classes only."""

    name: str | None = None  # None: tcn, or stgcn for methods that read the per-joint token map
    dim: int = 256  # pooled feature width
    hidden: int = 128  # width knob: 128 = the encoder's reference widths (tcn: 128 channels; stgcn: SMIE 16..64)
    epochs: int = 30  # fixed budget (strict protocol: no selection on test data)
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 1e-4
    selection: str = "fixed"  # fixed: the last epoch | holdout: best seen-class accuracy on held-out training subjects
    amp: bool = False  # CUDA only: bfloat16 autocast in training
    compile: bool = False  # CUDA only: torch.compile the training forward


@dataclass
class TextConfig:
    """How class text becomes embeddings."""

    encoder: str = "minilm"  # minilm | hf:PATH | clip:PATH | npy:PATH


@dataclass
class EvalConfig:
    """GZSL calibration and validation settings."""

    calibration: str = "stacking"  # stacking (calibrated stacking) | gating (SynSE-style seen/unseen gate)
    validation_subject_fraction: float = 0.25  # training subjects held out to evaluate the validation fold
    unseen_text_control: str = "none"  # none | permute: shuffle which unseen class gets which text (a control)


@dataclass
class RunConfig:
    """Everything that determines a run's numbers."""

    method: str = "devise"
    dataset: str = "ntu60"
    split: str = "synse:55/5"
    seed: int = 0
    protocol: str = "strict"  # strict | paper
    partition: str | None = None  # None: the dataset's default (xsub)
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    text: TextConfig = field(default_factory=TextConfig)
    evaluation: EvalConfig = field(default_factory=EvalConfig)
    method_params: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def canonical_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    def hash(self) -> str:
        return hashlib.sha256(self.canonical_json().encode()).hexdigest()[:16]


def _coerce(value: Any, annotation: Any, where: str) -> Any:
    """Convert a YAML or ``--set`` value to a field's declared type, or raise a UsageError."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(annotation) if a is not type(None)]
        if value is None or (isinstance(value, str) and value.lower() in ("none", "null")):
            return None
        return _coerce(value, options[0], where)
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise UsageError(f"{where}: expected a list, got {value!r}")
        return tuple(_coerce(item, typing.get_args(annotation)[0], where) for item in value)
    if annotation is bool:
        if isinstance(value, str):
            if value.lower() in ("true", "1", "yes"):
                return True
            if value.lower() in ("false", "0", "no"):
                return False
            raise UsageError(f"{where}: expected true or false, got {value!r}")
        return bool(value)
    if annotation in (int, float, str):
        try:
            if annotation is int and isinstance(value, float) and not value.is_integer():
                raise ValueError
            return annotation(value)
        except (TypeError, ValueError) as error:
            raise UsageError(f"{where}: expected {annotation.__name__}, got {value!r}") from error
    return value


def _merge(target: Any, values: dict[str, Any], where: str) -> None:
    hints = typing.get_type_hints(type(target))
    names = {f.name for f in dataclasses.fields(target)}
    for key, value in values.items():
        if key not in names:
            raise UsageError(f"{where}: unknown field {key!r}; valid fields: {', '.join(sorted(names))}")
        current = getattr(target, key)
        if dataclasses.is_dataclass(current):
            if not isinstance(value, dict):
                raise UsageError(f"{where}.{key}: expected a mapping of fields")
            _merge(current, value, f"{where}.{key}")
        elif key == "method_params":
            if not isinstance(value, dict):
                raise UsageError(f"{where}.{key}: expected a mapping")
            current.update(value)
        else:
            setattr(target, key, _coerce(value, hints[key], f"{where}.{key}"))


def load_yaml(path: Path) -> dict[str, Any]:
    try:
        content = yaml.safe_load(path.read_text()) or {}
    except OSError as error:
        raise UsageError(f"{path}: cannot read config ({error.strerror})") from error
    except yaml.YAMLError as error:
        raise UsageError(f"{path}: invalid YAML ({error})") from error
    if not isinstance(content, dict):
        raise UsageError(f"{path}: expected a mapping of config fields at the top level")
    return content


def parse_assignments(assignments: list[str]) -> dict[str, Any]:
    """``["encoder.epochs=5", "method_params.lr=0.01"]`` -> nested dict (values parsed as YAML scalars)."""
    nested: dict[str, Any] = {}
    for item in assignments:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise UsageError(f"--set expects KEY=VALUE, got {item!r}")
        node = nested
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = yaml.safe_load(raw)
    return nested


def build_config(
    yaml_file: Path | None = None, assignments: list[str] | None = None, flags: dict[str, Any] | None = None
) -> RunConfig:
    """Apply the layers in precedence order. Flags that are ``None`` were not given."""
    config = RunConfig()
    if yaml_file is not None:
        _merge(config, load_yaml(yaml_file), str(yaml_file))
    if assignments:
        _merge(config, parse_assignments(assignments), "--set")
    given = {k: v for k, v in (flags or {}).items() if v is not None}
    _merge(config, given, "command line")
    if config.protocol not in PROTOCOLS:
        raise UsageError(f"unknown protocol {config.protocol!r}; valid: {', '.join(PROTOCOLS)}")
    if config.evaluation.unseen_text_control not in TEXT_CONTROLS:
        raise UsageError(
            f"unknown unseen_text_control {config.evaluation.unseen_text_control!r}; valid: {', '.join(TEXT_CONTROLS)}"
        )
    if config.encoder.selection not in SELECTIONS:
        raise UsageError(f"unknown encoder.selection {config.encoder.selection!r}; valid: {', '.join(SELECTIONS)}")
    if config.evaluation.calibration not in CALIBRATIONS:
        raise UsageError(f"unknown calibration {config.evaluation.calibration!r}; valid: {', '.join(CALIBRATIONS)}")
    return config


def params_from_dict(params_type: type[Any], values: dict[str, Any], where: str) -> Any:
    """Instantiate a method's parameter dataclass from a dict, checking names and types."""
    instance = params_type()
    _merge(instance, values, where)
    return instance
