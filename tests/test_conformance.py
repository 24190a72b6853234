"""The method contract, checked on every registered method (built-ins, new modules and installed plugins).

Each check runs on a tiny toy problem (6 classes, 4 seen; random class-structured pooled features, token maps
or raw skeletons, whichever the method reads) at a short training budget, so the file stays fast.

A method that legitimately cannot satisfy a check is listed in EXCEPTIONS with the reason: the check is then
expected to fail (strict xfail), and a listed method that starts passing fails the suite until its line goes.
"""

from __future__ import annotations

import dataclasses
import io
import math
import types
import typing
from typing import Any

import numpy as np
import pytest
import torch

from zsbench.catalog import METHODS
from zsbench.config import Range, RunConfig
from zsbench.errors import UsageError
from zsbench.methods.base import FeatureSet, Method, MethodParams
from zsbench.pipeline.resolve import resolve_run
from zsbench.text.bank import TextBank

# (method, check) -> why the method does not satisfy it. Checks: "columns", "deterministic", "label_blind",
# "per_sample", "test_time_params", "round_trip", and "resolve:<field>" (a bad value of that field is caught
# only later, not when the run is resolved). "fixable:" marks a gap in the method, not a property of it:
# fix the method, then delete the line.
EXCEPTIONS: dict[tuple[str, str], str] = {
    ("dynapurls", "per_sample"): (
        "test-time refinement fits the unseen text to pseudo-labels of the unlabelled evaluation stream (released), "
        "so a sample's score depends on the others; the class does not declare transductive"
    ),
}
CHECKS = ("columns", "deterministic", "label_blind", "per_sample", "test_time_params", "round_trip")

# Short budgets per method (on top of the automatic shortening of every `*epochs` field, see fast_params).
FAST: dict[str, dict[str, Any]] = {
    "pgfa": {"encoder": "tcn", "encoder_hidden": 16, "encoder_dim": 16, "batch_size": 16},
    "dynapurls": {"hidden": 32, "key_dim": 8, "batch_size": 16, "refine_preset": "released"},
    "cada_vae": {"cycles": 1, "classifier_samples": 20, "classifier_steps": 10},
    "synse": {"cycles": 1, "classifier_samples": 20, "classifier_steps": 10},
    "sadvae": {"classifier_samples": 20, "classifier_steps": 10},
    "star": {"epochs": 2, "prompts": 10},
}
# A valid other value for string-valued test-time parameters (numbers and booleans are derived).
ALTERNATIVES: dict[tuple[str, str], Any] = {
    ("dynapurls", "refine_classes"): "all",
    ("dynapurls", "refine_mode"): "offline",
    ("dynapurls", "refine_loss_queries"): "candidates",
    ("dynapurls", "refine_preset"): "function_defaults",
    ("neuron", "score_branch"): "spatial",
}

SEEN, NOVEL = (0, 1, 2, 3), (4, 5)
CLASSES = SEEN + NOVEL
PER_CLASS_TRAIN, PER_CLASS_EVAL, WIDTH, TEXT_DIM, JOINTS, FRAMES = 8, 4, 16, 12, 25, 16


def method_names() -> list[str]:
    return METHODS.names()


def expected_to_fail(check: str) -> list[Any]:
    """The registered methods as parameters; those EXCEPTIONS lists for ``check`` marked strict xfail."""
    return [
        pytest.param(
            name, marks=pytest.mark.xfail(strict=True, raises=AssertionError, reason=EXCEPTIONS[(name, check)])
        )
        if (name, check) in EXCEPTIONS
        else name
        for name in method_names()
    ]


@dataclasses.dataclass
class Toy:
    train: FeatureSet  # seen classes only, labelled
    evaluation: FeatureSet  # every class, unlabelled
    eval_labels: torch.Tensor
    text: TextBank  # every class


