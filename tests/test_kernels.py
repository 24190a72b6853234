"""The refinement kernels against their plain references, plus the invariances each op promises."""

from __future__ import annotations

import os

# The Triton kernel runs on the CPU under the interpreter, which triton reads when it is first imported.
os.environ.setdefault("TRITON_INTERPRET", "1")

import json
import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from zsbench.errors import DataError, UsageError
from zsbench.kernels import MemoryBank, RefineConfig, backend, fused_scores, prototypes, refine_text, stream_order
from zsbench.kernels.reference import (
    ReferenceMemoryBank,
    reference_fused_scores,
    reference_prototypes,
    reference_refine_text,
)

FAST = settings(max_examples=40, deadline=None)
TIED_CONFIDENCES = (0.1, 0.2, 0.3, 0.5, 0.9)  # few values: exact ties are common, and some equal τ


def entries(bank: MemoryBank) -> list[tuple[int, int, float]]:
    return list(zip(bank.labels.tolist(), bank.sample_ids.tolist(), bank.confidences.tolist(), strict=True))


def reference_entries(bank: ReferenceMemoryBank) -> list[tuple[int, int, float]]:
    return [(label, entry.sample_id, entry.confidence) for label, entry in bank.entries()]


# --- fused_scores ---------------------------------------------------------------------------------------------


@FAST
@given(
    n=st.integers(1, 9),
    c=st.integers(1, 6),
    s=st.integers(1, 3),
    d=st.integers(1, 7),
    temperature=st.floats(0.05, 5.0),
    seed=st.integers(0, 2**16),
    two_d=st.booleans(),
)
def test_fused_scores_match_reference(
    n: int, c: int, s: int, d: int, temperature: float, seed: int, two_d: bool
) -> None:
    generator = torch.Generator().manual_seed(seed)
    features = torch.randn(n, d, generator=generator, dtype=torch.float64) * 3
    text = torch.randn(c, d, generator=generator, dtype=torch.float64)
    if not two_d:
        text = torch.randn(c, s, d, generator=generator, dtype=torch.float64)
    ours = fused_scores(features, text, temperature)
    expected = reference_fused_scores(features, text, temperature)
    for name in ("logits", "probs", "confidence", "entropy"):
        torch.testing.assert_close(getattr(ours, name), expected[name], rtol=1e-9, atol=1e-9)
    assert torch.equal(ours.prediction, expected["prediction"])


def test_fused_scores_take_the_first_class_among_tied_maxima() -> None:
    text = torch.tensor([[0.0, 1.0], [1.0, 0.0], [1.0, 0.0]])
    stats = fused_scores(torch.tensor([[1.0, 0.0], [0.5, 0.5]]), text)
    assert stats.prediction.tolist() == [1, 0]
    assert stats.probs.sum(dim=1).allclose(torch.ones(2))


def test_fused_scores_reject_bad_shapes() -> None:
    with pytest.raises(DataError):
        fused_scores(torch.zeros(3, 4), torch.zeros(2, 5))
    with pytest.raises(UsageError):
        fused_scores(torch.zeros(3, 4), torch.zeros(2, 4), temperature=0.0)


def test_backend_picks_triton_only_on_cuda_with_triton(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    assert backend("cpu") == "torch"
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: object() if name == "triton" else None)
    assert backend("cuda") == "triton" and backend("cpu") == "torch"
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    assert backend("cuda") == "torch"


@pytest.mark.parametrize(
    ("n", "c", "s", "d"),
    [(1, 1, 1, 1), (70, 24, 8, 100), (33, 70, 2, 16), (5, 3, 1, 65)],
)
def test_triton_kernel_matches_torch(n: int, c: int, s: int, d: int) -> None:
    pytest.importorskip("triton")
    if os.environ.get("TRITON_INTERPRET") != "1":
        pytest.skip("the Triton kernel runs on the CPU only under TRITON_INTERPRET=1")
    generator = torch.Generator().manual_seed(n * 1000 + c)
    features = torch.randn(n, d, generator=generator)
    text = torch.randn(c, s, d, generator=generator) * 2
    expected = fused_scores(features, text, 0.5, implementation="torch")
    ours = fused_scores(features, text, 0.5, implementation="triton")
    for name in ("logits", "probs", "confidence", "entropy"):
        torch.testing.assert_close(getattr(ours, name), getattr(expected, name), rtol=1e-4, atol=1e-4)
    assert torch.equal(ours.prediction, expected.prediction)


