"""The typed run configuration: defaults < YAML file (``--config``) < ``--set`` < explicit CLI flags.

A resolved config (split name canonical, partition and method parameters filled in) has a canonical
JSON form and a stable hash that names the run's record.

Every number is checked: a float must be finite, and a field may declare a range through its metadata
(``epochs: int = bounded(30, ge=1)``); :func:`build_config` and :func:`params_from_dict` check them
all, so a bad value is a UsageError naming the field before anything is computed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml

from zsbench.errors import UsageError

PROTOCOLS = ("strict", "paper")
CALIBRATIONS = ("stacking", "gating")
TEXT_CONTROLS = ("none", "permute")
SELECTIONS = ("fixed", "holdout")
VALIDATION_UNSEEN_SOURCES = ("all_training_subjects", "held_out_subjects")
T = TypeVar("T")


@dataclass(frozen=True)
class Range:
    """The values a numeric field accepts: ``low`` and ``high`` (None: unbounded), each inclusive or not."""

    low: float | None = None
    high: float | None = None
    low_inclusive: bool = True
    high_inclusive: bool = True

    def contains(self, value: float) -> bool:
        if self.low is not None and (value < self.low or (value == self.low and not self.low_inclusive)):
            return False
        return not (self.high is not None and (value > self.high or (value == self.high and not self.high_inclusive)))

    def describe(self) -> str:
        if self.high is None:
            return f"{'>=' if self.low_inclusive else '>'} {self.low:g}" if self.low is not None else "any number"
        if self.low is None:
            return f"{'<=' if self.high_inclusive else '<'} {self.high:g}"
        left, right = "[" if self.low_inclusive else "(", "]" if self.high_inclusive else ")"
        return f"in {left}{self.low:g}, {self.high:g}{right}"


def bounded(
    default: T, *, ge: float | None = None, gt: float | None = None, le: float | None = None, lt: float | None = None
) -> T:
    """A dataclass field with a default and a range: ``epochs: int = bounded(30, ge=1)``.

    ``ge`` / ``le`` are inclusive bounds, ``gt`` / ``lt`` exclusive ones.
    """
    bounds = Range(gt if gt is not None else ge, lt if lt is not None else le, gt is None, lt is None)
    return field(default=default, metadata={"range": bounds})


def check_ranges(instance: Any, where: str) -> None:
    """Raise a UsageError naming the field (``where.name``) for a non-finite float or a value out of its range.

    Nested dataclasses are checked too; tuples are checked item by item; None ("not given") always passes.
    """
    for item in dataclasses.fields(instance):
        value = getattr(instance, item.name)
        name = f"{where}.{item.name}" if where else item.name
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            check_ranges(value, name)
            continue
        bounds: Range | None = item.metadata.get("range")
        for member in value if isinstance(value, tuple) else (value,):
            if isinstance(member, bool) or not isinstance(member, int | float):
                continue
            if isinstance(member, float) and not math.isfinite(member):
                raise UsageError(f"{name} is {member!r}, expected a finite number")
            if bounds is not None and not bounds.contains(member):
                raise UsageError(f"{name} is {member!r}, expected a value {bounds.describe()}")


@dataclass
class EncoderConfig:
    """The skeleton encoder pretrained for each split on its seen classes only."""

    # None: the dataset's backbone for the split setting (jointmix on synthetic sets), shared by every method
    name: str | None = None
    dim: int = bounded(256, ge=1)  # pooled feature width
    # width knob: 128 = the encoder's reference widths (tcn: 128 channels; stgcn: SMIE 16..64)
    hidden: int = bounded(128, ge=1)
    epochs: int = bounded(30, ge=1)  # fixed budget (strict protocol: no selection on test data)
    batch_size: int = bounded(64, ge=1)
    lr: float = bounded(1e-3, gt=0)
    weight_decay: float = bounded(1e-4, ge=0)
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
    # training subjects held out to evaluate the validation fold
    validation_subject_fraction: float = bounded(0.25, gt=0, lt=1)
    unseen_text_control: str = "none"  # none | permute: shuffle which unseen class gets which text (a control)
    # Where the validation fold's pseudo-unseen samples come from (ours): every training subject (the validation
    # encoder and method never train on those classes, so all their samples are novel to it; ~4x more samples
    # to calibrate on) or only the held-out subjects, like the pseudo-seen ones (a closer mirror of the test fold).
    validation_unseen_from: str = "all_training_subjects"


@dataclass
class RunConfig:
    """Everything that determines a run's numbers."""

    method: str = "devise"
    dataset: str = "ntu60"
    split: str = "synse:55/5"
    seed: int = bounded(0, ge=0)
    protocol: str = "strict"  # strict | paper (every quirk the method declares, see zsbench.quirks)
    quirks: tuple[str, ...] = ()  # quirks turned on besides the protocol's (--quirk)
    no_quirks: tuple[str, ...] = ()  # quirks turned off (--no-quirk)
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
    if config.evaluation.validation_unseen_from not in VALIDATION_UNSEEN_SOURCES:
        raise UsageError(
            f"unknown evaluation.validation_unseen_from {config.evaluation.validation_unseen_from!r}; "
            f"valid: {', '.join(VALIDATION_UNSEEN_SOURCES)}"
        )
    if config.evaluation.calibration not in CALIBRATIONS:
        raise UsageError(f"unknown calibration {config.evaluation.calibration!r}; valid: {', '.join(CALIBRATIONS)}")
    check_ranges(config, "")
    return config


def params_from_dict(params_type: type[Any], values: dict[str, Any], where: str) -> Any:
    """Instantiate a method's parameter dataclass from a dict, checking names and types."""
    instance = params_type()
    _merge(instance, values, where)
    check_ranges(instance, where)
    return instance