def toy_problem(method_type: type[Method]) -> Toy:
    generator = torch.Generator().manual_seed(0)
    train_labels = torch.tensor(SEEN).repeat_interleave(PER_CLASS_TRAIN)
    eval_labels = torch.tensor(CLASSES).repeat_interleave(PER_CLASS_EVAL)
    labels = torch.cat([train_labels, eval_labels])
    centres = torch.randn(len(CLASSES), WIDTH, generator=generator)
    segments = method_type.map_segments or 1
    maps = 0.5 * torch.randn(len(labels), WIDTH, segments, JOINTS, generator=generator)
    maps += centres[labels][:, :, None, None]
    pooled = maps.mean(dim=(2, 3))
    skeletons: np.ndarray | None = None
    if "skeletons" in method_type.requires:
        motion = torch.randn(len(CLASSES), 3, 1, JOINTS, 1, generator=generator)
        clips = motion[labels] * torch.linspace(0, 1, FRAMES)[None, None, :, None, None]
        skeletons = (clips + 0.1 * torch.randn(len(labels), 3, FRAMES, JOINTS, 2, generator=generator)).numpy()
    rows = np.arange(len(labels))
    everything = FeatureSet(pooled, labels, skeletons, rows, maps if method_type.map_segments else None)
    slots = method_type.text_slots
    embeddings = torch.nn.functional.normalize(
        torch.randn(len(CLASSES), len(slots), TEXT_DIM, generator=generator), dim=-1
    )
    train_rows = np.arange(len(train_labels))
    evaluation = everything.subset(np.arange(len(train_labels), len(labels)))
    return Toy(
        everything.subset(train_rows), dataclasses.replace(evaluation, labels=None), eval_labels,
        TextBank(CLASSES, slots, embeddings, "toy"),
    )  # fmt: skip


def fast_params(name: str, method_type: type[Method], **overrides: Any) -> MethodParams:
    """The method's params at a short budget: every `*epochs` field at most 2 (warm-ups 1), then FAST, overrides."""
    params = method_type.params_type()
    short: dict[str, Any] = {}
    for item in dataclasses.fields(params):
        value = getattr(params, item.name)
        if item.name.endswith("epochs") and isinstance(value, int) and not isinstance(value, bool):
            short[item.name] = min(value, 1 if "warmup" in item.name else 2)
    return dataclasses.replace(params, **{**short, **FAST.get(name, {}), **overrides})


def build(name: str, **overrides: Any) -> Method:
    method_type: type[Method] = METHODS.get(name)
    return method_type(fast_params(name, method_type, **overrides), "strict", seed=0)


_FITTED: dict[str, tuple[Method, Toy, torch.Tensor]] = {}


def fitted(name: str) -> tuple[Method, Toy, torch.Tensor]:
    """One fit per method for the checks that only read it: (method, toy problem, its scores on every class)."""
    if name not in _FITTED:
        method = build(name)
        toy = toy_problem(type(method))
        method.fit(toy.train, toy.text.select(SEEN))
        _FITTED[name] = (method, toy, method.scores(toy.evaluation, toy.text))
    return _FITTED[name]


def tensors(state: Any, prefix: str = "") -> dict[str, Any]:
    """The tensors and arrays of a (nested) fitted state by path; logs and other values are left out."""
    if isinstance(state, torch.Tensor | np.ndarray):
        return {prefix: state}
    if isinstance(state, dict):
        return {path: value for key in sorted(state) for path, value in tensors(state[key], f"{prefix}/{key}").items()}
    if isinstance(state, list | tuple):
        return {path: value for i, item in enumerate(state) for path, value in tensors(item, f"{prefix}/{i}").items()}
    return {}


def same_state(first: Any, second: Any) -> bool:
    left, right = tensors(first), tensors(second)
    return left.keys() == right.keys() and all(
        torch.equal(torch.as_tensor(left[key]), torch.as_tensor(right[key])) for key in left
    )