# --- memory bank ----------------------------------------------------------------------------------------------


batches = st.lists(
    st.lists(st.tuples(st.integers(0, 3), st.sampled_from(TIED_CONFIDENCES)), min_size=0, max_size=9),
    min_size=1,
    max_size=8,
)


@FAST
@given(stream=batches, capacity=st.integers(1, 4), allow_duplicates=st.booleans(), seed=st.integers(0, 2**16))
def test_bank_matches_sample_by_sample_reference(
    stream: list[list[tuple[int, float]]], capacity: int, allow_duplicates: bool, seed: int
) -> None:
    generator = torch.Generator().manual_seed(seed)
    bank = MemoryBank(4, capacity, 0.2, gradient_dim=3, allow_duplicates=allow_duplicates)
    reference = ReferenceMemoryBank(4, capacity, 0.2, allow_duplicates=allow_duplicates)
    for number, batch in enumerate(stream):
        labels = torch.tensor([label for label, _ in batch], dtype=torch.int64)
        confidences = torch.tensor([confidence for _, confidence in batch], dtype=torch.float64)
        # Without duplicates, ids repeat across batches (a sample re-offered at the next step).
        ids = torch.arange(len(batch)) + (0 if not allow_duplicates else 100 * number)
        gradients = torch.randn(len(batch), 3, generator=generator, dtype=torch.float64)
        bank.insert(labels, confidences, ids, gradients)
        reference.insert(labels, confidences, ids, gradients)
        assert entries(bank) == reference_entries(reference)
    assert len(bank) == len(reference) <= 4 * capacity
    if len(bank):
        torch.testing.assert_close(bank.gradient(), reference.gradient().float())


def test_bank_tie_rules() -> None:
    """Strictly more confident replaces; among tied lowest entries the newest goes (released: the first listed)."""
    ids = torch.arange(4)
    labels = torch.zeros(4, dtype=torch.int64)
    confidences = torch.tensor([0.5, 0.5, 0.5, 0.7])
    bank = MemoryBank(1, 2, 0.1)
    bank.insert(labels, confidences, ids)
    assert bank.sample_ids.tolist() == [3, 0]  # 2 tied the lowest and was refused; 3 evicted the newer of 0 and 1
    released = ReferenceMemoryBank(1, 2, 0.1, evict="first_listed")
    released.insert(labels, confidences, ids)
    assert sorted(entry.sample_id for _, entry in released.entries()) == [1, 3]  # argmin evicted the first listed


@FAST
@given(
    confidences=st.lists(st.floats(0.0, 1.0, allow_nan=False, width=32), min_size=1, max_size=40, unique=True),
    seed=st.integers(0, 2**16),
)
def test_bank_tie_rules_agree_without_exact_ties(confidences: list[float], seed: int) -> None:
    generator = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 3, (len(confidences),), generator=generator)
    values = torch.tensor(confidences, dtype=torch.float32)
    ids = torch.arange(len(confidences))
    bank = MemoryBank(3, 2, 0.1)
    released = ReferenceMemoryBank(3, 2, 0.1, evict="first_listed")
    for rows in torch.arange(len(confidences)).split(5):
        bank.insert(labels[rows], values[rows], ids[rows])
        released.insert(labels[rows], values[rows], ids[rows])
    assert entries(bank) == reference_entries(released)


