"""The catalogue of `paper` quirks: named switches that reproduce a released code's evaluation choices.

Each quirk is one thing a released code does that the strict protocol does not (a leak of test
information, or a choice that changes numbers). ``--protocol paper`` turns on every quirk a method
declares; ``--quirk NAME`` and ``--no-quirk NAME`` add or remove one, so the cost of each can be measured
alone. Methods receive the active set and test membership, never the protocol name.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from zsbench.errors import UsageError


@dataclass(frozen=True)
class Quirk:
    name: str
    summary: str
    stage: str  # training | model selection | test time | calibration | metric
    reads_test_labels: bool


CATALOGUE: dict[str, Quirk] = {
    q.name: q
    for q in (
        Quirk(
            "gzsl_calibration_on_test", "the GZSL calibration constant is chosen on the test set", "calibration", True
        ),
        Quirk("test_epoch_selection", "the epoch with the best test ZSL accuracy is kept", "model selection", True),
        Quirk(
            "batch_averaged_accuracy",
            "ZSL top-1 is the mean of per-batch accuracies (a short last batch weighs more)",
            "metric",
            False,
        ),
        Quirk(
            "warmup_epoch0_lr0", "PGFA: the linear warm-up trains its first epoch at learning rate 0", "training", False
        ),
        Quirk(
            "sde_train_inference_mismatch",
            "DVTA: in training a pair's text is enhanced by the column's skeleton, not the scored one",
            "training",
            False,
        ),
        Quirk("or_of_branches", "Neuron: a sample counts as right when either branch is right", "metric", True),
        Quirk(
            "ground_truth_query",
            "DynaPURLS: the true class's descriptions pool the test sample (pseudo-labelling and prediction)",
            "test time",
            True,
        ),
        Quirk(
            "train_mode_refinement",
            "DynaPURLS: refinement runs the network in train mode (Dropout on, BatchNorm on test batches)",
            "test time",
            False,
        ),
        Quirk("stale_gradients", "DynaPURLS: bank entries keep the gradient of when they entered", "test time", False),
        Quirk(
            "schedule_never_reset", "DynaPURLS: one cosine schedule across the whole test stream", "test time", False
        ),
        Quirk("duplicate_insertions", "DynaPURLS: a sample re-enters the bank at every step", "test time", False),
        Quirk(
            "test_tuned_refinement_values",
            "DynaPURLS: the released refinement values, chosen on test accuracy, instead of a validation choice",
            "model selection",
            True,
        ),
        Quirk(
            "test_without_layernorm",
            "SMIE: test scores feed the discriminator the features without the LayerNorm used in training",
            "test time",
            False,
        ),
        Quirk(
            "test_driven_schedule",
            "ReViSE/JPoSE: the LR plateau schedule (JPoSE: and the early stop, up to 2000 epochs) steps on test ZSL accuracy",
            "training",
            True,
        ),
        Quirk(
            "triplet_all_pairs",
            "JPoSE: the triplet loss scores every anchor against every sample's mined positive and negative",
            "training",
            False,
        ),
        Quirk(
            "inverted_gate_threshold",
            "CADA-VAE/SynSE: the released synse-zsl gate (validation-trained); its eval applies the threshold mirrored "
            "(seen if 1 - p_unseen > th, chosen for unseen if p_unseen > th); the method scores it on the test labels",
            "calibration",
            True,
        ),
        Quirk(
            "gate_unseen_zsl_from_seen_samples",
            "CADA-VAE/SynSE: the released gate's unseen-side zero-shot features are those of pseudo-seen samples",
            "calibration",
            False,
        ),
        # New methods' quirks: add their Quirk(...) entries directly above this line (keep this line).
    )
}
# Quirks that the pipeline applies (the others act inside a method).
PIPELINE_QUIRKS = frozenset({"gzsl_calibration_on_test", "test_epoch_selection", "batch_averaged_accuracy"})


def active_quirks(
    declared: tuple[str, ...], protocol: str, add: Iterable[str] = (), remove: Iterable[str] = ()
) -> tuple[str, ...]:
    """The quirks a run applies, in the method's declaration order: all of ``declared`` under ``paper``,
    none under ``strict``; then ``add`` turned on and ``remove`` turned off. Unknown names are usage errors."""
    for name in (*add, *remove):
        if name not in declared:
            valid = ", ".join(declared) or "none"
            raise UsageError(f"unknown quirk {name!r} for this method; its quirks: {valid}")
    chosen = (set(declared) if protocol == "paper" else set()) | set(add)
    chosen -= set(remove)
    return tuple(name for name in declared if name in chosen)


def from_protocol(declared: tuple[str, ...], protocol_or_quirks: Iterable[str] | str) -> frozenset[str]:
    """``"strict"`` / ``"paper"`` (a convenience for direct use) or an explicit set of quirk names."""
    if isinstance(protocol_or_quirks, str):
        if protocol_or_quirks not in ("strict", "paper"):
            raise UsageError(f"unknown protocol {protocol_or_quirks!r}; valid: strict, paper")
        return frozenset(declared if protocol_or_quirks == "paper" else ())
    chosen = frozenset(protocol_or_quirks)
    unknown = sorted(chosen - set(declared))
    if unknown:
        raise UsageError(f"unknown quirks {unknown}; this method's: {', '.join(declared) or 'none'}")
    return chosen