@pytest.mark.parametrize("name", expected_to_fail("columns"))
def test_scores_have_one_finite_column_per_class_in_text_order(name: str) -> None:
    method, toy, scores = fitted(name)
    assert tuple(scores.shape) == (len(toy.evaluation), len(CLASSES))
    assert torch.isfinite(scores).all()
    order = (5, 2, 0, 4, 1, 3)
    permuted = method.scores(toy.evaluation, toy.text.select(order))
    assert torch.allclose(permuted, scores[:, list(order)], atol=1e-5), "columns must follow text.labels"
    novel_only = method.scores(toy.evaluation, toy.text.select(NOVEL))
    assert tuple(novel_only.shape) == (len(toy.evaluation), len(NOVEL)) and torch.isfinite(novel_only).all()


@pytest.mark.parametrize("name", expected_to_fail("deterministic"))
def test_one_seed_gives_the_same_scores_and_scoring_changes_nothing(name: str) -> None:
    _, toy, scores = fitted(name)
    again = build(name)
    again.fit(toy.train, toy.text.select(SEEN))
    assert torch.equal(again.scores(toy.evaluation, toy.text), scores), "two fits with one seed differ"
    assert torch.equal(again.scores(toy.evaluation, toy.text), scores), "scoring twice differs"


@pytest.mark.parametrize("name", expected_to_fail("label_blind"))
def test_strict_scores_never_read_evaluation_labels(name: str) -> None:
    """Fit saw seen-class labels and the seen classes' text only (the toy's train set and a seen-class bank);
    scoring under strict gives the same numbers whether the evaluation set carries its labels or not."""
    method, toy, scores = fitted(name)
    assert toy.train.labels is not None and set(toy.train.labels.tolist()) == set(SEEN)
    labelled = dataclasses.replace(toy.evaluation, labels=toy.eval_labels)
    assert torch.equal(method.scores(labelled, toy.text), scores)
    shuffled = dataclasses.replace(toy.evaluation, labels=toy.eval_labels[torch.randperm(len(toy.eval_labels))])
    assert torch.equal(method.scores(shuffled, toy.text), scores)


@pytest.mark.parametrize("name", expected_to_fail("per_sample"))
def test_an_inductive_method_scores_each_sample_on_its_own(name: str) -> None:
    """A method that does not declare ``transductive`` must not let one evaluation sample move another's score."""
    method, toy, scores = fitted(name)
    if method.transductive:
        pytest.skip("declared transductive: it may use the whole unlabelled evaluation set")
    rows = np.arange(0, len(toy.evaluation), 3)
    assert torch.allclose(method.scores(toy.evaluation.subset(rows), toy.text), scores[rows], atol=1e-5)


def alternative(name: str, params: MethodParams, field: str) -> Any:
    """Another valid value of a test-time parameter: ALTERNATIVES, a flipped bool, one of the method's own
    validation candidates, or a number inside the field's range."""
    value = getattr(params, field)
    if (name, field) in ALTERNATIVES:
        return ALTERNATIVES[(name, field)]
    if isinstance(value, bool):
        return not value
    for candidate in METHODS.get(name).test_time_candidates(params, frozenset()):
        if field in candidate and candidate[field] != value:
            return candidate[field]
    members = members_of(typing.get_type_hints(type(params))[field])
    if int in members or float in members:
        item = next(f for f in dataclasses.fields(params) if f.name == field)
        bounds: Range = item.metadata.get("range", Range())
        low = bounds.low if bounds.low is not None else 0.0
        high = bounds.high if bounds.high is not None else max(2 * (value or 0), low) + 2
        for guess in ((low + high) / 2, (3 * low + high) / 4):
            number = round(guess) if int in members else float(guess)
            if number != value and bounds.contains(number):
                return number
    pytest.fail(f"{name}.{field}: add a valid other value to ALTERNATIVES in this file")