@FAST
@given(
    pairs=st.lists(st.tuples(st.integers(0, 2), st.sampled_from(TIED_CONFIDENCES)), min_size=0, max_size=30),
    capacity=st.integers(1, 5),
    batch_size=st.integers(1, 8),
    seed=st.integers(0, 2**16),
)
def test_offline_bank_is_order_and_batch_invariant(
    pairs: list[tuple[int, float]], capacity: int, batch_size: int, seed: int
) -> None:
    labels = torch.tensor([label for label, _ in pairs], dtype=torch.int64)
    confidences = torch.tensor([confidence for _, confidence in pairs])
    ids = torch.arange(len(pairs)) * 3 + 7
    bank = MemoryBank.from_all(labels, confidences, ids, capacity, 0.2, num_classes=3)
    expected = ReferenceMemoryBank.from_all(labels, confidences, ids, capacity, 0.2, 3)
    assert entries(bank) == reference_entries(expected)
    perm = torch.randperm(len(pairs), generator=torch.Generator().manual_seed(seed))
    shuffled = MemoryBank.from_all(labels[perm], confidences[perm], ids[perm], capacity, 0.2, num_classes=3)
    assert entries(shuffled) == entries(bank)
    # The stream in ascending id order, in any batch size, builds the same bank.
    streamed = MemoryBank(3, capacity, 0.2)
    for rows in torch.arange(len(pairs)).split(batch_size):
        streamed.insert(labels[rows], confidences[rows], ids[rows])
    assert entries(streamed) == entries(bank)


def test_bank_rejects_misuse() -> None:
    bank = MemoryBank(2, 2, 0.1, gradient_dim=3)
    labels, confidences, ids = torch.tensor([0, 1]), torch.tensor([0.5, 0.6]), torch.tensor([0, 1])
    with pytest.raises(UsageError):
        bank.insert(labels, confidences, ids)  # a stale bank needs gradients
    with pytest.raises(DataError):
        bank.insert(torch.tensor([0, 2]), confidences, ids, torch.zeros(2, 3))
    with pytest.raises(DataError):
        bank.insert(labels, confidences, ids, torch.zeros(2, 4))
    with pytest.raises(UsageError):
        MemoryBank(2, 2, 0.1).gradient()


def test_stale_gradient_equals_autograd_of_the_stored_graph_carrying_losses() -> None:
    """The released code keeps each stored loss with its graph and back-propagates their mean after updates."""
    generator = torch.Generator().manual_seed(0)
    classes, slots, dim = 3, 2, 4
    text = F.normalize(torch.randn(classes, slots, dim, generator=generator, dtype=torch.float64), dim=-1)
    scale = torch.ones_like(text, requires_grad=True)
    shift = torch.zeros_like(text, requires_grad=True)
    optimiser = torch.optim.Adam([scale, shift], lr=0.1)

    def losses(scale: torch.Tensor, shift: torch.Tensor, features: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        classifier = F.normalize(scale[:, -1] * text[:, -1] + shift[:, -1], dim=-1)
        return F.cross_entropy(features @ classifier.T, labels, reduction="none")

    def one_loss(scale: torch.Tensor, shift: torch.Tensor, feature: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        return losses(scale, shift, feature.unsqueeze(0), label.unsqueeze(0))[0]

    per_sample = torch.func.vmap(torch.func.grad(one_loss, argnums=(0, 1)), in_dims=(None, None, 0, 0))
    bank = MemoryBank(classes, 2, 0.0, gradient_dim=2 * text.numel())
    graphs = ReferenceMemoryBank(classes, 2, 0.0)
    for step in range(6):
        features = torch.randn(5, dim, generator=generator, dtype=torch.float64) * 3
        labels = torch.randint(0, classes, (5,), generator=generator)
        confidences = torch.rand(5, generator=generator, dtype=torch.float64)
        grad_scale, grad_shift = per_sample(scale.detach(), shift.detach(), features, labels)
        bank.insert(labels, confidences, torch.arange(5) + 5 * step, torch.cat([grad_scale, grad_shift], 1).flatten(1))
        graphs.insert(labels, confidences, torch.arange(5) + 5 * step, losses=losses(scale, shift, features, labels))
        optimiser.zero_grad()
        stored = torch.stack([entry.loss for _, entry in graphs.entries() if entry.loss is not None])
        stored.mean().backward(retain_graph=True)
        expected = torch.cat([scale.grad.flatten(), shift.grad.flatten()])  # type: ignore[union-attr]
        torch.testing.assert_close(bank.gradient(), expected.float())
        optimiser.step()  # the stored graphs now hold losses at older parameters
    assert len(bank) == 6 and bank.counts().tolist() == [2, 2, 2]


# --- prototypes -----------------------------------------------------------------------------------------------


@FAST
@given(
    n=st.integers(0, 40),
    c=st.integers(1, 5),
    rho=st.one_of(st.sampled_from([0.0, 0.29, 0.4, 0.9, 1.0]), st.floats(0.0, 1.0)),
    seed=st.integers(0, 2**16),
    wide=st.booleans(),
)
def test_prototypes_match_reference(n: int, c: int, rho: float, seed: int, wide: bool) -> None:
    generator = torch.Generator().manual_seed(seed)
    dtype = torch.float64 if wide else torch.float32
    features = torch.randn(n, 4, generator=generator, dtype=dtype)
    entropy = torch.tensor([0.0, -0.0, 0.25, 1.0, 2.0], dtype=dtype)[torch.randint(0, 5, (n,), generator=generator)]
    labels = torch.randint(0, c, (n,), generator=generator)
    text = torch.randn(c, 4, generator=generator, dtype=dtype)
    expected = reference_prototypes(features, entropy, labels, text, rho)
    torch.testing.assert_close(prototypes(features, entropy, labels, text, rho), expected)


def test_prototypes_fall_back_to_text_below_one_sample() -> None:
    features = torch.tensor([[1.0, 0.0], [0.0, 1.0], [2.0, 2.0], [4.0, 0.0], [0.0, 4.0]])
    entropy = torch.tensor([0.5, 0.1, 0.1, 0.3, 0.2])
    labels = torch.tensor([0, 0, 1, 1, 1])
    text = torch.tensor([[9.0, 9.0], [8.0, 8.0]])
    # rho 0.4: class 0 has floor(0.8) = 0 -> its text; class 1 floor(1.2) = 1 -> its lowest entropy sample.
    assert prototypes(features, entropy, labels, text, 0.4).tolist() == [[9.0, 9.0], [2.0, 2.0]]
    # Ties at the cut-off go to the lower index: with all entropies equal each class takes its first sample.
    tied = torch.tensor([0.1, 0.1, 0.1, 0.1, 0.1])
    assert prototypes(features, tied, labels, text, 0.5).tolist() == [[1.0, 0.0], [2.0, 2.0]]
    with pytest.raises(UsageError):
        prototypes(features, entropy, labels, text, 1.5)


@FAST
@given(seed=st.integers(0, 2**16), rho=st.floats(0.0, 1.0))
def test_prototypes_do_not_depend_on_sample_order(seed: int, rho: float) -> None:
    generator = torch.Generator().manual_seed(seed)
    features = torch.randn(30, 3, generator=generator, dtype=torch.float64)
    entropy = torch.rand(30, generator=generator, dtype=torch.float64)  # distinct, so no tie depends on order
    labels = torch.randint(0, 4, (30,), generator=generator)
    text = torch.randn(4, 3, generator=generator, dtype=torch.float64)
    perm = torch.randperm(30, generator=generator)
    torch.testing.assert_close(
        prototypes(features[perm], entropy[perm], labels[perm], text, rho),
        prototypes(features, entropy, labels, text, rho),
    )


# --- refinement -----------------------------------------------------------------------------------------------


def tiny_problem(seed: int = 0, samples: int = 40) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    text = F.normalize(torch.randn(5, 3, 8, generator=generator, dtype=torch.float64), dim=-1)
    labels = torch.randint(0, 5, (samples,), generator=generator)
    features = torch.tanh(2 * text[labels, -1] + torch.randn(samples, 8, generator=generator, dtype=torch.float64))
    return features, text


CONFIGS = {
    "released": RefineConfig(memory=3, threshold=0.25, batch_size=8, lr=0.05),
    "multi-step": RefineConfig(memory=3, threshold=0.25, batch_size=16, lr=0.05, steps=3, global_slot=1),
    "no-duplicates, reset": RefineConfig(
        memory=3, threshold=0.25, batch_size=16, lr=0.05, steps=3, allow_duplicates=False, reset_schedule_per_batch=True
    ),
}


@pytest.mark.parametrize("config", CONFIGS.values(), ids=CONFIGS.keys())
@pytest.mark.parametrize(
    ("mode", "semantics"), [("online", "stale"), ("online", "recompute"), ("offline", "recompute")]
)
def test_refine_matches_reference(config: RefineConfig, mode: str, semantics: str) -> None:
    features, text = tiny_problem()
    ours = refine_text(features, text, config, mode, semantics, seed=5)  # type: ignore[arg-type]
    expected_text, expected_scores = reference_refine_text(
        features,
        text,
        config,
        mode,
        semantics,
        ours.log.permutation,  # type: ignore[arg-type]
    )
    torch.testing.assert_close(ours.text, expected_text, rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(ours.scores, expected_scores, rtol=1e-9, atol=1e-9)
    assert ours.log.learning_rates, "the example must take optimiser steps"
    assert not torch.equal(ours.text, F.normalize(text, dim=-1)), "the example must move the text"


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**16), batch_size=st.integers(1, 300))
def test_offline_refine_is_order_and_batch_size_invariant(seed: int, batch_size: int) -> None:
    features, text = tiny_problem(1, samples=60)
    config = RefineConfig(memory=4, threshold=0.25, lr=0.05, steps=4)
    base = refine_text(features, text, config, "offline", "recompute")
    perm = torch.randperm(60, generator=torch.Generator().manual_seed(seed))
    shuffled = RefineConfig(memory=4, threshold=0.25, lr=0.05, steps=4, batch_size=batch_size)
    result = refine_text(features[perm], text, shuffled, "offline", "recompute", seed=seed, sample_ids=perm)
    assert torch.equal(result.text, base.text)
    assert torch.equal(result.scores, base.scores[perm])


def test_online_refine_logs_its_stream_and_the_released_lr_alternation() -> None:
    features, text = tiny_problem()
    config = RefineConfig(memory=3, threshold=0.25, batch_size=8, lr=0.05)
    result = refine_text(features, text, config, "online", "stale", seed=11)
    assert torch.equal(result.log.permutation, stream_order(40, 11))  # type: ignore[arg-type]
    assert not torch.equal(result.log.permutation, stream_order(40, 12))  # type: ignore[arg-type]
    # steps=1 and a schedule that is never reset: cosine with T_max=1 bounces between lr and 0.1·lr.
    assert [round(lr, 6) for lr in result.log.learning_rates[:4]] == [0.05, 0.005, 0.05, 0.005]
    assert len(result.log.confident) == math.ceil(40 / 8)
    assert result.text.shape == text.shape and result.scores.shape == (40, 5)
    torch.testing.assert_close(result.text.norm(dim=-1), torch.ones(5, 3, dtype=torch.float64))


def test_online_pass_with_fewer_than_two_confident_samples_takes_no_step() -> None:
    # Released loop: `if n_confident < 2: continue` before the bank push *and* the optimiser step.
    features, text = tiny_problem(samples=5)
    config = RefineConfig(memory=8, threshold=0.0, batch_size=2, lr=0.05)  # τ 0: every sample is confident
    result = refine_text(features, text, config, "online", "stale")
    assert result.log.confident == (2, 2, 1)
    # Batches of 2, 2 and a last one of 1: two steps, not three; the bank is not stepped on again.
    assert result.log.bank_sizes == (2, 4)
    assert [round(lr, 6) for lr in result.log.learning_rates] == [0.05, 0.005]
    # A threshold nobody passes: no step at all, the text is only renormalised.
    frozen = refine_text(features, text, RefineConfig(threshold=0.999, batch_size=2), "online", "recompute")
    assert frozen.log.learning_rates == ()
    torch.testing.assert_close(frozen.text, torch.nn.functional.normalize(text, dim=-1))


def test_refine_rejects_bad_options() -> None:
    features, text = tiny_problem()
    with pytest.raises(UsageError):
        refine_text(features, text, RefineConfig(), "offline", "stale")
    with pytest.raises(UsageError):
        refine_text(features, text, RefineConfig(global_slot=3))
    with pytest.raises(UsageError):
        RefineConfig(steps=0)
    with pytest.raises(DataError):
        refine_text(features, text[:, :, :4])


# --- benchmark ------------------------------------------------------------------------------------------------


TINY_BENCH = dict(
    samples=700, classes=5, slots=2, dim=16, batch_size=64, memory=4, score_subset=20, refine_subset=128
)  # fmt: skip


def test_refinement_benchmark_checks_every_op_against_its_reference() -> None:
    from zsbench.bench.refine import RefinementSizes, refinement

    rows = refinement(RefinementSizes(**TINY_BENCH), repeats=1)  # type: ignore[arg-type]
    ops = {row.op for row in rows}
    assert len(ops) >= 5 and {row.implementation for row in rows} >= {"reference", "torch"}
    for row in rows:
        assert row.seconds > 0 and "DIFFER" not in row.check
        if row.implementation != "reference":
            assert "|Δ|" in row.check or "same entries" in row.check


def test_cli_bench_refine_prints_one_json_document(monkeypatch: pytest.MonkeyPatch) -> None:
    from zsbench.bench import refine as bench
    from zsbench.cli.main import app

    tiny, full_size = bench.RefinementSizes(**TINY_BENCH), bench.refinement  # type: ignore[arg-type]
    monkeypatch.setattr(bench, "refinement", lambda: full_size(tiny, 1))
    result = CliRunner().invoke(app, ["bench", "refine", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert {"op", "implementation", "seconds", "speedup", "peak_mib", "check"} <= set(rows[0])


@pytest.mark.parametrize(("mode", "semantics"), [("online", "stale"), ("offline", "recompute")])
def test_frozen_classes_keep_their_text_and_the_others_still_refine(mode: str, semantics: str) -> None:
    features, text = tiny_problem()
    config = CONFIGS["released"]
    frozen = torch.tensor([True, False, True, False, False])
    ours = refine_text(features, text, config, mode, semantics, seed=5, frozen=frozen)  # type: ignore[arg-type]
    assert torch.equal(ours.text[frozen], F.normalize(text, dim=-1)[frozen])
    assert not torch.allclose(ours.text[~frozen], F.normalize(text, dim=-1)[~frozen])
    unfrozen = refine_text(features, text, config, mode, semantics, seed=5, frozen=torch.zeros(5, dtype=torch.bool))  # type: ignore[arg-type]
    plain = refine_text(features, text, config, mode, semantics, seed=5)  # type: ignore[arg-type]
    assert torch.equal(unfrozen.text, plain.text) and torch.equal(unfrozen.scores, plain.scores)
    # Only samples pseudo-labelled as a refined class enter the bank: one refined class holds at most M entries.
    one = refine_text(features, text, config, mode, semantics, seed=5, frozen=torch.arange(5) != 1)  # type: ignore[arg-type]
    assert max(plain.log.bank_sizes) > config.memory >= max(one.log.bank_sizes, default=0)
    with pytest.raises(DataError, match="one flag per class"):
        refine_text(features, text, config, mode, semantics, frozen=torch.zeros(4, dtype=torch.bool))  # type: ignore[arg-type]