def members_of(hint: Any) -> tuple[Any, ...]:
    """The types a field holds: int for ``int | None``, ``tuple[int, ...]`` and ``int``."""
    if typing.get_origin(hint) in (tuple, typing.Union, types.UnionType):
        return typing.get_args(hint)
    return (hint,)


@pytest.mark.parametrize("name", expected_to_fail("test_time_params"))
def test_test_time_params_leave_the_fit_unchanged(name: str) -> None:
    method, toy, _ = fitted(name)
    if not method.test_time_params:
        pytest.skip("declares no test-time params")
    state = method.fitted_state()
    assert state is not None, "declares test-time params, so the runner's fit cache needs fitted_state()"
    for field in sorted(method.test_time_params):
        other = build(name, **{field: alternative(name, method.params, field)})
        other.fit(toy.train, toy.text.select(SEEN))
        assert same_state(other.fitted_state(), state), f"changing {field} changed what fit() learned"


@pytest.mark.parametrize("name", expected_to_fail("round_trip"))
def test_fitted_state_round_trips_to_the_same_scores(name: str) -> None:
    method, toy, scores = fitted(name)
    state = method.fitted_state()
    if state is None:
        assert not method.test_time_params
        pytest.skip("no fit cache: fitted_state() is None (allowed without test-time params)")
    buffer = io.BytesIO()
    torch.save(state, buffer)  # as the runner's fit cache stores it
    buffer.seek(0)
    restored = build(name)
    restored.load_fitted_state(torch.load(buffer, weights_only=False), toy.train, toy.text.select(SEEN))
    assert torch.allclose(restored.scores(toy.evaluation, toy.text), scores, atol=1e-6)


def bad_values(params_type: type[MethodParams]) -> dict[str, Any]:
    """Per field, a value the run must refuse: out of a declared range, or an unknown string."""
    hints = typing.get_type_hints(params_type)
    values: dict[str, Any] = {}
    for item in dataclasses.fields(params_type):
        hint = hints[item.name]
        members = members_of(hint)
        bounds: Range | None = item.metadata.get("range")
        if bounds is not None and (bounds.low is not None or bounds.high is not None):
            if bounds.low is not None:
                bad = bounds.low if not bounds.low_inclusive else bounds.low - 1
            else:
                assert bounds.high is not None
                bad = bounds.high if not bounds.high_inclusive else bounds.high + 1
            bad = math.floor(bad) if int in members else float(bad)
            values[item.name] = [bad] if typing.get_origin(hint) is tuple else bad
        elif str in members:
            values[item.name] = "clusters"
    return values


@pytest.mark.parametrize("name", method_names())
def test_bad_params_fail_when_the_run_is_resolved(name: str, empty_home: Any) -> None:
    """Before any encoder or method trains: an unknown param, a value out of its range, an unknown choice."""
    method_type: type[Method] = METHODS.get(name)

    def refused(values: dict[str, Any]) -> bool:
        try:
            resolve_run(RunConfig(method=name, dataset="ntu60-synth", method_params=values))
        except UsageError:
            return True
        return False

    assert refused({"no_such_param": 1})
    assert not refused({}), "the defaults must resolve"
    accepted = sorted(f for f, bad in bad_values(method_type.params_type).items() if not refused({f: bad}))
    listed = sorted(check.split(":", 1)[1] for method, check in EXCEPTIONS if method == name and ":" in check)
    assert accepted == listed, f"resolved despite a bad value (field: value {bad_values(method_type.params_type)})"


def test_every_exception_names_a_registered_method_and_a_check() -> None:
    for method, check in EXCEPTIONS:
        assert method in METHODS, f"EXCEPTIONS names {method!r}, which is not registered"
        field = check.removeprefix("resolve:")
        if check.startswith("resolve:"):
            assert field in {f.name for f in dataclasses.fields(METHODS.get(method).params_type)}, check
        else:
            assert check in CHECKS, check
